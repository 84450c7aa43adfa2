"""Reading request examples out of Markdown, and comparing answers with what a page shows.

An example is a ```sh block holding `curl`, followed by the answer the page shows: a
```json block (any 2xx) or an ```http block (status line, headers, blank line, body).
The shown JSON is compared by shape: the same keys, values of the same type; ids, times
and other values may differ. A shown `"..."` stands for any value, a `"...": "..."` entry
for keys not shown, a shown `null` for any value; every item of an answer's list has the
shape of one of the items shown (and the answer has one at least where items are shown).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FENCE = re.compile(r"^```([\w-]*)\s*\n(.*?)^```\s*$", re.M | re.S)
SKIP_MARK = "<!-- example: not run -->"
ANY = "..."


@dataclass(frozen=True)
class Example:
    source: str
    line: int
    command: str
    status: int | None
    body: Any  # the shown JSON, or None where the page shows no body

    @property
    def name(self) -> str:
        return f"{self.source}:{self.line}"


def examples_in(path: Path, root: Path) -> list[Example]:
    """Every request example of one Markdown file, in page order."""
    text = path.read_text(encoding="utf-8")
    blocks = list(FENCE.finditer(text))
    found: list[Example] = []
    for index, block in enumerate(blocks):
        language, content = block.group(1), block.group(2)
        if language != "sh" or not re.search(r"(^|[\s$(])curl\s", content):
            continue
        if text[: block.start()].rstrip().endswith(SKIP_MARK):
            continue
        line = text.count("\n", 0, block.start()) + 1
        source = str(path.relative_to(root))
        answer = blocks[index + 1] if index + 1 < len(blocks) else None
        between = text[block.end() : answer.start()] if answer else ""
        if answer is None or answer.group(1) not in ("json", "http") or "```" in between:
            raise AssertionError(f"{source}:{line}: a curl example without a shown answer")
        status, body = _shown_answer(answer.group(1), answer.group(2))
        found.append(Example(source, line, content, status, body))
    return found


def _shown_answer(language: str, content: str) -> tuple[int | None, Any]:
    if language == "json":
        return None, json.loads(content)
    head, _, body = content.partition("\n\n")
    status = int(head.split()[1])
    return status, json.loads(body) if body.strip() else None


def split_reply(output: str) -> str:
    """The body of a reply printed with or without ``curl -i``."""
    if output.startswith("HTTP/"):
        _head, _, body = output.replace("\r\n", "\n").partition("\n\n")
        return body
    return output


def shape_mismatch(shown: Any, actual: Any, path: str = "$") -> str | None:
    """Where ``actual`` departs from the shape of ``shown``, or None."""
    if shown is None or shown == ANY:
        return None
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {actual!r:.80}"
        open_ended = shown.get(ANY) == ANY
        keys = {key for key in shown if key != ANY}
        missing = keys - set(actual)
        if missing:
            return f"{path}: missing keys {sorted(missing)}"
        extra = set(actual) - keys
        if extra and not open_ended:
            return f"{path}: keys not shown {sorted(extra)}"
        for key in sorted(keys):
            problem = shape_mismatch(shown[key], actual[key], f"{path}.{key}")
            if problem:
                return problem
        return None
    if isinstance(shown, list):
        if not isinstance(actual, list):
            return f"{path}: expected a list, got {actual!r:.80}"
        if shown and not actual:
            return f"{path}: expected items, got an empty list"
        for position, item in enumerate(actual if shown else ()):
            # Items may take several shapes (a batch's errors: a message or a field map):
            # each item must have the shape of one of the items shown.
            problems = [shape_mismatch(option, item, f"{path}[{position}]") for option in shown]
            if all(problems):
                return problems[0]
        return None
    if isinstance(shown, bool) or isinstance(actual, bool):
        same = isinstance(shown, bool) and isinstance(actual, bool)
        return None if same else f"{path}: expected {type(shown).__name__}, got {actual!r:.80}"
    if isinstance(shown, int | float):
        if isinstance(actual, int | float):
            return None
        return f"{path}: expected a number, got {actual!r:.80}"
    if isinstance(shown, str):
        return None if isinstance(actual, str) else f"{path}: expected text, got {actual!r:.80}"
    return None
