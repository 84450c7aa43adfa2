"""The README's two commands cannot hurt each other: the tests install into an environment
of their own, never into the one a running ``serve --demo`` uses; CI follows the README."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sh_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)


def _venv_of(command: str, tool: str) -> str:
    found = re.search(rf"(\S+)/bin/{tool}\b", command)
    assert found, (tool, command)
    return found.group(1)


def test_the_tests_install_into_their_own_environment() -> None:
    blocks = _sh_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    [serve] = [block for block in blocks if "/bin/clinic-availability serve --demo" in block]
    [tests] = [block for block in blocks if "/bin/pytest" in block]

    served_from = _venv_of(serve, "clinic-availability")
    tested_in = _venv_of(tests, "pytest")
    assert served_from != tested_in
    # The test command makes and fills its own environment before running pytest.
    assert f"-m venv {tested_in}" in tests
    assert f"{tested_in}/bin/pip install -e '.[test]'" in tests
    assert not re.search(rf"(^|\s){re.escape(served_from)}/", tests)


def test_ci_runs_the_readme_test_command_in_the_same_environment() -> None:
    blocks = _sh_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    [tests] = [block for block in blocks if "/bin/pytest" in block]
    tested_in = _venv_of(tests, "pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(rf"^{re.escape(tested_in)}/bin/pytest\b", ci, re.M)
    assert re.search(rf"-m venv {re.escape(tested_in)}$", ci, re.M)
    assert not re.search(r"^\.venv/bin/", ci, re.M)
