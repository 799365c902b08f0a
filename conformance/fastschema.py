"""jsonschema validators that skip what is valid: jsonschema's own errors, at a fraction of its cost.

jsonschema applies every keyword of every subschema it reaches, valid or not, and a Response
reaches thousands. Here each keyword of a schema is compiled, once, into an exact predicate (the
instance satisfies the keyword), and the validator runs jsonschema's own keyword function only
where the predicate fails; `properties`, `items` and `allOf` descend only into the children that
fail. Valid parts yield no error in jsonschema either, so the errors, their order, their paths and
their context are jsonschema's, while a valid subtree costs a few calls instead of a walk. One
difference, by design: a tagged union (`oneOf` / `anyOf` whose members each pin the object's
`type` field, as every union of the Responses API does) that fails carries in its context the
errors of the member the instance's `type` names, not those of every member failing on the tag,
which is what `schemas.problems` reads from it anyway.

A keyword without a compiled predicate is judged by calling jsonschema's own function, so every
predicate is exact and `oneOf` and `not` may rely on them. Schemas that name a base URI or an
anchor (`$id`, `$anchor`, `$dynamicRef`, ...) would change how `$ref` resolves: they get
jsonschema's validator unchanged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

import jsonschema
from jsonschema.exceptions import UndefinedTypeCheck, ValidationError
from jsonschema.protocols import Validator

Check = Callable[[Any], bool]
Keyword = Callable[[Validator, Any, Any, Any], Iterable[ValidationError] | None]

_SCOPED = frozenset({"$id", "$anchor", "$dynamicRef", "$dynamicAnchor", "$schema"})
_STOCK = jsonschema.Draft202012Validator.TYPE_CHECKER
_PLAIN_TYPES: dict[str, Check] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def _always(instance: Any) -> bool:
    return True


def _never(instance: Any) -> bool:
    return False


def _scoped(schema: Any) -> bool:
    """The schema names a base URI, an anchor or a dialect somewhere (a property called so counts too)."""
    if isinstance(schema, dict):
        return any(k in _SCOPED for k in schema) or any(_scoped(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_scoped(v) for v in schema)
    return False


_DEFS_SCOPED: dict[int, tuple[Any, bool]] = {}


def _defs_scoped(defs: Any) -> bool:
    """`_scoped` of a `$defs`, read once per dict: the members of a union share theirs (held, so ids stay unique)."""
    seen = _DEFS_SCOPED.get(id(defs))
    if seen is None or seen[0] is not defs:
        seen = _DEFS_SCOPED[id(defs)] = (defs, _scoped(defs))
    return seen[1]


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    return lambda x: all(check(x) for check in checks)


class _Predicates:
    """Exact predicates for one root schema's subschemas and keywords, each compiled on first use."""

    def __init__(self, root: Validator, keywords: Mapping[str, Keyword]) -> None:
        self.root = root
        self.keywords = keywords  # jsonschema's own keyword functions
        self._compiled: dict[int, tuple[Any, Check, dict[str, Check]]] = {}
        self._targets: dict[str, Any] = {}
        self._tags: dict[int, tuple[Any, frozenset[str] | None]] = {}
        self._checker = type(root).TYPE_CHECKER
        self._types = _PLAIN_TYPES if self._checker is _STOCK else {}
        self.obj, self.arr, self.text = self.type_check("object"), self.type_check("array"), self.type_check("string")

    def type_check(self, name: str) -> Check:
        plain = self._types.get(name)
        return plain if plain is not None else functools.partial(self.root.is_type, type=name)

    def schema(self, schema: Any) -> Check:
        """Whether an instance is valid under the subschema."""
        if schema is True:
            return _always
        if schema is False:
            return _never
        return self._entry(schema)[1]

    def keyword(self, schema: Any, name: str) -> Check:
        """Whether an instance satisfies one keyword of the subschema."""
        return self._entry(schema)[2][name]

    def _entry(self, schema: Any) -> tuple[Any, Check, dict[str, Check]]:
        entry = self._compiled.get(id(schema))
        if entry is None or entry[0] is not schema:
            compiled = {k: self._compile(schema, k, v) for k, v in schema.items() if k in self.keywords}
            entry = (schema, _all(list(compiled.values())), compiled)
            self._compiled[id(schema)] = entry  # the schema is held too, so its id is never reused meanwhile
        return entry

    def _compile(self, schema: dict[str, Any], name: str, value: Any) -> Check:
        build = _BUILDERS.get(name)
        made = build(self, schema, value) if build is not None else None
        return made if made is not None else self._own(schema, name, value)

    def _own(self, schema: dict[str, Any], name: str, value: Any) -> Check:
        """jsonschema's own function for the keyword: exact for any keyword, and as slow as jsonschema."""
        keyword = self.keywords[name]

        def check(instance: Any) -> bool:
            errors = keyword(self.root.evolve(schema=schema), value, instance, schema) or ()
            return next(iter(errors), None) is None

        return check

    def _type(self, schema: dict[str, Any], value: Any) -> Check | None:
        names = value if isinstance(value, list) else [value]
        if not all(isinstance(n, str) and self._known(n) for n in names):
            return None  # an unknown type raises in jsonschema's function: let it
        checks = [self.type_check(n) for n in names]
        return checks[0] if len(checks) == 1 else lambda x: any(c(x) for c in checks)

    def _known(self, name: str) -> bool:
        try:
            self._checker.is_type(None, name)
        except UndefinedTypeCheck:
            return False
        return True

    def _properties(self, schema: dict[str, Any], value: Any) -> Check | None:
        if not isinstance(value, dict):
            return None
        children = [(name, self.schema(sub)) for name, sub in value.items()]
        obj = self.obj

        def check(instance: Any) -> bool:
            return not obj(instance) or all(valid(instance[name]) for name, valid in children if name in instance)

        return check

    def _required(self, schema: dict[str, Any], value: Any) -> Check | None:
        if not isinstance(value, list):
            return None
        obj = self.obj
        return lambda x: not obj(x) or all(name in x for name in value)

    def _additionalProperties(self, schema: dict[str, Any], value: Any) -> Check | None:
        if "patternProperties" in schema:
            return None
        listed, obj = schema.get("properties", {}), self.obj
        if isinstance(value, dict):
            valid = self.schema(value)
            return lambda x: not obj(x) or all(valid(x[k]) for k in x if k not in listed)
        if value:
            return _always
        return lambda x: not obj(x) or all(k in listed for k in x)

    def _items(self, schema: dict[str, Any], value: Any) -> Check | None:
        prefix, arr = len(schema.get("prefixItems", [])), self.arr
        if value is False:
            return lambda x: not arr(x) or len(x) <= prefix
        valid = self.schema(value)
        return lambda x: not arr(x) or all(valid(item) for item in x[prefix:])

    def _prefixItems(self, schema: dict[str, Any], value: Any) -> Check | None:
        checks, arr = [self.schema(sub) for sub in value], self.arr
        return lambda x: not arr(x) or all(c(item) for c, item in zip(checks, x, strict=False))

    def _allOf(self, schema: dict[str, Any], value: Any) -> Check | None:
        return _all([self.schema(sub) for sub in value])

    def _anyOf(self, schema: dict[str, Any], value: Any) -> Check | None:
        checks = [self.schema(sub) for sub in value]
        return lambda x: any(c(x) for c in checks)

    def _oneOf(self, schema: dict[str, Any], value: Any) -> Check | None:
        checks = [self.schema(sub) for sub in value]

        def check(instance: Any) -> bool:
            valid = 0
            for c in checks:
                if c(instance):
                    valid += 1
                    if valid > 1:
                        return False
            return valid == 1

        return check

    def _not(self, schema: dict[str, Any], value: Any) -> Check | None:
        valid = self.schema(value)
        return lambda x: not valid(x)

    def _ref(self, schema: dict[str, Any], value: Any) -> Check | None:
        target = self.target(value)
        if target is None:
            return None
        return lambda x: self.schema(target)(x)  # compiled when first met: a $ref may lead back here

    def tags(self, member: Any) -> frozenset[str] | None:
        """The values a union member allows in an object's `type` field (`const` or `enum` of strings, behind
        at most one `$ref` each), or None when it does not pin them."""
        key = id(member)
        if key not in self._tags:
            self._tags[key] = (member, self._pinned(member))  # the member is kept, so its id stays its own
        return self._tags[key][1]

    def _pinned(self, member: Any, depth: int = 0) -> frozenset[str] | None:
        """A value outside the set fails the member: its `type` property, or an `allOf` part's, rejects it."""
        if isinstance(member, dict) and set(member) == {"$ref"}:
            member = self.target(member["$ref"])
        if not isinstance(member, dict) or depth > 3:
            return None
        pins = [self._pinned(part, depth + 1) for part in member.get("allOf", [])] + [self._own_pin(member)]
        found = [pin for pin in pins if pin is not None]
        return frozenset.intersection(*found) if found else None

    def _own_pin(self, member: dict[str, Any]) -> frozenset[str] | None:
        properties = member.get("properties")
        kind = properties.get("type") if isinstance(properties, dict) else None
        if isinstance(kind, dict) and set(kind) == {"$ref"}:
            kind = self.target(kind["$ref"])
        if not isinstance(kind, dict):
            return None
        values = [kind["const"]] if "const" in kind else kind.get("enum")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            return None
        return frozenset(values)

    def target(self, ref: Any) -> Any:
        """What a same-document `#/...` reference points at in the root schema; None for any other reference."""
        found = self._targets.get(ref) if isinstance(ref, str) else None
        if found is None and isinstance(ref, str):
            found = self._targets[ref] = self._pointer(ref)
        return found

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return None
        node: Any = self.root.schema
        for step in filter(None, unquote(ref[1:]).split("/")):
            key = step.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                return None
        return node if isinstance(node, dict | bool) else None

    def _enum(self, schema: dict[str, Any], value: Any) -> Check | None:
        if not isinstance(value, list):
            return None
        texts = frozenset(v for v in value if isinstance(v, str))
        null = any(v is None for v in value)
        own = self._own(schema, "enum", value)
        return lambda x: x in texts if isinstance(x, str) else null if x is None else own(x)

    def _const(self, schema: dict[str, Any], value: Any) -> Check | None:
        own = self._own(schema, "const", value)
        return lambda x: x == value if isinstance(x, str) else value is None if x is None else own(x)

    def _format(self, schema: dict[str, Any], value: Any) -> Check | None:
        formats: jsonschema.FormatChecker | None = getattr(self.root, "format_checker", None)
        return _always if formats is None else lambda x: formats.conforms(x, value)

    def _minLength(self, schema: dict[str, Any], value: Any) -> Check | None:
        text = self.text
        return lambda x: not (text(x) and len(x) < value)

    def _maxLength(self, schema: dict[str, Any], value: Any) -> Check | None:
        text = self.text
        return lambda x: not (text(x) and len(x) > value)

    def _minItems(self, schema: dict[str, Any], value: Any) -> Check | None:
        arr = self.arr
        return lambda x: not (arr(x) and len(x) < value)

    def _maxItems(self, schema: dict[str, Any], value: Any) -> Check | None:
        arr = self.arr
        return lambda x: not (arr(x) and len(x) > value)

    def _minimum(self, schema: dict[str, Any], value: Any) -> Check | None:
        number = self.type_check("number")
        return lambda x: not (number(x) and x < value)

    def _maximum(self, schema: dict[str, Any], value: Any) -> Check | None:
        number = self.type_check("number")
        return lambda x: not (number(x) and x > value)

    def _pattern(self, schema: dict[str, Any], value: Any) -> Check | None:
        if not isinstance(value, str):
            return None
        search, text = re.compile(value).search, self.text
        return lambda x: not text(x) or search(x) is not None


_BUILDERS: dict[str, Callable[[_Predicates, dict[str, Any], Any], Check | None]] = {
    "type": _Predicates._type,
    "properties": _Predicates._properties,
    "required": _Predicates._required,
    "additionalProperties": _Predicates._additionalProperties,
    "items": _Predicates._items,
    "prefixItems": _Predicates._prefixItems,
    "allOf": _Predicates._allOf,
    "anyOf": _Predicates._anyOf,
    "oneOf": _Predicates._oneOf,
    "not": _Predicates._not,
    "$ref": _Predicates._ref,
    "enum": _Predicates._enum,
    "const": _Predicates._const,
    "format": _Predicates._format,
    "minLength": _Predicates._minLength,
    "maxLength": _Predicates._maxLength,
    "minItems": _Predicates._minItems,
    "maxItems": _Predicates._maxItems,
    "minimum": _Predicates._minimum,
    "maximum": _Predicates._maximum,
    "pattern": _Predicates._pattern,
}


def _skipping(predicates: list[_Predicates], name: str, keyword: Keyword) -> Keyword:
    """The keyword, run only when the instance fails it; the pruning ones descend only into failing children."""

    def run(validator: Any, value: Any, instance: Any, schema: Any) -> Iterable[ValidationError] | None:
        check = predicates[0]
        if check.keyword(schema, name)(instance):
            return ()
        if name == "properties" and isinstance(instance, dict):
            failing = {k: s for k, s in value.items() if k in instance and not check.schema(s)(instance[k])}
            return keyword(validator, failing, instance, schema)
        if name == "items" and isinstance(instance, list) and "prefixItems" not in schema and value is not False:
            return _failing_items(validator, check.schema(value), value, instance)
        if name == "allOf":
            return _failing_members(validator, check, value, instance)
        if name in ("oneOf", "anyOf") and (named := _named_member(check, value, instance)) is not None:
            return _tagged(validator, keyword, value, named, instance, schema)
        if name == "$ref" and (target := check.target(value)) is not None:
            return validator.descend(instance, target)  # as jsonschema's lookup would, the base URI being the root's
        return keyword(validator, value, instance, schema)

    return run


def _named_member(check: _Predicates, members: Any, instance: Any) -> int | None:
    """In a tagged union (every member pins the object's `type` field), the one member the instance's `type`
    names; None when the union is not tagged or the name selects no member, or several."""
    if not isinstance(instance, dict) or not isinstance(instance.get("type"), str) or not isinstance(members, list):
        return None
    tags = [check.tags(member) for member in members]
    named = [i for i, values in enumerate(tags) if values is not None and instance["type"] in values]
    return named[0] if len(named) == 1 and all(values is not None for values in tags) else None


def _tagged(
    validator: Any, keyword: Keyword, members: list[Any], named: int, instance: Any, schema: Any
) -> Iterable[ValidationError] | None:
    """A tagged union fails with the named member's errors alone: every other member fails on the tag, which
    says nothing about the instance. (jsonschema would explain them all, tens of members for an output item.)"""
    errors = list(validator.descend(instance, members[named], schema_path=named))
    if not errors:  # the named member holds, so another one does too: jsonschema says which
        return keyword(validator, members, instance, schema)
    return [ValidationError(f"{instance!r} is not valid under any of the given schemas", context=errors)]


def _failing_items(validator: Any, valid: Check, items: Any, instance: list[Any]) -> Iterator[ValidationError]:
    """jsonschema's `items` without `prefixItems`, descending only into the items that fail."""
    for index, item in enumerate(instance):
        if not valid(item):
            yield from validator.descend(instance=item, schema=items, path=index)


def _failing_members(
    validator: Any, check: _Predicates, members: list[Any], instance: Any
) -> Iterator[ValidationError]:
    """jsonschema's `allOf`, descending only into the members that fail."""
    for index, member in enumerate(members):
        if not check.schema(member)(instance):
            yield from validator.descend(instance, member, schema_path=index)


def skipping_validator(
    schema: dict[str, Any],
    cls: type[Validator] = jsonschema.Draft202012Validator,
    format_checker: jsonschema.FormatChecker | None = None,
) -> Validator:
    """A validator for `schema` that reports what `cls` would, skipping the valid parts."""
    if any(_scoped(v) if k != "$defs" else _defs_scoped(v) for k, v in schema.items()) or _SCOPED & schema.keys():
        return cls(schema, format_checker=format_checker)
    own = dict(cls.VALIDATORS)
    predicates: list[_Predicates] = []  # filled once the validator exists: predicates need it to resolve $ref
    fast = jsonschema.validators.extend(cls, {k: _skipping(predicates, k, fn) for k, fn in own.items()})
    validator = fast(schema, format_checker=format_checker)
    predicates.append(_Predicates(validator, own))
    return validator
