"""Breaking changes to the GraphQL schema are deliberate: each is listed in CHANGELOG.md.

``schema.graphql`` (the served schema) is compared with ``schema.released.graphql`` (the
last release) by graphql-core's ``find_breaking_changes``. A break is listed when the
changelog's "Unreleased" section names its schema coordinate in backticks (such as
`` `AvailableSlot.recurrencePattern` `` or `` `Query.utilization(startDate:)` ``), or
quotes its description whole. At a release, the section gets the version and
``schema.released.graphql`` becomes the released ``schema.graphql``.
"""

from __future__ import annotations

import re
from pathlib import Path

from graphql import BreakingChange, build_schema, find_breaking_changes

ROOT = Path(__file__).resolve().parents[2]
COORDINATE = re.compile(r"[A-Za-z_]\w*\.[A-Za-z_]\w*(?:\([A-Za-z_]\w*:\))?")
ENUM_VALUE = re.compile(r"^(\w+) was removed from enum type (\w+)\.")
NAMED = re.compile(r"^(?:Field |Argument |Type |Directive )?([A-Za-z_@]\w*)\b")


def coordinate(change: BreakingChange) -> str:
    """The schema coordinate a break is about: ``Type``, ``Type.field``,
    ``Type.field(arg:)`` or ``Enum.VALUE``."""
    description = change.description
    if found := ENUM_VALUE.match(description):
        return f"{found[2]}.{found[1]}"
    if found := COORDINATE.search(description):
        return found[0]
    found = NAMED.match(description)
    return found[1] if found else description


def unreleased(changelog: str) -> str:
    """The text of the changelog's "Unreleased" section."""
    match = re.search(r"^## \[?Unreleased\]?.*?$(.*?)(?=^## |\Z)", changelog, re.M | re.S | re.I)
    return match[1] if match else ""


def unlisted(released_sdl: str, current_sdl: str, changelog: str) -> list[str]:
    section = unreleased(changelog)
    return [
        change.description
        for change in find_breaking_changes(build_schema(released_sdl), build_schema(current_sdl))
        if f"`{coordinate(change)}`" not in section and change.description not in section
    ]


def test_every_break_since_the_release_is_in_the_changelog() -> None:
    missing = unlisted(
        (ROOT / "schema.released.graphql").read_text(),
        (ROOT / "schema.graphql").read_text(),
        (ROOT / "CHANGELOG.md").read_text(),
    )
    assert missing == [], "breaking changes missing from CHANGELOG.md's Unreleased section"


RELEASED = """
type Query { slot(id: Int!, day: String): Slot, old: Int }
type Slot { id: Int!, pattern: String }
enum Scope { SINGLE SERIES }
type Gone { id: Int }
type Extra { scope: Scope }
"""
CURRENT = """
type Query { slot(id: Int!, day: Date): Slot }
type Slot { id: Int!, pattern: Pattern }
scalar Date
enum Pattern { DAILY }
enum Scope { SINGLE }
type Extra { scope: Scope }
"""


def test_the_coordinates_of_each_kind_of_break() -> None:
    changes = find_breaking_changes(build_schema(RELEASED), build_schema(CURRENT))
    assert sorted(coordinate(change) for change in changes) == [
        "Gone",
        "Query.old",
        "Query.slot(day:)",
        "Scope.SERIES",
        "Slot.pattern",
    ]


def test_an_unlisted_break_fails_and_a_listed_one_passes() -> None:
    listed = "# Changes\n\n## Unreleased\n\n- `Query.old`, `Gone`: removed.\n- `Slot.pattern`.\n"
    assert unlisted(RELEASED, CURRENT, listed) == [
        "Argument Query.slot(day:) has changed type from String to Date.",
        "Enum value Scope.SERIES was removed.",
    ]
    complete = listed + "- `Query.slot(day:)`, `Scope.SERIES`.\n\n## 1.0.0\n\n- `Other.field`\n"
    assert unlisted(RELEASED, CURRENT, complete) == []
    # A coordinate listed under an earlier release does not count.
    earlier = "## Unreleased\n\n## 1.0.0\n\n- `Query.old` `Gone` `Slot.pattern`"
    assert len(unlisted(RELEASED, CURRENT, earlier)) == 5
