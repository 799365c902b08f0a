"""Keep credentials out of everything the suite writes: cassettes, results, reports and logs."""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from conformance import safejson

REDACTED = "REDACTED"
_SECRET_HEADER = re.compile(r"authorization|api[-_]?key|token|secret|cookie|password", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[^\s\"',]+", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret, in any disguise `secret_pattern` knows, and anything after 'Bearer '."""
    for secret in secrets:
        if secret and may_hold(text, secret):
            text = secret_pattern(secret).sub(REDACTED, text)
    return _BEARER.sub(rf"\g<1>{REDACTED}", text) if "bearer" in text.lower() else text


def shows(text: str, secrets: Iterable[str]) -> bool:
    """Whether the text holds a secret in a form `scrub` would cut (any disguise `secret_pattern` knows)."""
    return any(secret and may_hold(text, secret) and secret_pattern(secret).search(text) for secret in secrets)


MAX_ESCAPES = 50_000
_ESCAPE = re.compile(
    r"\\u([0-9a-fA-F]{4})|%([0-9a-fA-F]{2})|\\x([0-9a-fA-F]{2})|&#[xX]([0-9a-fA-F]{1,6});|&#([0-9]{1,7});|\\(/)"
)
# Characters that show as nothing, so a server can interleave them with a key's; also as their UTF-8
# bytes read one per character (as recorded bytes are searched) and in each escaping of them.
_INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
_INVISIBLE_BYTES = tuple(c.encode("utf-8").decode("latin-1") for c in _INVISIBLE)
_GAP = (
    "(?:"
    + "|".join(
        [
            *_INVISIBLE,
            *_INVISIBLE_BYTES,
            *("".join(f"%{ord(b):02x}" for b in c) for c in _INVISIBLE_BYTES),
            *(rf"\\u{ord(c):04x}" for c in _INVISIBLE),
            *(f"&#0*{ord(c)};" for c in _INVISIBLE),
            *(f"&#x0*{ord(c):x};" for c in _INVISIBLE),
        ]
    )
    + ")*"
)
_MARKS = ("\\", "%", "&#")  # what only a disguised secret needs undone, beside the invisible characters
MIN_BASE64 = 8  # a shorter secret's base64 is too short to tell from any other base64


def _unescaped(match: re.Match[str]) -> str:
    *hex_codes, decimal, slash = match.groups()
    hex_code = next((h for h in hex_codes if h), None)
    code = int(hex_code, 16) if hex_code else int(decimal) if decimal else -1
    return slash or (chr(code) if 0 <= code <= 0x10FFFF else match.group())


def may_hold(text: str, secret: str) -> bool:
    """Whether the text can hold the secret in any disguise: str methods first, one regex pass at most.

    The disguise-aware pattern costs a regex step per character; this check costs a lower(), a few
    finds and counts, and undoes escapes only when the text has some, so megabytes without the key
    pass quickly.
    """
    needle, lowered = secret.lower(), text.lower()
    if needle in lowered or any(core in text for core in base64_cores(secret)):
        return True
    if any(form in lowered for form in hex_forms(secret)):
        return True
    marks = sum(text.count(mark) for mark in _MARKS)
    if not text.isascii():  # as fast as a find: most text is ASCII, and holds no invisible character
        marks += any(c in text for c in (*_INVISIBLE, *_INVISIBLE_BYTES))
    if not marks:
        return False
    if marks > MAX_ESCAPES:
        return True  # undoing them one by one would cost more than the pattern itself: let it decide
    plain = _ESCAPE.sub(_unescaped, text)
    for invisible in (*_INVISIBLE_BYTES, *_INVISIBLE):
        plain = plain.replace(invisible, "")
    return needle in plain.lower()


@functools.lru_cache(maxsize=64)
def base64_cores(secret: str) -> tuple[str, ...]:
    """The secret's base64 wherever it starts in a 3-byte group (standard and URL-safe alphabets): only
    the characters made of its bytes alone, since the first and last also hold their neighbours' bits.

    Base64 is case-sensitive and mostly letters, so these are searched for as they are."""
    data = secret.encode("utf-8")
    if len(data) < MIN_BASE64:
        return ()
    cores = []
    for lead in range(3):
        encoded = base64.b64encode(bytes(lead) + data + bytes(3)).decode("ascii")
        core = encoded[-(-8 * lead // 6) : 8 * (lead + len(data)) // 6]
        cores += [core, core.translate(_URL_SAFE), core.replace("/", "\\/")]  # the last as JSON may write it
    return tuple(dict.fromkeys(cores))


_URL_SAFE = str.maketrans("+/", "-_")


@functools.lru_cache(maxsize=64)
def hex_forms(secret: str) -> tuple[str, ...]:
    """The secret's UTF-8 bytes in hex, lower case, as a request dump shows them: run together, or a space or
    a colon between bytes (xxd, Wireshark). Searched case-blind; none for a secret as short as MIN_BASE64."""
    data = secret.encode("utf-8")
    if len(data) < MIN_BASE64:
        return ()
    pairs = [f"{b:02x}" for b in data]
    return ("".join(pairs), " ".join(pairs), ":".join(pairs))


@functools.lru_cache(maxsize=64)
def secret_pattern(secret: str) -> re.Pattern[str]:
    """The secret as a server may echo it: any case; any character JSON-escaped (\\uXXXX, \\/), %XX- or
    \\xXX-encoded, or an HTML character reference; invisible characters between them; or as base64 or hex."""
    parts = []
    for char in secret:
        forms = {re.escape(char), re.escape(char.lower()), re.escape(char.upper())}
        forms |= {f"&#0*{ord(char)};", f"&#x0*{ord(char):x};"}
        if ord(char) < 0x10000:
            forms.add(rf"\\u{ord(char):04x}")
        if ord(char) < 0x80:
            forms |= {f"%{ord(char):02x}", rf"\\x{ord(char):02x}"}
        if char == "/":
            forms.add(r"\\/")
        parts.append("(?:" + "|".join(sorted(forms)) + ")")
    cores = "|".join(re.escape(core) for core in base64_cores(secret))
    plain = "|".join([_GAP.join(parts), *map(re.escape, hex_forms(secret))])
    return re.compile(f"{plain}|(?-i:{cores})" if cores else plain, re.IGNORECASE)


def scrub_across(pieces: Sequence[str], secrets: Iterable[str]) -> list[str]:
    """Each piece as given, except that a secret split over pieces is cut out of each share (`secret_shares`);
    a piece holding a share is re-serialised, its other strings as they were."""
    cuts: dict[int, dict[str, str]] = {}
    for index, value, cut in secret_shares(pieces, secrets):
        cuts.setdefault(index, {})[value] = cut
    out = list(pieces)
    for index, mine in cuts.items():
        out[index] = _with_cuts(pieces[index], mine)
    return out


def _with_cuts(piece: str, cuts: dict[str, str]) -> str:
    return json.dumps(mapped_strings(json.loads(piece), lambda s: cuts.get(s, s)), ensure_ascii=False)


def secret_shares(pieces: Sequence[str], secrets: Iterable[str]) -> list[tuple[int, str, str]]:
    """(piece, value, value without its share) for each string of a piece holding a share of a split secret,
    in piece order, then document order.

    Pieces are JSON (stream events). Strings at one path, array indices aside, are joined across the
    pieces in order, as a client joins them: `delta` across deltas, and nested ones too, `part.text` or
    `item.content[].text` across two messages, `response.output[].content[].text` within the final one.
    """
    secrets = [s for s in secrets if s]
    if not secrets:  # a replay without a key: no event is parsed for a share
        return []
    return [(index, value, cut) for (index, _), value, cut in _path_shares([_loaded(p) for p in pieces], secrets)]


def nested_shares(data: Any, secrets: Iterable[str]) -> list[tuple[str, str]]:
    """(value, value without its share) for each string of a JSON value holding a share of a split secret,
    in document order: `secret_shares` of one piece."""
    return [(value, cut) for _, value, cut in _path_shares([data], secrets)]


def _path_shares(docs: Sequence[Any], secrets: Iterable[str]) -> list[tuple[tuple[int, int], str, str]]:
    """((doc, place in it), value, cut) for each share, the strings at each path joined across the docs."""
    by_path: dict[tuple[str, ...], list[tuple[tuple[int, int], str]]] = {}
    for index, doc in enumerate(docs):
        for order, (path, value) in enumerate(_strings(doc, ())):
            by_path.setdefault(path, []).append(((index, order), value))
    return sorted(share for values in by_path.values() for share in _shares(values, secrets))


def scrub_json_text(text: str, secrets: Sequence[str]) -> str:
    """A body scrubbed, and when it is JSON a secret split across its strings cut from each (`nested_shares`),
    the other bytes as sent; a share written in an escaping not found as such re-serialises the body."""
    text = scrub(text, secrets)
    if not any(secrets):
        return text
    try:
        data = safejson.loads_answer(text)  # as the checks read it
    except ValueError:
        return text
    shares = nested_shares(data, secrets)
    cuts, kept, cursor = dict(shares), [], 0
    for value, cut in shares:
        forms = (json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1])
        found = [(text.find(f, cursor), f) for f in forms]
        at, form = min(((i, f) for i, f in found if i != -1), default=(-1, ""))
        if at == -1:
            return json.dumps(mapped_strings(data, lambda s: cuts.get(s, s)), ensure_ascii=False)
        kept.append(text[cursor:at] + json.dumps(cut, ensure_ascii=False)[1:-1])
        cursor = at + len(form)
    return "".join(kept) + text[cursor:]


def mapped_strings(data: Any, change: Callable[[str], str]) -> Any:
    """A decoded JSON value with every string in it, member names too, passed through `change`."""
    if isinstance(data, str):
        return change(data)
    if isinstance(data, list):
        return [mapped_strings(item, change) for item in data]
    if isinstance(data, dict):
        return {change(name): mapped_strings(item, change) for name, item in data.items()}
    return data


def _strings(data: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item, (*path, "[]"))
    elif isinstance(data, dict):
        for name, item in data.items():
            yield from _strings(item, (*path, name))


def _shares(
    values: Sequence[tuple[tuple[int, int], str]], secrets: Iterable[str]
) -> list[tuple[tuple[int, int], str, str]]:
    """(place, value, cut) for each value holding a share of a secret that shows in the values joined in
    order: the first share becomes REDACTED, the others nothing."""
    joined = "".join(value for _, value in values)
    held = [secret_pattern(s) for s in secrets if s and may_hold(joined, s)]
    spans = [m.span() for pattern in held for m in pattern.finditer(joined)]
    shares, offset = [], 0
    for place, value in values:
        start, stop = offset, offset + len(value)
        offset = stop
        cuts = [(max(a, start) - start, min(b, stop) - start, a >= start) for a, b in spans if a < stop and b > start]
        if cuts:
            shares.append((place, value, _cut(value, cuts)))
    return shares


def _loaded(piece: str) -> Any:
    """A piece's JSON, or None when it is not JSON a client would read (not JSON, or nested too deep)."""
    try:
        return safejson.loads(piece)
    except ValueError:
        return None


def _cut(value: str, cuts: list[tuple[int, int, bool]]) -> str:
    kept, last = [], 0
    for a, b, first in sorted(cuts):
        kept.append(value[last:a] + (REDACTED if first else ""))
        last = max(last, b)
    return "".join(kept) + value[last:]


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str]) -> dict[str, str]:
    """Lower-cased header names; any credential-bearing header's value is replaced.

    Names are scrubbed too (a server can echo a key as a name); `scrub` matches any letter case.
    """
    secrets = list(secrets)
    out: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        redact = _SECRET_HEADER.search(lname) and lname != "x-warning"
        out[scrub(lname, secrets)] = REDACTED if redact else scrub(value, secrets)
    return out


class _SecretLogFilter(logging.Filter):
    """Scrubs known secrets from HTTP libraries' log records: httpcore logs headers verbatim at DEBUG."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()  # replaced whole, never changed in place: other threads read it

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            clean = scrub(text, self.secrets)
            if clean != text:
                record.msg, record.args = clean, ()
        return True


_LOG_FILTER = _SecretLogFilter()
# Filters on a logger see only records logged there, not its children's, so each emitting logger is named.
HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")


def guard(secrets: Iterable[str]) -> None:
    """From now on, these secrets never appear in what the HTTP libraries log, nor in what the suite
    prints (`scrub_guarded` is the terminal's scrub)."""
    _LOG_FILTER.secrets = tuple(dict.fromkeys([*_LOG_FILTER.secrets, *(s for s in secrets if s)]))
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)


def scrub_guarded(text: str) -> str:
    """The text without any secret `guard` was given: every line printed passes here, whatever made it."""
    secrets = _LOG_FILTER.secrets
    return scrub(text, secrets) if secrets else text
