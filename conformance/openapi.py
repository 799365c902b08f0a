"""The published OpenAPI reference of the Responses API, kept as data, and what it adds to the SDK types.

The SDK types (schemas.py) say what a client can parse; the reference says what the API promises,
and is stricter in three ways a client can feel: timestamps in whole seconds (`format: unixtime`),
fields that are required even when null (`instructions`, `usage.input_tokens_details.cache_write_tokens`),
and closed enums. Breaking only the reference is a SHOULD: the SDK still parses the answer.

`openapi_reference.json` holds the reference's `Response` and `Error` schemas with every schema they
reach, verbatim, and names the document, commit and date they came from. Regenerate it with
`python -m conformance.openapi PATH/openapi.json --commit SHA --date YYYY-MM-DD`.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from conformance.fastschema import skipping_validator
from conformance.schemas import SchemaProblem, built_once, missing_listed_fields, problems, response_problems

DATA = "openapi_reference.json"
ROOTS = ("Response", "Error")
REPOSITORY = "openai/openai-openapi"
_COMPONENTS = "#/components/schemas/"


def _refs(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_COMPONENTS):
            yield ref.removeprefix(_COMPONENTS)
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def extract(document: dict[str, Any], roots: tuple[str, ...] = ROOTS) -> dict[str, Any]:
    """The schemas `roots` reach in an OpenAPI document, verbatim."""
    every = document["components"]["schemas"]
    kept: dict[str, Any] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in kept:
            kept[name] = every[name]
            todo.extend(_refs(every[name]))
    return dict(sorted(kept.items()))


def _rebased(schema: Any) -> Any:
    """OpenAPI's component references as JSON Schema `$defs` references."""
    if isinstance(schema, dict):
        return {
            k: ("#/$defs/" + v.removeprefix(_COMPONENTS) if k == "$ref" and isinstance(v, str) else _rebased(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebased(v) for v in schema]
    return schema


@built_once
def reference() -> dict[str, Any]:
    """The stored reference: its `source` and its `schemas`."""
    data: dict[str, Any] = json.loads(resources.files("conformance").joinpath(DATA).read_text("utf-8"))
    return data


def _whole_seconds(value: object) -> bool:
    """`format: unixtime` is whole Unix seconds: the reference types it integer in all but Response.created_at."""
    return not isinstance(value, int | float) or (isinstance(value, int) and not isinstance(value, bool))


@built_once
def _validator(root: str) -> jsonschema.protocols.Validator:
    formats = jsonschema.FormatChecker(formats=())
    formats.checks("unixtime")(_whole_seconds)
    schema = {"$defs": _rebased(reference()["schemas"]), "$ref": f"#/$defs/{root}"}
    return skipping_validator(schema, jsonschema.Draft202012Validator, formats)


def _enclosing(path: str) -> Iterator[str]:
    """The path and every path it lies inside: `a.b[0].c`, `a.b[0]`, `a.b`, `a`."""
    yield path
    for boundary in reversed([m.start() for m in re.finditer(r"[.\[]", path)]):
        yield path[:boundary]


def _unrelated(reported: Iterable[str]) -> Callable[[str], bool]:
    """Whether a path names a gap none of `reported` names: neither is one of them, nor lies inside or
    around one. Sets of paths, not pairs of them: an answer with many failing items has as many
    problems on each side, and comparing every pair took minutes of a small answer."""
    inside = set(reported)
    around = {ancestor for path in inside for ancestor in _enclosing(path)}
    return lambda path: path not in around and not any(a in inside for a in _enclosing(path))


def stricter_problems(
    body: Any, prefix: str = "response", sdk_problems: Sequence[SchemaProblem] | None = None
) -> list[SchemaProblem]:
    """What the reference finds in a Response that the SDK types do not already report.

    Problems under a path the SDK schema reports, and fields the SDK lists that response.fields
    reports as absent, are left to those rules (pass `sdk_problems` when they are already known),
    so one gap is one finding. A null is never one: the reference leaves `null` out of fields the
    API itself sends as null (`user`), so only presence is taken from it.
    """
    if not isinstance(body, dict):
        return []
    unrelated = _unrelated(p.path for p in (response_problems(body, prefix) if sdk_problems is None else sdk_problems))
    absent = {
        f"{prefix}{path.removeprefix('response')}.{name}"
        for path, names in missing_listed_fields(body).items()
        for name in names
    }
    return [
        p
        for p in problems(_validator("Response"), body, prefix)
        if p.kind != "null" and p.path not in absent and unrelated(p.path)
    ]


def _target() -> Path:
    return Path(__file__).with_name(DATA)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Store the Responses schemas of OpenAI's published OpenAPI document.")
    parser.add_argument("document", type=Path, help="openapi.json of the openai-openapi repository")
    parser.add_argument("--commit", required=True, help="the commit the document was read at")
    parser.add_argument("--date", required=True, help="that commit's date, YYYY-MM-DD")
    args = parser.parse_args(argv)
    document = json.loads(args.document.read_text("utf-8"))
    data = {
        "source": {
            "repository": REPOSITORY,
            "path": "openapi.json",
            "commit": args.commit,
            "date": args.date,
            "openapi": document.get("openapi"),
            "version": document.get("info", {}).get("version"),
            "roots": list(ROOTS),
        },
        "schemas": extract(document),
    }
    target = _target()
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"wrote {len(data['schemas'])} schemas to {target}")


if __name__ == "__main__":
    main()
