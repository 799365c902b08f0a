"""URLs the suite builds: server-supplied values become safe path segments, and no URL leaves its base.

A response id goes into `GET /responses/{id}`; an id such as `../../admin` or one with a newline
would otherwise choose where the key is sent. One function validates and encodes every such value,
and every request URL is checked to stay under the configured base URL before anything is sent.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit

from conformance.redact import shows

MAX_SEGMENT = 256
_FORBIDDEN = frozenset("/\\?#")
_CREDENTIAL_QUERY = ("key", "token", "secret", "auth", "password", "signature", "sig")


class UnsafeValue(ValueError):
    """A value cannot go into a URL; the message says why, quoting a bounded, escaped excerpt."""


def _excerpt(value: str) -> str:
    return ascii(value[:60]) + ("..." if len(value) > 60 else "")


def segment(value: object, what: str = "id") -> str:
    """The value as one percent-encoded path segment, or UnsafeValue.

    Refused: non-text, empty, longer than MAX_SEGMENT, `..`, `/ \\ ? #`, whitespace, control or
    format characters (which include the bidirectional overrides), and lone surrogates (a JSON `\\ud800`
    escape), which no UTF-8 request line can carry.
    """
    if not isinstance(value, str) or not value:
        raise UnsafeValue(f"the {what} {value!r:.60} is not a non-empty string")
    if len(value) > MAX_SEGMENT:
        raise UnsafeValue(f"the {what} is {len(value)} characters long, over {MAX_SEGMENT}: {_excerpt(value)}")
    if ".." in value or value == ".":
        raise UnsafeValue(f"the {what} {_excerpt(value)} holds a dot segment")
    for char in value:
        if char in _FORBIDDEN or char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise UnsafeValue(f"the {what} {_excerpt(value)} holds {char!a}, which a URL segment must not")
    return quote(value, safe="")


def under_base(url: str, base_url: str) -> None:
    """UnsafeValue unless `url` has the base's scheme and host and a path below the base's path."""
    target, base = urlsplit(url), urlsplit(base_url)
    if (target.scheme.lower(), target.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        raise UnsafeValue(f"the request URL {_excerpt(url)} leaves the base URL's origin")
    prefix = base.path.rstrip("/") + "/"
    if not target.path.startswith(prefix):
        raise UnsafeValue(f"the request URL {_excerpt(url)} is not under the base URL's path {prefix!r}")
    for part in target.path[len(prefix) :].split("/"):
        if unquote(part) in (".", "..") or not part.isprintable() or not part.isascii():
            raise UnsafeValue(f"the request URL {_excerpt(url)} holds a segment that could leave the base URL")


def keyless(url: str, secrets: Iterable[str]) -> None:
    """UnsafeValue when the URL carries a secret in any form the scrubber knows (as is, in another case,
    %-encoded, in base64 or hex): a URL is kept in every log on its way, proxies' and servers' alike, and a
    server that put the key into a Location would have the suite send it on. Never quotes the URL.

    The host is where the request goes, not what it carries: a placeholder key named like its server
    (`ollama` for http://ollama:11434/v1, as Ollama's docs have it) is no leak."""
    parts = urlsplit(url)
    carried = "/".join((parts.netloc.rpartition("@")[0], parts.path, parts.query, parts.fragment))
    if shows(carried, secrets):
        raise UnsafeValue("the request URL carries the API key")


def credentials_in(base_url: str) -> str | None:
    """What in a base URL looks like a credential (user info, a key in the query), or None."""
    parts = urlsplit(base_url)
    if parts.username or parts.password or "@" in parts.netloc:
        return "user information (user:password@)"
    for pair in parts.query.split("&"):
        name = pair.partition("=")[0].lower()
        if any(word in name for word in _CREDENTIAL_QUERY):
            return f"a query parameter named {name!r}"
    if parts.fragment:
        return "a fragment"
    return None


def check_base_url(base_url: str) -> str:
    """The base URL, or ValueError saying what is wrong with it, without ever echoing a credential."""
    parts = urlsplit(base_url)
    found = credentials_in(base_url)
    if found:
        raise ValueError(
            f"the base URL carries {found}; it would be written into every cassette and report. "
            "Give the key through the environment (--api-key-env) and the bare URL with --base-url"
        )
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the base URL must be http(s)://host/..., got {_excerpt(base_url)}")
    return base_url
