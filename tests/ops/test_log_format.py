"""Readable log lines on a terminal, JSON lines otherwise; LOG_FORMAT forces either."""

from __future__ import annotations

import io
import json
import logging

import pytest

from clinic_availability.logging import chosen_format, logging_config


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("setting", "stream", "expected"),
    [
        ("auto", Terminal(), "text"),
        ("auto", io.StringIO(), "json"),
        ("json", Terminal(), "json"),
        ("text", io.StringIO(), "text"),
        ("TEXT", io.StringIO(), "text"),
    ],
)
def test_the_format_follows_the_terminal_unless_forced(
    setting: str, stream: io.StringIO, expected: str
) -> None:
    assert chosen_format(setting, stream) == expected


def _logged(log_format: str) -> str:
    """One access-log record, formatted as the configuration for ``log_format`` would."""
    formatter = logging_config("INFO", log_format)["formatters"]["json"]["()"]()
    record = logging.LogRecord(
        "clinic_availability.access", logging.INFO, __file__, 1, "request", None, None
    )
    record.fields = {"method": "GET", "status": 200}
    return str(formatter.format(record))


def test_text_lines_carry_the_same_facts() -> None:
    line = _logged("text")
    assert not line.startswith("{")
    assert "INFO" in line
    assert "clinic_availability.access  request" in line
    assert "method=GET status=200" in line


def test_json_lines_stay_json() -> None:
    entry = json.loads(_logged("json"))
    assert entry["msg"] == "request"
    assert entry["status"] == 200
