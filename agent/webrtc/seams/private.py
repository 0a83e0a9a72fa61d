"""The private names the seams rely on, declared once, and accessors that fail loudly.

Every seam module declares what it reaches (`reaches(owner, where, *names)`): the canary test
(`tests/test_seams.py`) checks each declared name on real objects of the installed versions, so
an upgrade that renames one fails there, not as quietly empty figures. Code off the per-packet
path reads through `read`/`write`, which name the seam that broke; the per-packet code reads the
declared names directly (an AttributeError is just as loud, and costs nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["REACHES", "Reach", "SeamBroken", "mangled", "reaches", "read", "write"]

Where = Literal["class", "instance", "module", "source"]
"""`source`: a name the library's module reads without defining it (on objects we hand it)."""


@dataclass(frozen=True)
class Reach:
    """One private name: an attribute of a class, of its instances, a module's global, or a
    name a module's code reads from objects it is given (`source`)."""

    owner: str
    """`package.module.Class`, or `package.module` for a module's global."""
    name: str
    where: Where


REACHES: list[Reach] = []
"""Everything the seam package reaches, in declaration order (the canary's list)."""


class SeamBroken(RuntimeError):
    """A private name a seam needs is gone: the library is not the version it was written for."""


def reaches(owner: str, where: Where, *names: str) -> tuple[str, ...]:
    """Declare the private `names` of `owner` a seam uses; returns them, for use as constants."""
    REACHES.extend(Reach(owner, name, where) for name in names)
    return names


def mangled(cls_name: str, name: str) -> str:
    """The attribute `self.__name` of class `cls_name` becomes (Python's name mangling)."""
    return f"_{cls_name}__{name}"


def _broken(obj: object, name: str) -> SeamBroken:
    kind = type(obj)
    return SeamBroken(
        f"{kind.__module__}.{kind.__qualname__} has no {name!r}: the installed library is not "
        "the version agent.webrtc.seams was written for (see docs/library.md, 'Seams')"
    )


def read(obj: object, name: str) -> Any:
    """`obj.<name>`, or SeamBroken naming the object's class and the missing name."""
    try:
        return getattr(obj, name)
    except AttributeError:
        raise _broken(obj, name) from None


def write(obj: object, name: str, value: Any) -> None:
    """Set `obj.<name>`, which must exist already (a seam never adds state a library lacks)."""
    read(obj, name)
    setattr(obj, name, value)
