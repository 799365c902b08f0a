"""The three catalog formats, read defensively: decoded JSON in, entries and warnings out.

Catalog formats change without notice (OVHcloud says so of its own), so a missing or mistyped field is
a warning, collected and returned, never an exception; a catalog recorded in a cassette is re-read by
today's parsers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.catalog.model import ModelEntry, Parsed
from conformance.jsonpath import MISSING, at_path
from conformance.profiles import MAX_PER_MINUTE, Claim

# Real ids are short (an org, a name, a tag; a local path at most): a catalog's megabyte id would be written
# into every cell, results line, report page and terminal line of its model.
MAX_MODEL_ID = 1_000

_KINDS: dict[str, str] = {
    "str": "a string",
    "bool": "a boolean",
    "count": "a count (an integer, 0 or more)",
    "strings": "a list of strings",
}


def _typed(value: Any, kind: str) -> Any:
    """The value when it has the kind, else MISSING. An integral float is an integer; a bool is not; a count
    is not negative (-1 is a common "unknown"), as the catalog snapshot that records it requires."""
    if kind == "str":
        return value if isinstance(value, str) else MISSING
    if kind == "bool":
        return value if isinstance(value, bool) else MISSING
    if kind == "count":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else MISSING
    if kind == "strings":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else MISSING
    raise ValueError(f"unknown kind {kind}")


@dataclass
class _Reader:
    """Typed reads from one catalog item; a documented field that is missing or mistyped is a warning."""

    item: dict[str, Any]
    where: str
    warnings: list[str]

    def read(self, paths: str | Sequence[str], kind: str, documented: bool = True) -> Any:
        """The first of `paths` present, checked against `kind`; None when absent or mistyped."""
        names = (paths,) if isinstance(paths, str) else tuple(paths)
        for path in names:
            value = at_path(self.item, path)
            if value is MISSING or value is None:
                continue
            typed = _typed(value, kind)
            if typed is MISSING:
                self.warnings.append(f"{self.where}: {path} should be {_KINDS[kind]}, got {_show(value)}; ignored")
                return None
            return typed
        if documented:
            self.warnings.append(f"{self.where}: {names[0]} is missing")
        return None


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def _show(value: Any) -> str:
    """A JSON value as a warning quotes it: its JSON type and its first characters."""
    text = json.dumps(value)
    if value is None:
        return "null"
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{kind} {text[:60]}{'...' if len(text) > 60 else ''}"


def _items(body: list[Any], source: str, warnings: list[str]) -> Iterable[_Reader]:
    """A reader for each object of a list; a non-object item is a warning and skipped."""
    for i, item in enumerate(body):
        if not isinstance(item, dict):
            warnings.append(f"{source}: item [{i}] is {_show(item)}, not an object; skipped")
            continue
        model_id = item.get("id")
        where = f"{source}: {_cut(model_id)}" if isinstance(model_id, str) and model_id else f"{source}: item [{i}]"
        yield _Reader(item, where, warnings)


def _model_id(reader: _Reader, paths: Sequence[str] = ("id",)) -> str | None:
    """The first non-empty string at `paths`; without one the item is a warning and skipped."""
    values = [at_path(reader.item, p) for p in paths]
    model_id = next((v for v in values if isinstance(v, str) and v), None)
    if model_id is None:
        found = next((v for v in values if v is not MISSING), MISSING)
        shown = "missing" if found is MISSING else _show(found)
        reader.warnings.append(f"{reader.where}: {'/'.join(paths)} is {shown}, not a model id; skipped")
    elif not is_text(model_id):
        reader.warnings.append(f"{reader.where}: {'/'.join(paths)} {_show(model_id)} holds a lone surrogate; skipped")
        return None
    elif len(model_id) > MAX_MODEL_ID:
        reader.warnings.append(
            f"{reader.where}: {'/'.join(paths)} is {len(model_id)} characters long, more than {MAX_MODEL_ID}; skipped"
        )
        return None
    return model_id


def _cut(model_id: str) -> str:
    """An id as a warning names it: whole when it could be run, else its head."""
    return model_id if len(model_id) <= MAX_MODEL_ID else f"{model_id[:80]}..."


def is_text(value: str) -> bool:
    """Whether a JSON string is Unicode text: a `\\ud800` escape decodes to a lone surrogate, which no file,
    file name or terminal can take, so an id holding one could name no cassette and no results line."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _yes_no(flag: bool | None) -> Claim | None:
    return None if flag is None else ("yes" if flag else "no")


def _entry(model_id: str, source: str, claims: Mapping[str, Claim | None], **fields: Any) -> ModelEntry:
    said = {f: c for f, c in claims.items() if c is not None}
    return ModelEntry(id=model_id, claims=said, claim_sources=dict.fromkeys(said, source), sources=(source,), **fields)


# Where a /v1/models entry says what kind of model it is, beyond OpenAI's fields: Together's `type` (chat, language,
# code, image, embedding, moderation, rerank, audio), Llama Stack's `custom_metadata.model_type` (llm, embedding,
# rerank; `model_type` before its OpenAI-shaped listing), and OpenRouter's `architecture.output_modalities`.
KIND_PATHS = ("type", "custom_metadata.model_type", "model_type")
OUTPUT_PATHS = ("architecture.output_modalities", "output_modalities")


def parse_openai_models(body: Any) -> Parsed:
    """GET /v1/models: `data[].id`. It claims nothing, so every model is listed with no claims; the kind of
    model an entry names (KIND_PATHS, OUTPUT_PATHS) is kept, so that an embedding or image model is not probed.

    llama.cpp adds its own `models[]` beside `data[]`; it is read only when `data` is absent. Together answers
    the list itself, a bare array of models, which is read as `data`.
    """
    source = "openai_models"
    warnings: list[str] = []
    items: Any = body
    id_paths: tuple[str, ...] = ("id",)
    if isinstance(body, list):
        warnings.append(f"{source}: a bare array, not an object with data[]; read as the list of models")
    elif not isinstance(body, dict):
        return Parsed([], [f"{source}: expected a JSON object with data[], got {_show(body)}"])
    else:
        items = body.get("data")
        if not isinstance(items, list) and isinstance(body.get("models"), list):
            warnings.append(f"{source}: no data[]; read llama.cpp's models[] instead")
            items, id_paths = body["models"], ("model", "name")
    if not isinstance(items, list):
        return Parsed([], [f"{source}: data should be a list, got {_show(items)}"])
    entries = []
    for reader in _items(items, source, warnings):
        model_id = _model_id(reader, id_paths)
        if model_id is not None:
            context = reader.read(("context_length", "max_model_len", "meta.n_ctx"), "count", documented=False)
            kind = reader.read(KIND_PATHS, "str", documented=False)
            outputs = reader.read(OUTPUT_PATHS, "strings", documented=False)
            entries.append(
                _entry(
                    model_id,
                    source,
                    {},
                    context_length=context,
                    category=kind if kind and kind.lower() != "model" else "",  # "model" is an object tag
                    output_modalities=outputs or (),
                )
            )
    return Parsed(entries, warnings)


def parse_ovh_models_v2(body: Any) -> Parsed:
    """OVHcloud's public catalog (rest/v1/models_v2): an array of models with capability flags.

    Both `input_modality` (the Catalog API guide's name) and `input_modalities` are read.
    `deprecated` and `replaced_by` are undocumented: read when present, never expected.
    """
    source = "ovh_models_v2"
    if not isinstance(body, list):
        return Parsed([], [f"{source}: expected a JSON array of models, got {_show(body)}"])
    warnings: list[str] = []
    entries = []
    caps = "metadata.model_specs.capabilities"
    for r in _items(body, source, warnings):
        model_id = _model_id(r)
        if model_id is None:
            continue
        inputs = r.read((f"{caps}.input_modality", f"{caps}.input_modalities"), "strings")
        outputs = r.read((f"{caps}.output_modality", f"{caps}.output_modalities"), "strings")
        claims = {
            "tools": _yes_no(r.read(f"{caps}.function_calling", "bool")),
            "reasoning": _yes_no(r.read(f"{caps}.reasoning", "bool")),
            "streaming": _yes_no(r.read(f"{caps}.streaming", "bool")),
            "vision": None if inputs is None else _yes_no("image" in inputs),
        }
        with_key, anonymous = _ovh_rate_limits(r)
        entries.append(
            _entry(
                model_id,
                source,
                claims,
                name=r.read("name", "str") or "",
                available=r.read("available", "bool"),
                category=r.read("category", "str") or "",
                tags=r.read("tags", "strings") or (),
                input_modalities=inputs or (),
                output_modalities=outputs or (),
                rate_limit_per_min=with_key,
                rate_limit_anonymous_per_min=anonymous,
                deprecated=r.read("deprecated", "bool", documented=False),
                replaced_by=r.read("replaced_by", "str", documented=False) or "",
            )
        )
    return Parsed(entries, warnings)


def _ovh_rate_limits(r: _Reader) -> tuple[int | None, int | None]:
    """`rate_limit` is either one number or an object {rate_limit_api, rate_limit_api_anonymous, ...}."""
    path = "metadata.usage_information.rate_limit"
    raw = at_path(r.item, path)
    if raw is MISSING or raw is None:
        r.warnings.append(f"{r.where}: {path} is missing")
        return None, None
    if isinstance(raw, dict):
        with_key, anonymous = (
            _per_minute(raw.get(key), f"{path}.{key}", r) for key in ("rate_limit_api", "rate_limit_api_anonymous")
        )
        return with_key, anonymous
    return _per_minute(raw, path, r), None


_PER_MINUTE = re.compile(r"(\d{1,12})\s*(?:(?:req(?:uest)?s?\s*)?(?:/|per)\s*min(?:ute)?|rpm)?", re.IGNORECASE)


def _per_minute(value: Any, path: str, r: _Reader) -> int | None:
    """Requests per minute from 400, "400", "400/min" or "400 requests per minute"; else a warning.

    A count below 1 (-1 is a common "unlimited") or past MAX_PER_MINUTE paces nothing and is a warning too."""
    if value is None:
        r.warnings.append(f"{r.where}: {path} is missing")
        return None
    if isinstance(value, str):
        match = _PER_MINUTE.fullmatch(value.strip())
        count = int(match.group(1)) if match else 0
    else:
        count = value if isinstance(value, int) and not isinstance(value, bool) else 0
    if not 1 <= count <= MAX_PER_MINUTE:
        r.warnings.append(f"{r.where}: {path} is not a per-minute request count: {_show(value)}; ignored")
        return None
    return count


def parse_openrouter(body: Any) -> Parsed:
    """An OpenRouter-style list (OVHcloud's rest/v2/openrouter): `data[]` with supported_features.

    A feature missing from a present supported_features list is claimed "no"; a missing list claims nothing.
    """
    source = "openrouter"
    if not isinstance(body, dict):
        return Parsed([], [f"{source}: expected a JSON object with data[], got {_show(body)}"])
    items = body.get("data")
    if not isinstance(items, list):
        return Parsed([], [f"{source}: data should be a list, got {_show(items)}"])
    warnings: list[str] = []
    entries = []
    for r in _items(items, source, warnings):
        model_id = _model_id(r)
        if model_id is None:
            continue
        inputs = r.read("input_modalities", "strings")
        features = r.read("supported_features", "strings")
        claims = {
            "tools": _listed(features, "tools"),
            "structured": _listed(features, "structured_outputs", "json_mode"),
            "reasoning": _listed(features, "reasoning"),
            "vision": None if inputs is None else _yes_no("image" in inputs),
        }
        entries.append(
            _entry(
                model_id,
                source,
                claims,
                name=r.read("name", "str", documented=False) or "",
                context_length=r.read("context_length", "count"),
                input_modalities=inputs or (),
                output_modalities=r.read("output_modalities", "strings", documented=False) or (),
            )
        )
    return Parsed(entries, warnings)


def _listed(features: tuple[str, ...] | None, *names: str) -> Claim | None:
    return None if features is None else _yes_no(any(n in features for n in names))


PARSERS: dict[str, Callable[[Any], Parsed]] = {
    "openai_models": parse_openai_models,
    "ovh_models_v2": parse_ovh_models_v2,
    "openrouter": parse_openrouter,
}
