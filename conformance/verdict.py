"""From findings and the HTTP outcome to one status per cell.

Precedence, first match wins: the harness could not decide (ERROR); the server broke a MUST (FAIL);
the feature was silently ignored (IGNORED); the feature was cleanly rejected (UNSUPPORTED); a SHOULD
was broken (NON-STRICT); otherwise PASS, or ACCEPTED when the effect cannot be observed.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.checks import RULES
from conformance.checks.http import ERROR_OBJECT
from conformance.evidence import Exchange, Finding, Level, Status
from conformance.probes import Expect


def first_rejection(exchanges: Sequence[Exchange]) -> Exchange | None:
    """The first exchange that did not succeed (transport error, even mid-body, or non-2xx), if any."""
    for ex in exchanges:
        if ex.error is not None or ex.status is None or not 200 <= ex.status < 300:
            return ex
    return None


def verdict(expect: Expect, exchanges: Sequence[Exchange], findings: Sequence[Finding]) -> Status:
    if not exchanges:
        return Status.ERROR
    musts = [f for f in findings if f.level is Level.MUST]
    if any(f.rule.startswith("harness.") for f in musts):
        return Status.ERROR
    rejection = first_rejection(exchanges)
    if expect is not Expect.REJECTED and rejection is not None:
        assert rejection.status is not None  # a transport error carries a harness finding
        if rejection.status >= 500:
            return Status.ERROR
        if 400 <= rejection.status < 500 and not any(f.rule == ERROR_OBJECT.id for f in findings):
            return Status.UNSUPPORTED
        return Status.FAIL
    if any(not RULES[f.rule].effect for f in musts):
        return Status.FAIL
    if musts:
        return Status.IGNORED
    if any(f.level is Level.SHOULD for f in findings):
        return Status.NON_STRICT
    return Status.ACCEPTED if expect is Expect.UNOBSERVABLE else Status.PASS
