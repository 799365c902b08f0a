"""Error probes: invalid requests sent on purpose; a clean 4xx with an OpenAI error object is PASS."""

from __future__ import annotations

from conformance.checks.errors import rejected_with
from conformance.probes.base import Expect, Probe, Request, single

UNKNOWN_MODEL = "conformance-no-such-model"

PROBES = (
    Probe(
        "errors.missing_input",
        "errors",
        "a request without `input` gets 400 and an error object",
        single(lambda model: Request({"model": model})),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.unknown_model",
        "errors",
        "an unknown model gets 404 (or 400, as OpenAI's own /v1/responses answers, code model_not_found) "
        "and an error object",
        single(lambda model: Request({"model": UNKNOWN_MODEL, "input": "Say hello."})),
        (rejected_with(404, 400),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.malformed_json",
        "errors",
        "a body that is not JSON gets 400 and an error object",
        single(lambda model: Request(raw=b'{"model": "' + model.encode() + b'", "input": ')),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
    Probe(
        "errors.wrong_type",
        "errors",
        "`input` of the wrong type (a number) gets 400 and an error object",
        single(lambda model: Request({"model": model, "input": 42})),
        (rejected_with(400),),
        Expect.REJECTED,
    ),
)
