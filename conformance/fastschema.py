"""jsonschema validators that skip what is valid: jsonschema's own errors, at a fraction of its cost.

jsonschema applies every keyword of every subschema it reaches, valid or not, and a Response reaches
thousands. Here each subschema, and each keyword of it, is compiled once into an exact predicate
(the instance satisfies it): generated Python source, one function per subschema with its keywords
inline, since a tree of closures spent more on calls than on tests. The validator runs jsonschema's
own keyword function only where the predicate fails; `properties`, `items` and `allOf` descend only
into the children that fail. Valid parts yield no error in jsonschema either, so the errors, their
order, their paths and their context are jsonschema's, while a valid subtree costs a few calls
instead of a walk. Two differences, by design. An array explains its first MAX_FAILING failing
items, and one error (validator UNREAD) counts the others: a finding quotes three anyway. And a
tagged union (`oneOf` / `anyOf` whose members each pin the object's `type` field, as every union of
the Responses API does) that fails carries in its context the errors of the member the instance's
`type` names, not those of every member failing on the tag, which is what `schemas.problems` reads
from it anyway.

A keyword without a compiled predicate is judged by calling jsonschema's own function, so every
predicate is exact and `oneOf` and `not` may rely on them. The generated code holds no value from a
schema in its text but names (`s12`, `c40`): constants are bound in its namespace, so no schema,
however written, can inject code into it. Schemas that name a base URI or an
anchor (`$id`, `$anchor`, `$dynamicRef`, ...) would change how `$ref` resolves: they get
jsonschema's validator unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import numbers
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

import jsonschema
from jsonschema.exceptions import UndefinedTypeCheck, ValidationError
from jsonschema.protocols import Validator

Check = Callable[[Any], bool]
Keyword = Callable[[Validator, Any, Any, Any], Iterable[ValidationError] | None]

MAX_FAILING = 32  # the failing items of an array explained; a finding quotes three and counts the rest
UNREAD = "unread"  # the validator of the one error that counts the failing items not explained
_SCOPED = frozenset({"$id", "$anchor", "$dynamicRef", "$dynamicAnchor", "$schema"})
_STOCK = jsonschema.Draft202012Validator.TYPE_CHECKER
_STOCK_TYPES = {  # the stock type checker's, inline: a JSON type test costs no call
    "object": "isinstance({0}, dict)",
    "array": "isinstance({0}, list)",
    "string": "isinstance({0}, str)",
    "boolean": "isinstance({0}, bool)",
    "null": "{0} is None",
    "number": "(isinstance({0}, _Number) and not isinstance({0}, bool))",
    "integer": "(isinstance({0}, int) and not isinstance({0}, bool) or isinstance({0}, float) and {0}.is_integer())",
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


class _Predicates:
    """Exact predicates for one root schema's subschemas and keywords, each compiled on first use.

    A subschema becomes one generated Python function (a `def` per subschema, its keywords inline,
    its children called by name), compiled with every subschema it reaches that is not compiled yet:
    a walk through a valid Response is then a few calls per node, where a tree of closures made
    several, and a generator, per keyword.
    """

    def __init__(self, root: Validator, keywords: Mapping[str, Keyword]) -> None:
        self.root = root
        self.keywords = keywords  # jsonschema's own keyword functions
        self._compiled: dict[int, tuple[Any, Check]] = {}
        self._named: dict[int, tuple[Any, str]] = {}
        self._keywords: dict[tuple[int, str], tuple[Any, Check]] = {}
        self._pending: list[dict[str, Any]] = []
        self._tables: list[tuple[str, Any]] = []  # tables of child functions, filled once they are all defined
        self._compiling = threading.Lock()  # judges in threads share a validator: one compiles at a time
        self._numbers = itertools.count()  # function names are never reused, even after a compile that failed
        self._targets: dict[str, Any] = {}
        self._tags: dict[int, tuple[Any, frozenset[str] | None]] = {}
        self._checker = type(root).TYPE_CHECKER
        self._stock = self._checker is _STOCK
        self._space: dict[str, Any] = {"_always": _always, "_never": _never, "_Number": numbers.Number}

    def schema(self, schema: Any) -> Check:
        """Whether an instance is valid under the subschema."""
        if schema is True:
            return _always
        if schema is False:
            return _never
        entry = self._compiled.get(id(schema))
        if entry is None or entry[0] is not schema:
            with self._building():
                if self._compiled.get(id(schema), (None,))[0] is not schema:
                    self._generate([], self.function(schema))
                entry = self._compiled[id(schema)]
        return entry[1]

    def keyword(self, schema: Any, name: str) -> Check:
        """Whether an instance satisfies one keyword of the subschema."""
        key = (id(schema), name)
        entry = self._keywords.get(key)
        if entry is None or entry[0] is not schema:
            with self._building():
                function = self._constant(None, "k")
                lines = self._keyword(schema, name, schema[name])
                self._generate([f"def {function}(x):", *_indented(lines), "    return True"], function)
                entry = self._keywords[key] = (schema, self._space[function])  # held: its id stays its own
        return entry[1]

    def function(self, schema: Any) -> str:
        """The name of the subschema's generated function; one not made yet is queued for `_generate`."""
        if schema is True:
            return "_always"
        if schema is False:
            return "_never"
        named = self._named.get(id(schema))
        if named is None or named[0] is not schema:
            named = self._named[id(schema)] = (schema, f"s{next(self._numbers)}")
            self._pending.append(schema)
        return named[1]

    @contextlib.contextmanager
    def _building(self) -> Iterator[None]:
        """One thread compiles at a time, and a compile that raises (a judge's timer signal, an interrupt, a
        pattern that is not a regex) leaves no name behind for code it did not make: the next one starts over."""
        with self._compiling:
            before = set(self._named)
            try:
                yield
            except BaseException:
                for key in set(self._named) - before:
                    del self._named[key]
                self._pending.clear()
                self._tables = []
                raise

    def _generate(self, source: list[str], name: str) -> None:
        """Compile `source` together with every subschema function queued meanwhile."""
        made: list[dict[str, Any]] = []
        while self._pending:
            schema = self._pending.pop()
            made.append(schema)
            keywords = sorted((k for k in schema if k in self.keywords), key=lambda k: _COST.get(k, 1))
            lines = [line for key in keywords for line in self._keyword(schema, key, schema[key])]
            source += [f"def {self._named[id(schema)][1]}(x):", *_indented(lines), "    return True"]
        exec(compile("\n".join(source), f"<schema predicates {name}>", "exec"), self._space)
        for table, layout in self._tables:
            self._space[table] = self._filled(layout)
        self._tables = []
        for schema in made:
            self._compiled[id(schema)] = (schema, self._space[self._named[id(schema)][1]])

    def bind(self, name: str, value: Any) -> None:
        self._space[name] = value

    def _constant(self, value: Any, prefix: str = "c") -> str:
        """A name in the generated code's namespace, holding `value`."""
        name = f"{prefix}{len(self._space)}"
        self._space[name] = value
        return name

    def _table(self, layout: Any) -> str:
        """A name for a table of child functions: `layout` is a list or dict (of lists) of their names, each
        replaced by its function once all are defined. Keys stay values: no schema text enters the code."""
        name = self._constant(None, "t")
        self._tables.append((name, layout))
        return name

    def _filled(self, layout: Any) -> Any:
        if isinstance(layout, dict):
            return {key: self._filled(value) for key, value in layout.items()}
        if isinstance(layout, list):
            return [self._filled(value) for value in layout]
        return self._space[layout]

    def _keyword(self, schema: dict[str, Any], name: str, value: Any) -> list[str]:
        """Statements that `return False` when `x` fails the keyword."""
        build = _BUILDERS.get(name)
        made = build(self, schema, value) if build is not None else None
        return made if made is not None else self._own(schema, name, value)

    def _own(self, schema: dict[str, Any], name: str, value: Any) -> list[str]:
        """jsonschema's own function for the keyword: exact for any keyword, and as slow as jsonschema."""
        keyword = self.keywords[name]

        def check(instance: Any) -> bool:
            errors = keyword(self.root.evolve(schema=schema), value, instance, schema) or ()
            return next(iter(errors), None) is None

        return [f"if not {self._constant(check)}(x): return False"]

    def is_type(self, name: str, var: str = "x") -> str:
        """An expression: whether `var` is of the JSON type, by the validator's type checker."""
        plain = _STOCK_TYPES.get(name) if self._stock else None
        if plain is not None:
            return plain.format(var)
        return f"{self._constant(functools.partial(self.root.is_type, type=name))}({var})"

    def _type(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        names = value if isinstance(value, list) else [value]
        if not all(isinstance(n, str) and self._known(n) for n in names):
            return None  # an unknown type raises in jsonschema's function: let it
        return [f"if not ({' or '.join(self.is_type(n) for n in names) or 'False'}): return False"]

    def _known(self, name: str) -> bool:
        try:
            self._checker.is_type(None, name)
        except UndefinedTypeCheck:
            return False
        return True

    def _properties(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        if not isinstance(value, dict):
            return None
        children = self._table({name: self.function(sub) for name, sub in value.items()})
        return [
            f"if {self.is_type('object')}:",
            "    for k, v in x.items():",
            f"        f = {children}.get(k)",
            "        if f is not None and not f(v): return False",
        ]

    def _required(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        if not isinstance(value, list):
            return None
        names = self._constant(value)
        return [f"if {self.is_type('object')}:", f"    for n in {names}:", "        if n not in x: return False"]

    def _additionalProperties(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        if "patternProperties" in schema:
            return None
        listed, obj = self._constant(schema.get("properties", {})), self.is_type("object")
        if isinstance(value, dict):
            valid = self.function(value)
            return [
                f"if {obj}:",
                "    for k, v in x.items():",
                f"        if k not in {listed} and not {valid}(v): return False",
            ]
        if value:
            return []
        return [f"if {obj}:", "    for k in x:", f"        if k not in {listed}: return False"]

    def _items(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        prefix, arr = len(schema.get("prefixItems", [])), self.is_type("array")
        if value is False:
            return [f"if {arr} and len(x) > {prefix}: return False"]
        valid = self.function(value)
        rest = f"x[{prefix}:]" if prefix else "x"
        return [f"if {arr}:", f"    for v in {rest}:", f"        if not {valid}(v): return False"]

    def _prefixItems(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        checks = self._table([self.function(sub) for sub in value])
        return [
            f"if {self.is_type('array')}:",
            f"    for f, v in zip({checks}, x):",
            "        if not f(v): return False",
        ]

    def _allOf(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        return [f"if not {self.function(sub)}(x): return False" for sub in value]

    def _anyOf(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        if not isinstance(value, list):
            return None
        return [
            f"for f in {self._members(value)}:",
            "    if f(x): break",
            "else:",
            "    return False",
        ]

    def _oneOf(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        if not isinstance(value, list):
            return None
        return [
            "valid = 0",
            f"for f in {self._members(value)}:",
            "    if f(x):",
            "        valid += 1",
            "        if valid > 1: return False",
            "if valid != 1: return False",
        ]

    def _members(self, members: list[Any]) -> str:
        """An expression: the union's members that `x` may satisfy, in order. An object whose `type` is a
        string cannot satisfy a member pinning `type` to other values (`tags`): a tagged union of tens of
        output item shapes tries the one its `type` names (and any member pinning nothing)."""
        functions = [self.function(m) for m in members]
        every = self._table(functions)
        tags = [self.tags(m) for m in members]
        if sum(t is not None for t in tags) < 2:
            return every
        pinned = sorted({name for t in tags if t is not None for name in t})
        by_tag = {n: [f for f, t in zip(functions, tags, strict=True) if t is None or n in t] for n in pinned}
        table = self._table(by_tag)
        rest = self._table([f for f, t in zip(functions, tags, strict=True) if t is None])
        tagged = "isinstance(x, dict) and isinstance(x.get('type'), str)"
        return f"({table}.get(x['type'], {rest}) if {tagged} else {every})"

    def _not(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        return [f"if {self.function(value)}(x): return False"]

    def _ref(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        """A target not compiled yet is compiled when first reached (`_Lazy`): a validator per event type
        reaches the whole Response through its `$defs`, and most never walk there."""
        target = self.target(value)
        if target is None:
            return None
        named = self._named.get(id(target))
        if target is True or target is False or (named is not None and named[0] is target):
            return [f"if not {self.function(target)}(x): return False"]
        lazy = self._constant(None, "r")
        self._space[lazy] = _Lazy(self, target, lazy)
        return [f"if not {lazy}(x): return False"]

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

    def _enum(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        if not isinstance(value, list):
            return None
        texts = self._constant(frozenset(v for v in value if isinstance(v, str)))
        null = any(v is None for v in value)
        return [
            "if isinstance(x, str):",
            f"    if x not in {texts}: return False",
            *(["elif x is None:", "    pass"] if null else ["elif x is None:", "    return False"]),
            *["else:", *_indented(self._own(schema, "enum", value))],
        ]

    def _const(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        same = self._constant(value)
        return [
            "if isinstance(x, str):",
            f"    if x != {same}: return False",
            "elif x is None:",
            f"    if {same} is not None: return False",
            *["else:", *_indented(self._own(schema, "const", value))],
        ]

    def _format(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        formats: jsonschema.FormatChecker | None = getattr(self.root, "format_checker", None)
        if formats is None:
            return []
        return [f"if not {self._constant(formats.conforms)}(x, {self._constant(value)}): return False"]

    def _bound(self, schema: dict[str, Any], value: Any, name: str) -> list[str]:
        """`len(x)` or `x` against the keyword's bound, for instances of the JSON type it applies to."""
        kind, test = _BOUNDS[name]
        return [f"if {self.is_type(kind)} and {test.format('x')} {self._constant(value)}: return False"]

    def _pattern(self, schema: dict[str, Any], value: Any) -> list[str] | None:
        if not isinstance(value, str):
            return None
        search = self._constant(re.compile(value).search)
        return [f"if {self.is_type('string')} and {search}(x) is None: return False"]


class _Lazy:
    """A `$ref` target's predicate, compiled at its first call; the name the generated code calls it by is
    then bound to the compiled function, so later calls go straight to it."""

    __slots__ = ("name", "predicates", "target")

    def __init__(self, predicates: _Predicates, target: Any, name: str) -> None:
        self.predicates, self.target, self.name = predicates, target, name

    def __call__(self, instance: Any) -> bool:
        compiled = self.predicates.schema(self.target)
        self.predicates.bind(self.name, compiled)
        return compiled(instance)


_COST = {"type": 0, "const": 0, "enum": 0, "required": 0, "properties": 2, "items": 2, "additionalProperties": 2}
"""A schema's keywords are tested cheapest first (all must hold, so the order changes no answer): a union
member fails on its `type` or `required` before its properties are walked."""


def _indented(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


_BOUNDS = {  # keyword: the JSON type it bounds, and the test that fails it
    "minLength": ("string", "len({}) <"),
    "maxLength": ("string", "len({}) >"),
    "minItems": ("array", "len({}) <"),
    "maxItems": ("array", "len({}) >"),
    "minimum": ("number", "{} <"),
    "maximum": ("number", "{} >"),
}

_BUILDERS: dict[str, Callable[[_Predicates, dict[str, Any], Any], list[str] | None]] = {
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
    "pattern": _Predicates._pattern,
    **{name: functools.partial(_Predicates._bound, name=name) for name in _BOUNDS},
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
    """jsonschema's `items` without `prefixItems`, descending only into the first MAX_FAILING items that fail.

    Explaining a failing item costs milliseconds (a union tries each member), so an answer of thousands
    cost minutes; at the next one, an error of validator UNREAD counts the items from there on, unread.
    """
    explained = 0
    for index, item in enumerate(instance):
        if valid(item):
            continue
        if explained == MAX_FAILING:
            left = len(instance) - index
            yield ValidationError(f"{left} more items not read", validator=UNREAD, validator_value=left, instance=item)
            return
        explained += 1
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
