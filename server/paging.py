"""Spring Data's `Page` answer, which several seeds share under different schema names
(`PageInteraction` with `PageableObject`/`SortObject`, `Page«CompositionView»` with
`Pageable`/`Sort`): one function fills any of them the same way."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

from agent.api.models.base import WireModel

P = TypeVar("P", bound=WireModel)


def spring_page(
    page_model: type[P],
    pageable_model: type[WireModel],
    sort_model: type[WireModel],
    *,
    content: Sequence[Any],
    number: int,
    size: int,
    total: int,
    is_sorted: bool,
) -> P:
    sort = sort_model(empty=not is_sorted, sorted=is_sorted, unsorted=not is_sorted)
    total_pages = math.ceil(total / size)
    return page_model(
        total_pages=total_pages,
        total_elements=total,
        size=size,
        content=list(content),
        number=number,
        sort=sort,
        number_of_elements=len(content),
        pageable=pageable_model(
            offset=number * size,
            sort=sort,
            page_size=size,
            paged=True,
            page_number=number,
            unpaged=False,
        ),
        first=number == 0,
        last=number >= total_pages - 1,
        empty=not content,
    )
