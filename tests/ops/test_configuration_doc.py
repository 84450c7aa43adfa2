"""The Configuration table of docs/operations.md names every setting with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from common.settings import Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def configuration_rows() -> dict[str, str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| `([^`]*)` \|", section, re.M)
    return dict(rows)


def test_every_setting_is_documented_with_its_default() -> None:
    rows = configuration_rows()
    for name, field in Settings.model_fields.items():
        variable = name.upper()
        assert variable in rows, f"docs/operations.md ## Configuration lacks a row for {variable}"
        if field.default_factory is not None:
            # Computed when read (the database's per-user folder): the row says where.
            assert "clinic_availability.db" in rows[variable], variable
            continue
        default = field.default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        assert rows[variable] == shown, (variable, rows[variable], shown)
    assert set(rows) == {name.upper() for name in Settings.model_fields}
