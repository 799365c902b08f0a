"""Echoes of request settings in the Response, and the one rule for an echo that is not there at all.

A setting echoed with another value is the feature's own finding (the server changed or ignored
it). An echo field that is absent, or null, is a field the SDK lists and the Response lacks: that
is a generic shape gap, judged once per model in the core column (response.schema, response.fields),
so in a feature's cell it is information and leaves the cell alone.
"""

from __future__ import annotations

from conformance.checks.rules import quote, rule
from conformance.evidence import Finding, Level
from conformance.jsonpath import MISSING

ECHO_ABSENT = rule(
    "response.echo_absent",
    Level.INFO,
    "a setting the request sent has no echo in the Response (a listed field: judged in the core column)",
)


def absent(value: object) -> bool:
    """Not there for a client: the SDK reads both an absent field and a null one as None."""
    return value is MISSING or value is None


def absent_echo(path: str, sent: object, prefix: str = "") -> Finding:
    return ECHO_ABSENT.finding(
        f"{prefix}{path} {quote(sent)} was sent and the Response has no {path} (judged in the core column)"
    )
