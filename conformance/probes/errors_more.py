"""More error probes: a bad key, a body over the size cap, wrong field types, unknown fields, empty input.

Same contract as conformance/probes/errors.py: a clean 4xx with an OpenAI error object is PASS; a
server that serves the request anyway is IGNORED (a peer that checks no key serves the bad key).
"""

from __future__ import annotations

from conformance.checks.errors import rejected_with
from conformance.probes.base import Expect, Probe, Request, single

BAD_KEY = "sk-conformance-invalid-key"


def _oversized(model: str) -> Request:
    """A quarter over the provider's cap, in words that are cheap to tokenise should it be served anyway."""

    def body(cap: int) -> dict[str, str]:
        return {"model": model, "input": "hello " * ((cap + cap // 4) // len("hello "))}

    return Request(sized=body)


PROBES = (
    Probe(
        "errors.bad_key",
        "errors",
        "an invalid API key gets 401 (or 403, as OVHcloud documents for a revoked key) and an error object",
        single(lambda model: Request({"model": model, "input": "Say hello."}, api_key=BAD_KEY)),
        (rejected_with(401, 403),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.body_over_cap",
        "errors",
        "a body a quarter over the provider's cap (2 MiB if unstated) gets 413 (or 400) and an error object",
        single(_oversized),
        (rejected_with(413, 400),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.temperature_type",
        "errors",
        "`temperature` of the wrong type (a string) gets 400 and an error object",
        single(lambda model: Request({"model": model, "input": "Say hello.", "temperature": "hot"})),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.unknown_parameter",
        "errors",
        "an unknown top-level parameter gets 400 and an error object",
        single(lambda model: Request({"model": model, "input": "Say hello.", "conformance_unknown_parameter": True})),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.empty_input",
        "errors",
        "`input` as an empty list gets 400 and an error object",
        single(lambda model: Request({"model": model, "input": []})),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
)
