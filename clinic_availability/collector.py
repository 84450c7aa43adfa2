"""The cyclic garbage collector's view of what the application built at startup.

The application, its schema, routes, mappers and compiled statements live as long as the
process. Left to the collector, every full pass walks them all again: about a quarter of a
million objects, a tenth of a second under load, once every few seconds (a pause every
request in flight waits for). Frozen once the application has started, they are left out
of its passes; what requests allocate is collected as before.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_objects() -> bool:
    """Collect, then freeze what is left; once per process (later applications in the
    same process, as in tests, leave it as it is). Whether this call froze."""
    global _frozen
    if _frozen:
        return False
    gc.collect()
    gc.freeze()
    _frozen = True
    return True
