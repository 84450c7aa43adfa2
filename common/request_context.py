"""Request ids for the request pipeline; the acting principal lives in the domain.

The REST auth dependency and the GraphQL context set the principal; the request
pipeline sets the request id. The audit trail and error masking read them.
"""

from __future__ import annotations

import itertools
import os
import re

from models.platform.acting import (
    current_principal,
    current_request_id,
    principal_var,
    request_id_var,
    set_principal,
)

__all__ = [
    "current_principal",
    "current_request_id",
    "new_request_id",
    "principal_var",
    "request_id_var",
    "set_principal",
]

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


# Fresh ids: a random prefix per process and a counter (unique, not secret; a random
# draw per request costs a system call on the hot path).
_PROCESS_PREFIX = os.urandom(8).hex()
_sequence = itertools.count(1)


def _new_process() -> None:
    global _PROCESS_PREFIX, _sequence  # a forked worker takes its own prefix
    _PROCESS_PREFIX = os.urandom(8).hex()
    _sequence = itertools.count(1)


os.register_at_fork(after_in_child=_new_process)


def new_request_id(offered: str | None = None) -> str:
    """The caller's ``X-Request-ID`` if it is short and plain, else a fresh one."""
    if offered and _SAFE_REQUEST_ID.match(offered):
        return offered
    return f"{_PROCESS_PREFIX}{next(_sequence):016x}"
