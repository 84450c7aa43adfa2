"""What a provider is matched on: the types offered, state licences, languages spoken.

Stored as JSON lists on the provider. Checks here turn input into the stored form;
the SQL conditions let one statement match every provider at once, on both databases.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from models.platform.errors import FieldErrors

# US states, the District of Columbia and the inhabited territories (USPS codes).
US_STATE_CODES: frozenset[str] = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI".split()
)
# A BCP 47 language tag, loosely: a 2-3 letter primary subtag (or 4-8 registered), then
# subtags of 1-8 letters and digits.
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
LANGUAGE_TAG_MAX = 35
MAX_ENTRIES = 60
MATCHING_FIELDS = ("appointment_type_keys", "licensed_states", "languages")


def primary_subtag(tag: str) -> str:
    """``es`` of ``es-MX``: what a language filter matches, lower-cased."""
    return tag.split("-", 1)[0].lower()


def _text_list(errors: FieldErrors, name: str, value: Any) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors.add(name, "is invalid")
        return None
    if len(value) > MAX_ENTRIES:
        errors.add(name, f"is too long (maximum is {MAX_ENTRIES} entries)")
        return None
    return [item.strip() for item in value]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def check_matching_input(
    errors: FieldErrors, values: dict[str, Any], type_keys: Collection[str]
) -> dict[str, list[str]]:
    """The matching fields sent, in stored form; ``type_keys``: the catalog's keys."""
    checked: dict[str, list[str]] = {}
    if "appointment_type_keys" in values:
        keys = _text_list(errors, "appointment_type_keys", values["appointment_type_keys"])
        if keys is not None:
            if any(key not in type_keys for key in keys):
                errors.add("appointment_type_keys", "is not included in the list")
            else:
                checked["appointment_type_keys"] = _unique(keys)
    if "licensed_states" in values:
        states = _text_list(errors, "licensed_states", values["licensed_states"])
        if states is not None:
            upper = [state.upper() for state in states]
            if any(state not in US_STATE_CODES for state in upper):
                errors.add("licensed_states", "is not included in the list")
            else:
                checked["licensed_states"] = sorted(set(upper))
    if "languages" in values:
        tags = _text_list(errors, "languages", values["languages"])
        if tags is not None:
            if any(len(tag) > LANGUAGE_TAG_MAX or not LANGUAGE_TAG.fullmatch(tag) for tag in tags):
                errors.add("languages", "is invalid")
            else:
                checked["languages"] = _unique(tags)
    return checked


def check_state_filter(errors: FieldErrors, name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value.strip().upper() not in US_STATE_CODES:
        errors.add(name, "is not included in the list")
        return None
    return value.strip().upper()


def check_language_filter(errors: FieldErrors, name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not LANGUAGE_TAG.fullmatch(value.strip()):
        errors.add(name, "is invalid")
        return None
    return primary_subtag(value.strip())


class json_list_has(FunctionElement[bool]):
    """``value`` is an element of the JSON list ``column`` (text elements)."""

    inherit_cache = True


class json_list_has_primary(FunctionElement[bool]):
    """A language tag of the JSON list ``column`` has the primary subtag ``value``."""

    inherit_cache = True


@compiles(json_list_has, "postgresql")
def _has_pg(element: json_list_has, compiler: Any, **kw: Any) -> str:
    column, value = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"jsonb_exists(CAST({column} AS jsonb), CAST({value} AS TEXT))"


@compiles(json_list_has, "sqlite")
def _has_sqlite(element: json_list_has, compiler: Any, **kw: Any) -> str:
    column, value = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {value})"


@compiles(json_list_has_primary, "postgresql")
def _primary_pg(element: json_list_has_primary, compiler: Any, **kw: Any) -> str:
    column, value = (compiler.process(clause, **kw) for clause in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_array_elements_text(CAST({column} AS json)) AS tag(v) "
        f"WHERE lower(split_part(tag.v, '-', 1)) = {value})"
    )


@compiles(json_list_has_primary, "sqlite")
def _primary_sqlite(element: json_list_has_primary, compiler: Any, **kw: Any) -> str:
    column, value = (compiler.process(clause, **kw) for clause in element.clauses)
    return (
        f"EXISTS (SELECT 1 FROM json_each({column}) WHERE "
        f"lower(substr(json_each.value, 1, instr(json_each.value || '-', '-') - 1)) = {value})"
    )


def offers_type(column: Any, key: Any) -> ColumnElement[bool]:
    """The provider offers type ``key``: no keys listed (every type) or ``key`` listed."""
    return (func.json_array_length(column) == 0) | json_list_has(column, key)
