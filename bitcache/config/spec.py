"""What a configuration key accepts: a typed checker per kind of value.

A :class:`Spec` turns a value read from ``bitcache.toml`` (already typed by
the TOML parser) or from an environment variable (text) into the key's
type, or says what it expected; :func:`checked` raises
:class:`~bitcache.errors.InvalidConfig` naming the key, for example
``settlement.min_input_confirmations: expected an integer ≥ 1, got "x"``.
Standard library only: the loader and the CLI share these checkers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from bitcache.errors import InvalidConfig

#: Marks a key that has no value unless the operator gives one (TOML has no null).
UNSET = None


class _Refused(Exception):
    """A value of the wrong kind (internal: :func:`checked` turns it into InvalidConfig)."""


@dataclass(frozen=True, slots=True)
class Spec:
    """A key's kind: what it expects (in words), how to check a value, how to read text.

    ``optional``: the key may be left out (its value is then None). ``path``:
    a file or folder, relative paths taken from the node folder.
    """

    expected: str
    check: Callable[[object], object]
    from_text: Callable[[str], object]
    optional: bool = False
    path: bool = False


def shown(value: object) -> str:
    """A value as the operator wrote it (JSON-quoted text), for an error message."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def checked(spec: Spec, key: str, value: object) -> object:
    """``value`` as ``spec`` wants it; InvalidConfig naming ``key`` otherwise."""
    try:
        return spec.check(value)
    except _Refused:
        raise InvalidConfig(
            f"{key}: expected {spec.expected}, got {shown(value)}", key=key
        ) from None


def from_env(spec: Spec, key: str, text: str) -> object:
    """The value of an environment variable ``key`` for ``spec``, checked."""
    try:
        value = spec.from_text(text)
    except (_Refused, ValueError):
        value = text
    return checked(spec, key, value)


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused
    return value


def integer(low: int, high: int | None = None, *, optional: bool = False) -> Spec:
    """A whole number within ``low``..``high``."""
    expected = f"an integer ≥ {low}" if high is None else f"an integer from {low} to {high}"

    def check(value: object) -> int:
        number = _whole(value)
        if number < low or (high is not None and number > high):
            raise _Refused
        return number

    return Spec(expected, check, lambda text: int(text.strip(), 10), optional)


def seconds(low: float, high: float | None = None, *, optional: bool = False) -> Spec:
    """A finite number of seconds from ``low`` (to ``high`` if given; an integer is taken too)."""

    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Refused
        if not math.isfinite(value) or value < low or (high is not None and value > high):
            raise _Refused
        return float(value)

    expected = (f"a number of seconds ≥ {low:g}" if high is None
                else f"a number of seconds from {low:g} to {high:g}")
    return Spec(expected, check, lambda text: float(text.strip()), optional)


def choice(*options: str) -> Spec:
    """One word out of ``options``."""
    expected = "one of " + ", ".join(f'"{o}"' for o in options)

    def check(value: object) -> str:
        if not isinstance(value, str) or value not in options:
            raise _Refused
        return value

    return Spec(expected, check, lambda text: text.strip())


def _yes_no(text: str) -> bool:
    word = text.strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    raise _Refused


def boolean() -> Spec:
    """true or false (from the environment also 1/0, yes/no, on/off)."""

    def check(value: object) -> bool:
        if not isinstance(value, bool):
            raise _Refused
        return value

    return Spec("true or false", check, _yes_no)


def _text(value: object, empty: bool) -> str:
    if not isinstance(value, str) or (not empty and not value) or "\x00" in value:
        raise _Refused
    return value


def text(*, empty: bool = False, optional: bool = False, path: bool = False) -> Spec:
    """Text (non-empty unless ``empty``); a path when ``path``."""
    what = "a path" if path else "text" if empty else "non-empty text"
    return Spec(what, lambda value: _text(value, empty), lambda t: t, optional, path)


def text_list(item: Callable[[str], str], expected: str) -> Spec:
    """A list of text items each checked by ``item`` (which raises ValueError when bad);
    from the environment: comma-separated."""

    def check(value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _Refused
        try:
            return tuple(item(v) for v in value)
        except ValueError:
            raise _Refused from None

    def split(raw: str) -> list[str]:
        return [part.strip() for part in raw.split(",") if part.strip()]

    return Spec(expected, check, split)
