"""The one JSON reader for everything the suite did not write itself: answers, events, catalogs, files.

Python's `json` accepts what other parsers refuse (NaN, Infinity, 1e999 as inf) and recurses once
per nesting level, so a 20 kB body nested 10,000 deep raises RecursionError, and one nested 900
deep parses but breaks every later walk (schema validation, repr, rendering). Here every such input
is a `JSONProblem` (a ValueError, which every caller already reads as "not JSON"), so judging,
quoting and rendering only ever see values of bounded depth and finite numbers.
"""

from __future__ import annotations

import json
import math
import re
from itertools import islice
from typing import Any

MAX_DEPTH = 100  # far beyond any real Response; low enough for every recursive walk that follows


class JSONProblem(ValueError):
    """The text is not JSON the suite can judge; the message says why."""


def _constant(name: str) -> Any:
    raise JSONProblem(f"{name} is not a JSON value")


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONProblem(f"the number {text[:40]} does not fit a double")
    return value


_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_number)


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON; too deep, non-finite or unconvertible numbers raise JSONProblem, never another error."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise JSONProblem(f"JSON nested deeper than {max_depth} levels") from None
    except JSONProblem:
        raise
    except ValueError as exc:  # JSONDecodeError, and integers beyond Python's digit limit
        raise JSONProblem(str(exc)) from None
    if text.count("[") + text.count("{") > max_depth and depth(value, max_depth) > max_depth:
        raise JSONProblem(f"JSON nested deeper than {max_depth} levels")
    return value


BOM = "\ufeff"


def loads_answer(text: str) -> Any:
    """A JSON body as an HTTP client reads it: one leading byte order mark skipped.

    RFC 8259 (8.1) forbids a sender to add one but lets a parser ignore it, and both SDKs do (through
    `response.json()`); `http.json_bom` notes it. Only a whole body: an event's data is parsed by the
    SDKs with `json.loads` / `JSON.parse`, which refuse it, and so does `loads`.
    """
    return loads(text.removeprefix(BOM))


_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[,\[{]')  # a string, or what opens or follows a value


def tokens_past(text: str, limit: int) -> bool:
    """Whether JSON text holds more than `limit` strings, commas and opening brackets, counted without parsing.

    Parsed, every value is an object whatever its size in the file (`{}` is 2 bytes, and some 100
    parsed and validated), so a byte cap alone does not bound memory; these tokens do, since every
    value is a string, a container, or a scalar first in its container or after a comma. Counted by
    str methods first (an upper bound), then, only if that is past the limit, by a scan that stops there.
    """
    if sum(text.count(c) for c in ",[{") + text.count('"') // 2 <= limit:
        return False
    return next(islice(_TOKEN.finditer(text), limit, None), None) is not None


def problem(text: str) -> str | None:
    """Why a text is not JSON the suite judges, or None when it is."""
    try:
        loads(text)
    except JSONProblem as exc:
        return str(exc)
    return None


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a decoded value, without recursion; stops counting just past `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if not isinstance(node, dict | list):
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def duplicate_keys(text: str, limit: int = 5) -> list[str]:
    """Object keys that appear twice in one object (parsers disagree on which wins); [] when not JSON."""
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and len(found) < limit and key not in found:
                found.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.JSONDecoder(object_pairs_hook=pairs, parse_constant=_constant, parse_float=_number).decode(text)
    except (ValueError, RecursionError):
        return []
    return found
