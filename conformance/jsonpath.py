"""Reading a value at a dotted path of nested JSON objects, with a sentinel for "not there"."""

from __future__ import annotations

from typing import Any

MISSING: Any = object()  # not None: JSON null is a value a server may really send


def at_path(data: Any, path: str) -> Any:
    """The value at `path` ("a.b.c"), or MISSING when a step is absent or not an object."""
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return MISSING
        data = data[key]
    return data
