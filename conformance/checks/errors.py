"""Checks for probes that send an invalid request on purpose: it must be rejected, with the right code."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from conformance.checks.http import server_error
from conformance.checks.rules import quote, rule
from conformance.evidence import Exchange, Finding, Level

REJECTED = rule("error.rejected", Level.MUST, "an invalid request is rejected with a 4xx, not served", effect=True)
CLIENT_ERROR = rule("error.client_status", Level.MUST, "an invalid request gets a 4xx, not a 5xx")
STATUS = rule("error.status_code", Level.SHOULD, "the 4xx is the code OpenAI uses for this mistake")


def rejected_with(*expected: int) -> Callable[[Sequence[Exchange]], Iterator[Finding]]:
    """The last exchange must be a 4xx, ideally one of `expected` (where OpenAI's own code is not settled)."""
    wanted = " or ".join(map(str, expected))

    def check(exchanges: Sequence[Exchange]) -> Iterator[Finding]:
        ex = exchanges[-1] if exchanges else None
        if ex is None or ex.status is None:
            return
        if 200 <= ex.status < 300:
            yield REJECTED.finding(f"expected a {wanted}, got {ex.status}: {quote(ex.body)}")
        elif server_error(ex.status):
            yield CLIENT_ERROR.finding(f"expected a {wanted}, got {ex.status}: {quote(ex.body)}")
        elif 400 <= ex.status < 500 and ex.status not in expected:
            yield STATUS.finding(f"expected {wanted}, got {ex.status}")

    check.__name__ = "rejected_with_" + "_or_".join(map(str, expected))
    return check
