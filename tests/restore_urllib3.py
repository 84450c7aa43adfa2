"""Undo urllib3-future's takeover of urllib3 in the test environment.

The CalDAV client's HTTP stack (niquests) brings urllib3-future, whose ``.pth`` file copies
it over urllib3 at every interpreter start; schemathesis (OpenAPI fuzzing) needs urllib3
itself. niquests imports ``urllib3_future`` by that name, so both work once the override
is removed and urllib3 reinstalled: ``python -m tests.restore_urllib3``.
"""

from __future__ import annotations

import pathlib
import site
import subprocess
import sys


def main() -> None:
    removed = False
    for folder in site.getsitepackages():
        hook = pathlib.Path(folder, "urllib3_future.pth")
        if hook.exists():
            hook.unlink()
            removed = True
    if removed:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--force-reinstall",
                "urllib3>=2,<2.9",
            ],
            check=True,
        )


if __name__ == "__main__":
    main()
