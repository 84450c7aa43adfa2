"""The installed package's version (``clinic-availability --version``, the landing page)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version


@cache
def package_version() -> str:
    try:
        return version("clinic-availability")
    except PackageNotFoundError:
        return "unknown"
