"""Request bodies and parameters checked against the JSON schemas that /openapi.json publishes.

One schema is both the documentation and the check, so they cannot drift.
The subset used: ``object`` (``properties``, ``required``,
``additionalProperties: false``), ``array`` (``items``, ``minItems``,
``maxItems``), ``integer`` (``minimum``, ``maximum``; booleans and floats are
not integers), ``string`` (``minLength``, ``maxLength``, ``pattern``,
``enum``), ``boolean``, and ``null`` in a list of types. A mismatch is
``InvalidInput`` naming the member.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from bitcache.errors import BodyTooLarge, InvalidInput

Schema = Mapping[str, Any]

MAX_BODY = 1 << 20
INT64 = 2**63 - 1

HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256, 64 hex"}
PARTY = {"type": "string", "pattern": "^[A-Za-z0-9_.@+-]{1,128}$"}
MSAT = {"type": "integer", "minimum": 1, "maximum": 100_000_000_000}


def obj(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None
        ) -> dict[str, Any]:
    """An object schema with these required and optional members, and no others."""
    return {"type": "object", "properties": {**required, **(optional or {})},
            "required": list(required), "additionalProperties": False}


def nullable(schema: Schema) -> dict[str, Any]:
    """The schema, or null."""
    return {**schema, "type": [schema["type"], "null"]}


def parse_body(raw: bytes, schema: Schema) -> dict[str, Any]:
    """A JSON body checked against an object schema."""
    if len(raw) > MAX_BODY:
        raise BodyTooLarge(f"the body is larger than {MAX_BODY} bytes")
    try:
        value = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the body is not JSON") from None
    check(value, schema, "body")
    return dict(value)


def parse_query(params: Mapping[str, str], schemas: Mapping[str, Schema],
                kind: str = "query parameter") -> dict[str, Any]:
    """Query (or path: ``kind``) parameters, text, converted and checked; unknown ones are
    refused."""
    unknown = set(params) - set(schemas)
    if unknown:
        raise InvalidInput(f"unknown {kind} {sorted(unknown)[0][:40]!r}")
    out: dict[str, Any] = {}
    for name, text in params.items():
        schema = schemas[name]
        value: Any = text
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?[0-9]{1,19}", text):
                raise InvalidInput(f"{kind} {name} must be an integer")
            value = int(text)
        check(value, schema, name)
        out[name] = value
    return out


def check(value: Any, schema: Schema, where: str) -> None:
    """Raise InvalidInput unless ``value`` matches ``schema``."""
    types = schema.get("type")
    allowed: list[str] = types if isinstance(types, list) else [str(types)]
    kind = _kind(value)
    if kind not in allowed:
        raise InvalidInput(f"{where} must be {' or '.join(allowed)}, got {kind}")
    if kind == "object":
        _check_object(value, schema, where)
    elif kind == "array":
        _check_array(value, schema, where)
    elif kind == "integer":
        _check_integer(value, schema, where)
    elif kind == "string":
        _check_string(value, schema, where)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    names = {str: "string", dict: "object", list: "array", float: "number"}
    return names.get(type(value), type(value).__name__)


def _check_object(value: dict[str, Any], schema: Schema, where: str) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            raise InvalidInput(f"{where}.{name} is required")
    for name, member in value.items():
        if name not in properties:
            raise InvalidInput(f"{where} has an unknown member {name[:40]!r}")
        check(member, properties[name], f"{where}.{name}")


def _check_array(value: list[Any], schema: Schema, where: str) -> None:
    if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", 10_000):
        raise InvalidInput(f"{where} must have {schema.get('minItems', 0)} to "
                           f"{schema.get('maxItems', 10_000)} items")
    for i, item in enumerate(value):
        check(item, schema["items"], f"{where}[{i}]")


def _check_integer(value: int, schema: Schema, where: str) -> None:
    low, high = schema.get("minimum", -INT64 - 1), schema.get("maximum", INT64)
    if not low <= value <= high:
        raise InvalidInput(f"{where} must be from {low} to {high}")


def _check_string(value: str, schema: Schema, where: str) -> None:
    if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10_000):
        raise InvalidInput(f"{where} must be {schema.get('minLength', 0)} to "
                           f"{schema.get('maxLength', 10_000)} characters")
    if "enum" in schema and value not in schema["enum"]:
        raise InvalidInput(f"{where} must be one of {', '.join(schema['enum'])}")
    pattern = schema.get("pattern")
    if pattern is not None and not _matches(pattern, value):
        raise InvalidInput(f"{where} does not have the expected form ({pattern})")


def _matches(pattern: str, value: str) -> bool:
    """ECMA-262 semantics for the anchored patterns used here: ``$`` is the very end."""
    if pattern.startswith("^") and pattern.endswith("$"):
        return _compiled(pattern[1:-1]).fullmatch(value) is not None
    return _compiled(pattern).search(value) is not None


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
