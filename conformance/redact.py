"""Keep credentials out of everything the suite writes: cassettes, results, reports and logs."""

from __future__ import annotations

import logging
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


class _SecretLogFilter(logging.Filter):
    """Scrubs known secrets from HTTP libraries' log records: httpcore logs headers verbatim at DEBUG."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            text = record.getMessage()
            clean = scrub(text, [*self.secrets, *(s.lower() for s in self.secrets)])
            if clean != text:
                record.msg, record.args = clean, ()
        return True


_LOG_FILTER = _SecretLogFilter()
# Filters on a logger see only records logged there, not its children's, so each emitting logger is named.
HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")


def guard_logs(secrets: Iterable[str]) -> None:
    """From now on, these secrets never appear in what the HTTP libraries log."""
    _LOG_FILTER.secrets.update(s for s in secrets if s)
    for name in HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _LOG_FILTER not in logger.filters:
            logger.addFilter(_LOG_FILTER)
