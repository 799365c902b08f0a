"""Checks on structured outputs: with `text.format` json_schema or json_object, the answer is JSON.

The checks read the requested format from each exchange's own request body, so one set of checks
serves every structured probe and can re-judge any recorded exchange. Prose where JSON was asked for
means the format was silently ignored (IGNORED); so does JSON that breaks a strict schema, since a
server that enforces the schema cannot produce it. A non-strict schema is best effort: a SHOULD.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from typing import Any

import jsonschema
import referencing.exceptions

from conformance import safejson
from conformance.checks.core import _ok, output_text, refusal_text, response_body, text_parts
from conformance.checks.echo import absent, absent_echo
from conformance.checks.rules import quote, rule
from conformance.evidence import Exchange, Finding, Level
from conformance.jsonpath import at_path

JSON_OUTPUT = rule(
    "structured.json_output",
    Level.MUST,
    "with text.format json_schema or json_object, the answer text is one JSON object",
    effect=True,
)
SCHEMA_VALID = rule(
    "structured.schema_valid",
    Level.MUST,
    "with a strict json_schema, the answer validates against the schema",
    effect=True,
)
SCHEMA_VALID_LOOSE = rule(
    "structured.schema_valid_loose",
    Level.SHOULD,
    "with a non-strict json_schema, the answer validates against the schema",
)
PARTS_PARSE = rule(
    "structured.parts_parse",
    Level.MUST,
    "with text.format json_schema, each output_text part is JSON on its own, as the SDKs' parse() reads them",
)
FORMAT_ECHO = rule(
    "structured.format_echo", Level.SHOULD, "the Response echoes the requested text.format (type, name, strict)"
)

JSON_FORMATS = ("json_schema", "json_object")


def requested_format(ex: Exchange) -> dict[str, Any] | None:
    """The request's `text.format` object, or None when it sent none (or not an object)."""
    body = ex.request_json()
    text = body.get("text") if isinstance(body, dict) else None
    fmt = text.get("format") if isinstance(text, dict) else None
    return fmt if isinstance(fmt, dict) else None


def schema_errors(instance: Any, schema: Any) -> list[str]:
    """Where and why `instance` breaks `schema`; [] when the schema itself is unusable (our fault, not the server's).

    Only object schemas are read: the probes send no boolean schema, and a recording's odd one is unusable.
    """
    if not isinstance(schema, dict):
        return []
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        if not _usable(json.dumps(schema, sort_keys=True)):
            return []
        errors = sorted(cls(schema).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    except (TypeError, ValueError, referencing.exceptions.Unresolvable):
        return []
    return [f"{_json_path(e.absolute_path)}: {e.message}" for e in errors]


@functools.lru_cache(maxsize=32)
def _usable(schema: str) -> bool:
    """Whether a schema is valid under its metaschema: checking builds a metaschema validator (3 ms), and a
    run's structured-output probes send the same few schemas to every model."""
    parsed = json.loads(schema)
    cls = jsonschema.validators.validator_for(parsed, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(parsed)
    except jsonschema.SchemaError:
        return False
    return True


def _json_path(path: Sequence[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def parse_json(text: str) -> tuple[Any, bool]:
    """(value, True) when `text` is one JSON document, else (None, False)."""
    try:
        return safejson.loads(text), True
    except ValueError:
        return None, False


def _structured_answer(exchanges: Sequence[Exchange]) -> tuple[dict[str, Any], str] | None:
    """The requested JSON format and the answer text of the last successful exchange, if JSON was asked for."""
    ok = _ok(exchanges)
    if not ok:
        return None
    fmt = requested_format(ok[-1])
    if fmt is None or fmt.get("type") not in JSON_FORMATS:
        return None
    return fmt, output_text(response_body(ok[-1]))


def answer_is_json_object(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """A refusal is no sign that the format was ignored: has_output_text says the model refused, in its words."""
    asked = _structured_answer(exchanges)
    if asked is None or refusal_text(response_body(_ok(exchanges)[-1])).strip():
        return
    fmt, text = asked
    value, parsed = parse_json(text)
    if not isinstance(value, dict):
        what = f"JSON {type(value).__name__}" if parsed else "text that is not JSON"
        fence = " (wrapped in a Markdown code fence)" if text.lstrip().startswith("```") else ""
        yield JSON_OUTPUT.finding(
            f"expected a JSON object for text.format {fmt['type']}, got {what}{fence}: {quote(text)}"
        )


def answer_parts_parse(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The SDKs' `responses.parse()` parses each output_text part alone (Python raises ValidationError, Node
    SyntaxError on the first that is not JSON), so JSON split across parts, or an empty or null part beside it,
    breaks them although output_text joins to JSON."""
    asked = _structured_answer(exchanges)
    if asked is None or asked[0].get("type") != "json_schema" or not isinstance(parse_json(asked[1])[0], dict):
        return  # no schema asked, or not a JSON object at all: answer_is_json_object says so
    parts = [part.get("text") for part in text_parts(response_body(_ok(exchanges)[-1]))]
    if len(parts) < 2:
        return  # one part is the joined text, which is JSON
    broken = [(i, t) for i, t in enumerate(parts) if not isinstance(t, str) or not parse_json(t)[1]]
    if broken:
        at, text = broken[0]
        yield PARTS_PARSE.finding(
            f"expected each output_text part to be JSON on its own (the SDKs' parse() reads each alone), "
            f"got part {at} of {len(parts)}: {quote(text)}"
        )


def answer_matches_schema(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    asked = _structured_answer(exchanges)
    if asked is None or asked[0].get("type") != "json_schema":
        return
    fmt, text = asked
    value, _ = parse_json(text)
    if not isinstance(value, dict):
        return  # not a JSON object at all: answer_is_json_object says so
    errors = schema_errors(value, fmt.get("schema"))
    if errors:
        strict = fmt.get("strict") is True
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        yield (SCHEMA_VALID if strict else SCHEMA_VALID_LOOSE).finding(
            f"expected JSON valid against schema {quote(fmt.get('name'))} (strict: {strict}), got {quote(text)}: "
            + "; ".join(errors[:3])
            + more
        )


def echoes_format(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
    """The schema itself is not compared: servers may normalise it, and clients do not read it back."""
    ok = _ok(exchanges)
    if not ok:
        return
    sent = requested_format(ok[-1])
    if sent is None:
        return
    want = {k: sent[k] for k in ("type", "name", "strict") if k in sent}
    got = at_path(response_body(ok[-1]), "text.format")
    if absent(got):
        yield absent_echo("text.format", want)
    elif not isinstance(got, dict) or {k: got.get(k) for k in want} != want:
        yield FORMAT_ECHO.finding(f"expected text.format echoed with {quote(want)}, got {quote(got, 200)}")


STRUCTURED_CHECKS = (answer_is_json_object, answer_parts_parse, answer_matches_schema, echoes_format)
