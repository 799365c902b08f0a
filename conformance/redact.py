"""Keep credentials out of everything the suite writes: cassettes, results, reports and logs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

REDACTED = "REDACTED"
_SECRET_HEADER = re.compile(r"authorization|api[-_]?key|token|secret|cookie|password", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[^\s\"',]+", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret, and anything after 'Bearer ', by REDACTED."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _BEARER.sub(rf"\g<1>{REDACTED}", text)


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str]) -> dict[str, str]:
    """Lower-cased header names; any credential-bearing header's value is replaced.

    Names are scrubbed too, against lower-cased secrets as well: a server can echo a key as a name.
    """
    secrets = list(secrets)
    name_secrets = [*secrets, *(s.lower() for s in secrets)]
    out: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        redact = _SECRET_HEADER.search(lname) and lname != "x-warning"
        out[scrub(lname, name_secrets)] = REDACTED if redact else scrub(value, secrets)
    return out
