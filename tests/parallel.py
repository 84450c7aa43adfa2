"""Running tests side by side (pytest-xdist): what a test marked ``alone`` waits for.

A test marked ``alone`` (restarting PostgreSQL, say) runs while no other worker of the run
is inside a test that may touch PostgreSQL, and none starts one until it is done. It is a
readers-writer lock on files shared by the run's workers, with a turnstile so that a
waiting ``alone`` test is not starved by the others' stream of tests.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def _flock(path: Path, operation: int) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, operation)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def side_by_side(folder: Path, *, alone: bool) -> Iterator[None]:
    """Held for one test: shared by ordinary tests, exclusive for an ``alone`` one."""
    turnstile, room = folder / "alone.turnstile", folder / "alone.room"
    if alone:
        with _flock(turnstile, fcntl.LOCK_EX), _flock(room, fcntl.LOCK_EX):
            yield
        return
    with _flock(turnstile, fcntl.LOCK_SH):
        pass
    with _flock(room, fcntl.LOCK_SH):
        yield
