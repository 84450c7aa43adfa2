"""Counting the SQL statements a block of test code causes.

Only statements run in the block's own context (its task, and tasks it starts) count:
the application's background jobs (hold sweeper, event delivery, token last-use flush)
run in tasks started before the block, so a timer that fires inside the window does not
inflate the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event

_counting: ContextVar[tuple[list[str], bool] | None] = ContextVar(
    "counting_statements", default=None
)


def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    window = _counting.get()
    if window is not None and (window[1] or not statement.startswith("BEGIN")):
        window[0].append(statement)


@contextmanager
def counted_statements(*engines: Any, begin: bool = True) -> Iterator[list[str]]:
    """The statements the block runs on ``engines`` (async or sync engines, or an app,
    meaning its engine: the read engine reports its statements there too).
    ``begin=False`` leaves out ``BEGIN``s."""
    targets = [item.state.engine if hasattr(item, "state") else item for item in engines]
    sync_engines = [getattr(engine, "sync_engine", engine) for engine in targets]
    seen: list[str] = []
    token = _counting.set((seen, begin))
    for engine in sync_engines:
        event.listen(engine, "before_cursor_execute", _record)
    try:
        yield seen
    finally:
        for engine in sync_engines:
            event.remove(engine, "before_cursor_execute", _record)
        _counting.reset(token)
