"""Process settings: full garbage collections are made rarer in every process that carries
participants (the CLI's `run` and `serve`, workers, Ray actors); young ones are unchanged."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from agent.runtime import (
    EVENT_LOOP_ENV,
    FULL_COLLECTION_EVERY,
    loop_factory,
    run_on_chosen_loop,
    tune_garbage_collection,
)
from tests.child_support import run_python

ROOT = Path(__file__).resolve().parent.parent


def test_full_collections_are_rarer_and_young_ones_unchanged() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # CPython's defaults
        tune_garbage_collection()
        tune_garbage_collection()  # idempotent
        assert gc.get_threshold() == (700, 10, FULL_COLLECTION_EVERY)
    finally:
        gc.set_threshold(*before)


def test_the_cli_process_applies_it() -> None:
    code = (
        "import gc, io, contextlib\n"
        "from agent.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(['schema'])\n"
        "print(code, gc.get_threshold()[2])\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", str(FULL_COLLECTION_EVERY)]


def test_the_event_loop_is_chosen_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EVENT_LOOP_ENV, raising=False)
    assert loop_factory() is None  # asyncio's own

    async def loop_type() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_on_chosen_loop(loop_type()).startswith("asyncio")
    monkeypatch.setenv(EVENT_LOOP_ENV, "tokio")
    with pytest.raises(ValueError, match="choose one of asyncio, uvloop"):
        loop_factory()
    pytest.importorskip("uvloop")
    monkeypatch.setenv(EVENT_LOOP_ENV, "uvloop")
    assert run_on_chosen_loop(loop_type()).startswith("uvloop")
