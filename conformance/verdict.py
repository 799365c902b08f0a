"""From findings and the HTTP outcome to one status per cell, and the finding that decided it.

A cell answers "does this feature work for a client?", so the status follows client impact (the
grading principle, conformance/README.md). Precedence, first match wins:

1. the harness could not decide (a `harness.*` MUST: transport error, 429, refused key): ERROR;
2. a feature probe was not served: a 4xx, or a 501 Not Implemented, is UNSUPPORTED, whatever its
   envelope (the SDK raises by status code); a 5xx on every try is FAIL (the request breaks the
   server), any other 5xx ERROR, for a probe expecting a rejection too (a blip says nothing of it);
   a 4xx to a GET of a response the cell deleted is no refusal: it is what the delete is for; in a
   probe expecting a rejection, only its last request is meant to be refused: an earlier one is the
   setup the feature needs (a stored response, to show GET /responses/{id} exists), read as any
   feature probe's request, so a server without the route is UNSUPPORTED, not a pass by luck;
3. the answer was cut short (status incomplete), or the server reported it failed (a Response's `error`, an
   error event): FAIL with its reason, in the server's words, never an absent effect;
4. a MUST was broken: FAIL, or IGNORED when every broken MUST is an `effect` rule;
5. a SHOULD was broken: NON-STRICT; otherwise PASS, or ACCEPTED when the effect cannot be observed.

The deciding finding is the cell's one-line reason, so it is the server's own words where it gave some.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from conformance.checks import RULES
from conformance.checks.core import FAILED, INCOMPLETE
from conformance.checks.http import REJECTION, SERVER_ERROR, SERVER_ERROR_ONCE, refusal, reproducible, server_error
from conformance.evidence import Exchange, Finding, Level, Status
from conformance.probes import Expect


@dataclass(frozen=True)
class Decision:
    status: Status
    reason: Finding | None  # the finding that decided the status; None for a clean PASS or ACCEPTED


def first_rejection(exchanges: Sequence[Exchange]) -> Exchange | None:
    """The first exchange that did not succeed (transport error, even mid-body, or non-2xx), if any.

    A 4xx to a GET of a URL an earlier exchange deleted with a 2xx is the delete's effect, and its
    checks judge it (state.delete): read as a refusal, it made a working delete UNSUPPORTED.
    """
    deleted: set[str] = set()
    for ex in exchanges:
        if ex.error is None and ex.status is not None and 400 <= ex.status < 500 and _gone(ex, deleted):
            continue
        if ex.error is not None or ex.status is None or not 200 <= ex.status < 300:
            return ex
        if ex.method == "DELETE":
            deleted.add(ex.url)
    return None


def _gone(ex: Exchange, deleted: set[str]) -> bool:
    return ex.method == "GET" and ex.url in deleted


def _first(findings: Iterable[Finding], *rules: str) -> Finding | None:
    return next((f for f in findings if not rules or f.rule in rules), None)


def _not_served(expect: Expect, rejection: Exchange, findings: Sequence[Finding], last: bool = True) -> Decision | None:
    """A request that got no 2xx. A feature refused (4xx, 501) is UNSUPPORTED; a 5xx on every try FAIL,
    any other ERROR. A probe expecting a rejection is its checks' to judge, but for a 5xx that did not
    repeat (a blip says nothing of how the server refuses), and for a request before its `last`, which is
    the setup the refused request needs and is read as a feature probe's."""
    assert rejection.status is not None  # a transport error carries a harness finding
    status = rejection.status
    if expect is Expect.REJECTED and last:
        blip = server_error(status) and not refusal(status) and not reproducible(rejection)
        return Decision(Status.ERROR, _first(findings, SERVER_ERROR_ONCE.id)) if blip else None
    if refusal(status):
        return Decision(Status.UNSUPPORTED, _first(findings, REJECTION.id))
    if server_error(status):
        reproduced = _first(findings, SERVER_ERROR.id)
        if reproduced is not None:
            return Decision(Status.FAIL, reproduced)
        return Decision(Status.ERROR, _first(findings, SERVER_ERROR_ONCE.id))
    return Decision(Status.FAIL, _first(f for f in findings if f.level is Level.MUST))


def decide(expect: Expect, exchanges: Sequence[Exchange], findings: Sequence[Finding]) -> Decision:
    if not exchanges:
        return Decision(Status.ERROR, None)
    musts = [f for f in findings if f.level is Level.MUST]
    harness = _first(f for f in musts if f.rule.startswith("harness."))
    if harness is not None:
        return Decision(Status.ERROR, harness)
    rejection = first_rejection(exchanges)
    if rejection is not None:
        unserved = _not_served(expect, rejection, findings, last=rejection is exchanges[-1])
        if unserved is not None:
            return unserved
    cut = _first(musts, INCOMPLETE.id, FAILED.id)
    if cut is not None:
        return Decision(Status.FAIL, cut)
    broken = _first(f for f in musts if not RULES[f.rule].effect)
    if broken is not None:
        return Decision(Status.FAIL, broken)
    if musts:
        return Decision(Status.IGNORED, musts[0])
    should = _first(f for f in findings if f.level is Level.SHOULD)
    if should is not None:
        return Decision(Status.NON_STRICT, should)
    return Decision(Status.ACCEPTED if expect is Expect.UNOBSERVABLE else Status.PASS, None)


def verdict(expect: Expect, exchanges: Sequence[Exchange], findings: Sequence[Finding]) -> Status:
    return decide(expect, exchanges, findings).status
