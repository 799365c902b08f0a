"""Catalog parsing, claims, drift, fetching through live / record / replay transports, and `conformance models`.

The JSON fixtures are hand-made from the documented shapes (tests/fixtures/catalog/README.md). The
HTTP server below is a FIXTURE SERVER: stdlib http.server on loopback serving those files, so that
fetching runs through a real httpx transport and a real socket; it stands for no real provider.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from conformance.catalog.fetch import fetch_catalog
from conformance.catalog.merge import merge_entries
from conformance.catalog.model import (
    Catalog,
    ClaimRef,
    ModelEntry,
    Parsed,
    claim_record,
    drift,
    non_chat,
    redirect_warnings,
    resolve_claim,
)
from conformance.catalog.parsers import PARSERS, parse_openai_models, parse_openrouter, parse_ovh_models_v2
from conformance.cli_models import add_models_parser, models_command
from conformance.evidence import Exchange, Status
from conformance.profiles import SOURCE_KINDS, Claims, ClaimSpec, ProfileError, load_profile, profile_for
from conformance.records import CatalogRecord
from conformance.transports import CassetteTransport, NoNetworkTransport, RecordMode
from conformance.transports.cassette import load_cassette

FIXTURES = Path(__file__).parent / "fixtures" / "catalog"
KEY = "sk-catalog-test-0123456789"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def by_id(parsed: Parsed) -> dict[str, ModelEntry]:
    return {e.id: e for e in parsed.entries}


# -- the fixture server ----------------------------------------------------------------------------

ROUTES: dict[str, tuple[int, str, bytes]] = {
    "/v1/models": (200, "application/json", (FIXTURES / "openai_models.json").read_bytes()),
    "/rest/v1/models_v2": (200, "application/json", (FIXTURES / "ovh_models_v2.json").read_bytes()),
    "/rest/v2/openrouter": (200, "application/json", (FIXTURES / "openrouter.json").read_bytes()),
    "/odd/models_v2": (200, "application/json", (FIXTURES / "ovh_models_v2_odd.json").read_bytes()),
    "/odd/openrouter": (200, "application/json", (FIXTURES / "openrouter_odd.json").read_bytes()),
    "/broken": (503, "text/plain", b"catalog down for maintenance"),
    "/html": (200, "text/html", b"<html>not a catalog</html>"),
    "/bom/openrouter": (200, "application/json", b"\xef\xbb\xbf" + (FIXTURES / "openrouter.json").read_bytes()),
}


class FixtureServer:
    """A loopback HTTP server serving ROUTES on a random port, noting each request's path and key."""

    def __init__(self) -> None:
        seen: list[tuple[str, str | None]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("authorization")))
                status, content_type, body = ROUTES.get(self.path, (404, "text/plain", b"no such fixture"))
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test asserts on `seen` instead."""

        self.seen = seen
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    with FixtureServer() as running:
        yield running


@pytest.fixture
def other_server() -> Iterator[FixtureServer]:
    """A second origin, standing for a third-party catalog host."""
    with FixtureServer() as running:
        yield running


def folder(path: Path) -> Path:
    path.mkdir()
    return path


def write_profile(tmp_path: Path, base_url: str, sources: str, extra: str = "", models: str = "[]") -> Path:
    path = tmp_path / "fixture-provider.toml"
    path.write_text(
        f'[provider]\nname = "fixture"\nbase_url = "{base_url}/v1"\napi_key_env = "CATALOG_TEST_KEY"\n'
        f"rate_limit_per_min = 60\n\n[catalog]\nsources = [{sources}]\nmodels = {models}\n\n{extra}",
        encoding="utf-8",
    )
    return path


def ovh_sources(host: str) -> str:
    """The endpoint's own list, then both OVHcloud-shaped catalogs served from `host`."""
    return (
        f'{{ kind = "openai_models" }}, {{ kind = "ovh_models_v2", url = "{host}/rest/v1/models_v2" }}, '
        f'{{ kind = "openrouter", url = "{host}/rest/v2/openrouter" }}'
    )


def live() -> httpx.BaseTransport:
    return httpx.HTTPTransport(retries=0)


# -- parsers ---------------------------------------------------------------------------------------


def test_every_profile_source_kind_has_a_parser() -> None:
    assert set(PARSERS) == set(SOURCE_KINDS)


def test_openai_models_lists_ids_without_claims() -> None:
    parsed = parse_openai_models(fixture("openai_models"))
    assert [e.id for e in parsed.entries] == ["Meta-Llama-3_3-70B-Instruct", "Qwen2.5-VL-72B-Instruct", "gpt-oss-120b"]
    assert all(e.claims == {} and e.available is None and e.sources == ("openai_models",) for e in parsed.entries)
    assert parsed.warnings == []


def test_llama_cpp_models_key_is_tolerated_and_data_wins() -> None:
    parsed = parse_openai_models(fixture("llama_cpp_models"))
    assert [(e.id, e.context_length) for e in parsed.entries] == [("tiny-scripted", 4096)]
    assert parsed.warnings == []


def test_llama_cpp_models_key_is_read_when_data_is_absent() -> None:
    parsed = parse_openai_models({"models": [{"name": "a", "model": "a"}, {"name": "b"}], "object": "list"})
    assert [e.id for e in parsed.entries] == ["a", "b"]
    assert parsed.warnings == ["openai_models: no data[]; read llama.cpp's models[] instead"]


def test_openai_models_keeps_the_kind_an_entry_names_so_non_chat_models_are_not_probed() -> None:
    """Hosted providers and stacks list embedding, image and rerank models in GET /v1/models: probed, every cell of
    theirs would be a failure that says nothing of the endpoint's Responses support."""
    parsed = parse_openai_models(fixture("openai_models_kinds"))
    assert parsed.warnings == []
    catalog = Catalog("p", tuple(parsed.entries))
    chosen, skipped = catalog.selection()
    assert chosen == ["org/chat-model", "stack/llm", "router/talker", "anthropic-style"]
    assert skipped == {
        "org/embedder": "not a chat model: catalog category 'embedding'",
        "org/painter": "not a chat model: catalog category 'image'",
        "org/reranker": "not a chat model: catalog category 'rerank'",
        "stack/embedder": "not a chat model: catalog category 'embedding'",
        "router/image-maker": "outputs image, not text",
    }
    assert by_id(parsed)["anthropic-style"].category == ""  # `type: "model"` names the object, not a kind


def test_openai_models_reads_a_bare_array_as_the_list() -> None:
    """Together answers GET /v1/models with the array of models itself, not an object holding data[]."""
    parsed = parse_openai_models([{"id": "org/chat-model", "object": "model", "type": "chat"}, {"id": "b"}])
    assert [e.id for e in parsed.entries] == ["org/chat-model", "b"]
    assert parsed.warnings == ["openai_models: a bare array, not an object with data[]; read as the list of models"]


def test_ovh_models_v2_maps_capabilities_to_claims_and_reads_limits() -> None:
    parsed = parse_ovh_models_v2(fixture("ovh_models_v2"))
    assert parsed.warnings == []
    models = by_id(parsed)
    llama = models["Meta-Llama-3_3-70B-Instruct"]
    assert llama.claims == {"tools": "yes", "reasoning": "no", "streaming": "yes", "vision": "no"}
    assert llama.claim_sources == dict.fromkeys(llama.claims, "ovh_models_v2")
    assert (llama.available, llama.rate_limit_per_min, llama.rate_limit_anonymous_per_min) == (True, 400, 2)
    assert (llama.category, llama.tags) == ("Large Language Models (LLM)", ("Code Assistant",))
    assert models["Qwen2.5-VL-72B-Instruct"].claims["vision"] == "yes"
    assert models["Qwen2.5-VL-72B-Instruct"].claims["tools"] == "no"
    assert models["gpt-oss-120b"].claims["reasoning"] == "yes"
    assert models["Mistral-7B-Instruct-v0.3"].available is False
    assert models["bge-m3"].output_modalities == ("embeddings",)
    assert "structured" not in llama.claims  # models_v2 says nothing about structured outputs


def test_openrouter_maps_supported_features() -> None:
    parsed = parse_openrouter(fixture("openrouter"))
    assert parsed.warnings == []
    models = by_id(parsed)
    assert models["Meta-Llama-3_3-70B-Instruct"].claims == {
        "tools": "yes",
        "structured": "yes",
        "reasoning": "no",
        "vision": "no",
    }
    qwen = models["Qwen2.5-VL-72B-Instruct"]
    assert qwen.claims == {"tools": "no", "structured": "yes", "reasoning": "no", "vision": "yes"}  # json_mode only
    assert qwen.context_length == 32768
    assert "streaming" not in qwen.claims


def test_ovh_odd_entries_become_warnings_never_exceptions() -> None:
    parsed = parse_ovh_models_v2(fixture("ovh_models_v2_odd"))
    models = by_id(parsed)
    assert list(models) == ["odd-no-metadata", "odd-wrong-types", "odd-new-shape"]
    wrong = models["odd-wrong-types"]
    assert (wrong.name, wrong.available, wrong.category, wrong.tags) == ("", None, "", ())
    assert wrong.claims == {"streaming": "yes"}  # the one well-typed flag survives
    assert wrong.rate_limit_per_min is None
    warnings = "\n".join(parsed.warnings)
    for expected in (
        'odd-wrong-types: available should be a boolean, got string "yes"; ignored',
        "odd-wrong-types: metadata.model_specs.capabilities.function_calling should be a boolean, got number 1",
        'input_modality should be a list of strings, got string "text"',
        'odd-wrong-types: metadata.usage_information.rate_limit is not a per-minute request count: string "lots"',
        "odd-no-metadata: metadata.model_specs.capabilities.function_calling is missing",
        "odd-no-metadata: metadata.usage_information.rate_limit is missing",
        "item [3]: id is missing, not a model id; skipped",
        'item [4]: id is string "", not a model id; skipped',
        'item [5] is string "not an object", not an object; skipped',
        "item [6] is null, not an object; skipped",
    ):
        assert expected in warnings
    assert not any("future_field" in w or "audio" in w for w in parsed.warnings)  # unknown fields are ignored


def test_ovh_renamed_modalities_string_rate_limit_and_deprecation_are_read() -> None:
    entry = by_id(parse_ovh_models_v2(fixture("ovh_models_v2_odd")))["odd-new-shape"]
    assert entry.input_modalities == ("text", "image") and entry.claims["vision"] == "yes"
    assert entry.rate_limit_per_min == 120
    assert (entry.deprecated, entry.replaced_by) == (True, "Meta-Llama-3_3-70B-Instruct")


def test_ovh_rate_limit_object_without_its_keys_is_a_warning() -> None:
    item = {"id": "m", "metadata": {"usage_information": {"rate_limit": {"rate_limit_playground": 10}}}}
    parsed = parse_ovh_models_v2([item])
    assert parsed.entries[0].rate_limit_per_min is None
    assert "ovh_models_v2: m: metadata.usage_information.rate_limit.rate_limit_api is missing" in parsed.warnings


def test_openrouter_odd_entries() -> None:
    parsed = parse_openrouter(fixture("openrouter_odd"))
    models = by_id(parsed)
    assert list(models) == ["or-wrong-types", "or-no-features"]
    assert models["or-wrong-types"].claims == {} and models["or-wrong-types"].context_length is None
    assert models["or-no-features"].claims == {"vision": "no"}  # no feature list: tools etc. stay unsaid
    assert models["or-no-features"].context_length == 8192  # 8192.0 is an integer
    assert "openrouter: or-no-features: supported_features is missing" in parsed.warnings
    assert "openrouter: item [2]: id is number 42, not a model id; skipped" in parsed.warnings


@pytest.mark.parametrize(
    ("parser", "body", "expected"),
    [
        (parse_ovh_models_v2, fixture("ovh_models_v2_not_a_list"), "expected a JSON array of models, got object"),
        (parse_ovh_models_v2, fixture("top_level_string"), "expected a JSON array of models, got string"),
        (parse_openrouter, fixture("top_level_string"), "expected a JSON object with data[], got string"),
        (parse_openrouter, [], "expected a JSON object with data[], got array"),
        (parse_openrouter, {"data": {"id": "x"}}, "data should be a list, got object"),
        (parse_openai_models, None, "expected a JSON object with data[], got null"),
        (parse_openai_models, {"object": "list"}, "data should be a list, got null"),
        (parse_openai_models, {"data": "none"}, 'data should be a list, got string "none"'),
    ],
)
def test_a_wrong_top_level_is_one_warning_and_no_entries(parser: Any, body: Any, expected: str) -> None:
    parsed = parser(body)
    assert parsed.entries == []
    assert len(parsed.warnings) == 1 and expected in parsed.warnings[0]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "data",
                    "models",
                    "metadata",
                    "model_specs",
                    "capabilities",
                    "input_modality",
                    "supported_features",
                    "rate_limit",
                    "usage_information",
                    "available",
                    "context_length",
                    "tags",
                    "name",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@given(JSON)
def test_no_parser_raises_on_any_json(body: Any) -> None:
    for parser in PARSERS.values():
        parsed = parser(body)
        assert all(isinstance(e, ModelEntry) and e.id for e in parsed.entries)
        assert all(isinstance(w, str) for w in parsed.warnings)


# -- merging and claims ------------------------------------------------------------------------------


def test_merge_combines_sources_per_model() -> None:
    merged = merge_entries(
        [
            parse_openai_models(fixture("openai_models")).entries,
            parse_ovh_models_v2(fixture("ovh_models_v2")).entries,
            parse_openrouter(fixture("openrouter")).entries,
        ]
    )
    assert merged.warnings == []
    llama = by_id(merged)["Meta-Llama-3_3-70B-Instruct"]
    assert llama.sources == ("openai_models", "ovh_models_v2", "openrouter")
    assert llama.claims == {"tools": "yes", "reasoning": "no", "streaming": "yes", "vision": "no", "structured": "yes"}
    assert llama.claim_sources["tools"] == "ovh_models_v2" and llama.claim_sources["structured"] == "openrouter"
    assert (llama.available, llama.context_length, llama.rate_limit_per_min) == (True, 131072, 400)
    assert [e.id for e in merged.entries][:3] == [e.id for e in parse_openai_models(fixture("openai_models")).entries]


def test_merge_keeps_the_first_source_on_a_disagreement_and_says_so() -> None:
    first = ModelEntry("m", available=True, claims={"tools": "yes"}, claim_sources={"tools": "a"}, sources=("a",))
    second = ModelEntry(
        "m",
        available=False,
        claims={"tools": "no", "vision": "yes"},
        claim_sources={"tools": "b", "vision": "b"},
        sources=("b",),
        deprecated=True,
    )
    merged = merge_entries([[first], [second]])
    (entry,) = merged.entries
    assert entry.claims == {"tools": "yes", "vision": "yes"} and entry.available is True and entry.deprecated
    assert merged.warnings == [
        "m: available is False in b but True earlier; kept True",
        "m: tools claimed 'yes' by a but 'no' by b; kept 'yes'",
    ]


def test_a_later_source_saying_a_model_does_not_chat_wins_over_an_earlier_kind() -> None:
    """Hand-made: the endpoint's list names a kind ('llm'), the provider's catalog says Embeddings; the model
    is not probed, whichever source comes first."""
    listed = ModelEntry("e", category="llm", sources=("openai_models",))
    catalogued = ModelEntry("e", category="Embeddings", sources=("ovh_models_v2",))
    for sources in ([[listed], [catalogued]], [[catalogued], [listed]]):
        (entry,) = merge_entries(sources).entries
        assert entry.category == "Embeddings" and non_chat(entry) == "Embeddings"
    (chat,) = merge_entries([[listed], [ModelEntry("e", category="LLM", sources=("b",))]]).entries
    assert chat.category == "llm" and non_chat(chat) == ""


CLAIMS = Claims(
    provider={"tools": ClaimSpec("no"), "tools.parallel": ClaimSpec("unknown", "guide: may be ignored")},
    models={"m": {"tools": ClaimSpec("yes"), "tools.named": ClaimSpec("no", "model card")}},
)
ENTRY = ModelEntry(
    "m", claims={"tools": "no", "vision": "yes"}, claim_sources={"tools": "x", "vision": "ovh_models_v2"}
)


@pytest.mark.parametrize(
    ("model", "probe", "feature", "expected"),
    [
        ("m", "tools.named", "tools", ClaimRef("no", "profile[m]", "model card")),  # model + probe
        ("m", "tools.parallel", "tools", ClaimRef("yes", "profile[m]")),  # model + feature beats provider + probe
        ("other", "tools.parallel", "tools", ClaimRef("unknown", "profile", "guide: may be ignored")),
        ("other", "tools.auto", "tools", ClaimRef("no", "profile")),  # provider + feature
        ("m", "vision.base64", "vision", ClaimRef("yes", "catalog:ovh_models_v2")),  # catalog
        ("m", "state.store_true", "state", ClaimRef("unknown")),  # nobody says
    ],
)
def test_profile_claims_layer_over_catalog_claims(model: str, probe: str, feature: str, expected: ClaimRef) -> None:
    assert resolve_claim(ENTRY if model == "m" else None, CLAIMS, model, probe, feature) == expected


# -- drift -----------------------------------------------------------------------------------------------

DRIFTS = {
    ("yes", Status.FAIL),
    ("yes", Status.IGNORED),
    ("yes", Status.UNSUPPORTED),
    ("no", Status.PASS),
    ("no", Status.NON_STRICT),
}


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("claim", ["yes", "no", "unknown"])
def test_drift_truth_table(claim: str, status: Status) -> None:
    assert drift(claim, status) is ((claim, status) in DRIFTS)
    assert drift(claim, status.value) is ((claim, status) in DRIFTS)  # results records hold the string


def test_claim_record_is_what_a_cell_carries() -> None:
    catalog = Catalog("p", (ENTRY,), claims=CLAIMS)
    assert claim_record(catalog, "m", "vision.base64", "vision", "UNSUPPORTED") == {
        "claim": {"claim": "yes", "source": "catalog:ovh_models_v2"},
        "drift": True,
    }
    assert claim_record(catalog, "other", "tools.parallel", "tools", Status.PASS) == {
        "claim": {"claim": "unknown", "source": "profile", "note": "guide: may be ignored"},
        "drift": False,
    }
    assert claim_record(None, "m", "core.text_input", "core", Status.FAIL) == {
        "claim": {"claim": "unknown", "source": ""},
        "drift": False,
    }


def test_redirect_warnings_quote_each_distinct_x_warning() -> None:
    def exchange(headers: dict[str, str]) -> Exchange:
        return Exchange("POST", "http://h/v1/responses", {}, "{}", status=200, headers=headers)

    notice = "model m is deprecated, redirected to n"
    exchanges = [exchange({"x-warning": notice}), exchange({}), exchange({"x-warning": notice})]
    assert redirect_warnings(exchanges) == [notice]
    assert redirect_warnings([exchange({"content-type": "application/json"})]) == []


# -- fetching: live, record, replay --------------------------------------------------------------------


def test_fetch_catalog_over_a_real_socket(tmp_path: Path, server: FixtureServer, other_server: FixtureServer) -> None:
    profile = load_profile(str(write_profile(tmp_path, server.url, ovh_sources(other_server.url))))
    catalog = fetch_catalog(profile, live, api_key=KEY)
    assert catalog.warnings == ()
    assert [(s.kind, s.status, s.models) for s in catalog.sources] == [
        ("openai_models", 200, 3),
        ("ovh_models_v2", 200, 5),
        ("openrouter", 200, 3),
    ]
    gpt = catalog.get("gpt-oss-120b")
    assert gpt is not None and gpt.claims["reasoning"] == "yes"
    assert server.seen == [("/v1/models", f"Bearer {KEY}")]
    assert other_server.seen == [("/rest/v1/models_v2", None), ("/rest/v2/openrouter", None)]  # key stays home


def test_a_catalog_after_a_byte_order_mark_is_read_as_a_client_reads_it(tmp_path: Path, server: FixtureServer) -> None:
    """The SDKs' response.json() skips a BOM (RFC 8259 lets a parser), so a catalog served after one is no warning."""
    plain, marked = (
        fetch_catalog(load_profile(str(write_profile(folder(tmp_path / name), server.url, source))), live)
        for name, source in (
            ("plain", f'{{ kind = "openrouter", url = "{server.url}/rest/v2/openrouter" }}'),
            ("marked", f'{{ kind = "openrouter", url = "{server.url}/bom/openrouter" }}'),
        )
    )
    assert not marked.warnings and marked.entries == plain.entries and plain.entries


def test_failing_sources_are_warnings(tmp_path: Path, server: FixtureServer) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    sources = (
        f'{{ kind = "ovh_models_v2", url = "{server.url}/broken" }}, '
        f'{{ kind = "openrouter", url = "{server.url}/html" }}, '
        f'{{ kind = "ovh_models_v2", url = "{dead}/rest/v1/models_v2" }}, '
        f'{{ kind = "openrouter", url = "{server.url}/rest/v2/openrouter" }}'
    )
    catalog = fetch_catalog(load_profile(str(write_profile(tmp_path, server.url, sources))), live)
    assert [s.status for s in catalog.sources] == [503, 200, None, 200]
    assert len(catalog.entries) == 3
    assert catalog.warnings[0] == f"ovh_models_v2 {server.url}/broken: HTTP 503: catalog down for maintenance"
    assert catalog.warnings[1].startswith(f"openrouter {server.url}/html: not JSON")
    assert catalog.warnings[2].startswith(f"ovh_models_v2 {dead}/rest/v1/models_v2: ConnectError")


def test_replayed_catalog_equals_the_live_one(
    tmp_path: Path, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = (
        f'{{ kind = "openai_models" }}, {{ kind = "ovh_models_v2", url = "{server.url}/odd/models_v2" }}, '
        f'{{ kind = "openrouter", url = "{server.url}/odd/openrouter" }}, '
        f'{{ kind = "ovh_models_v2", url = "{server.url}/broken" }}'
    )
    profile = load_profile(str(write_profile(tmp_path, server.url, sources, '[claims]\nstate = "no"\n')))
    cassette = tmp_path / "cassettes" / "fixture" / "_catalog" / "catalog.json"

    def cassette_transport(mode: RecordMode, inner: httpx.BaseTransport | None) -> httpx.BaseTransport:
        return CassetteTransport(
            cassette, mode, inner, provider="fixture", model="_catalog", probe="catalog", secrets=[KEY]
        )

    live_catalog = fetch_catalog(profile, live, api_key=KEY)
    recorded = fetch_catalog(profile, lambda: cassette_transport(RecordMode.ALL, live()), api_key=KEY)
    assert recorded == live_catalog
    interactions = load_cassette(cassette).interactions
    assert [i.url.removeprefix(server.url) for i in interactions] == [
        "/v1/models",
        "/odd/models_v2",
        "/odd/openrouter",
        "/broken",
    ]
    assert KEY not in cassette.read_text(encoding="utf-8")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("replay tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    replayed = fetch_catalog(profile, lambda: cassette_transport(RecordMode.NONE, NoNetworkTransport()), api_key=KEY)
    assert replayed == live_catalog
    assert len(replayed.warnings) > 10 and replayed.sources[-1].status == 503


def test_a_missing_cassette_is_a_warning(tmp_path: Path) -> None:
    profile = load_profile(str(write_profile(tmp_path, "http://127.0.0.1:9", '{ kind = "openai_models" }')))

    def factory() -> httpx.BaseTransport:
        return CassetteTransport(tmp_path / "none.json", RecordMode.NONE, None, provider="p", model="m", probe="c")

    catalog = fetch_catalog(profile, factory)
    assert catalog.entries == () and "no such cassette" in catalog.warnings[0]


def test_snapshot_round_trips_through_json(tmp_path: Path, server: FixtureServer) -> None:
    extra = (
        '[claims]\n"state.previous_response_id" = { claim = "no", note = "guide" }\n'
        '[claims.models."bge-m3"]\nvision = "no"\n'
    )
    profile = load_profile(str(write_profile(tmp_path, server.url, ovh_sources(server.url), extra)))
    catalog = fetch_catalog(profile, live)
    snapshot = json.loads(json.dumps(CatalogRecord.of(catalog).model_dump(mode="json")))
    assert snapshot["version"] == 1 and snapshot["claims"]["provider"]["state.previous_response_id"]["note"] == "guide"
    restored = CatalogRecord.model_validate(snapshot).catalog()
    assert restored == catalog
    assert restored.claim("gpt-oss-120b", "state.previous_response_id", "state") == ClaimRef("no", "profile", "guide")
    with pytest.raises(ValidationError, match="version"):
        CatalogRecord.model_validate({**snapshot, "version": 99})


def test_selection_probes_available_text_models_the_endpoint_lists(tmp_path: Path, server: FixtureServer) -> None:
    path = write_profile(tmp_path, server.url, ovh_sources(server.url), models='["declared-only"]')
    catalog = fetch_catalog(load_profile(str(path)), live)
    chosen, skipped = catalog.selection()
    assert chosen == ["Meta-Llama-3_3-70B-Instruct", "Qwen2.5-VL-72B-Instruct", "gpt-oss-120b", "declared-only"]
    assert skipped == {
        "Mistral-7B-Instruct-v0.3": "marked unavailable by the catalog",
        "bge-m3": "outputs embeddings, not text",
    }
    _, skipped_anyway = catalog.selection(include_unavailable=True)
    assert skipped_anyway["Mistral-7B-Instruct-v0.3"] == "not listed by the endpoint's GET /models"


# -- profiles ----------------------------------------------------------------------------------------------


def test_shipped_profiles_load(repo_root: Path) -> None:
    ovh = load_profile("ovhcloud", repo_root / "matrices")
    assert (ovh.rate_limit_per_min, ovh.rate_limit_anonymous_per_min, ovh.body_cap_bytes) == (400, 2, 2_097_152)
    assert [(s.kind, url) for s, url in ovh.sources()] == [
        ("openai_models", "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1/models"),
        ("ovh_models_v2", "https://catalog.endpoints.ai.ovh.net/rest/v1/models_v2"),
        ("openrouter", "https://catalog.endpoints.ai.ovh.net/rest/v2/openrouter"),
    ]
    assert ovh.claims.lookup("any", "state.previous_response_id", "state") == (
        ClaimSpec("no", "Responses guide: previous_response_id is not supported"),
        "profile",
    )
    assert ovh.claims.provider["vision.remote_url"].value == "no"
    assert ovh.claims.provider["parameters.verbosity"].value == "unknown"
    llama = load_profile("llama-server", repo_root / "matrices")
    assert (llama.claims.provider["streaming"].value, llama.semantic_checks) == ("yes", False)
    assert {"tools.round_trip", "tools.parallel"} <= llama.semantic_probes
    transformers = load_profile("transformers-serve", repo_root / "matrices")
    assert transformers.claims == Claims() and transformers.sources()[0][0].kind == "openai_models"


def test_a_profile_without_catalog_reads_the_endpoint_models(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[provider]\nname = "p"\nbase_url = "http://h/v1/"\n', encoding="utf-8")
    profile = load_profile(str(path))
    assert [(s.kind, url) for s, url in profile.sources()] == [("openai_models", "http://h/v1/models")]
    assert profile.claims == Claims() and profile.rate_limit_per_min is None


def test_profile_for_a_command_line(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_root)
    moved = profile_for("llama-server", "http://127.0.0.1:9999/v1")
    assert moved is not None and (moved.name, moved.base_url) == ("llama-server", "http://127.0.0.1:9999/v1")
    assert moved.sources()[0][1] == "http://127.0.0.1:9999/v1/models"
    assert moved.claims.provider["streaming"].value == "yes"
    bare = profile_for(None, "https://api.example.com:8443/v1")
    assert bare is not None and (bare.name, bare.claims) == ("api.example.com_8443", Claims())
    assert profile_for(None, None) is None


def test_unquoted_dotted_claim_keys_are_flattened(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        '[provider]\nname = "p"\nbase_url = "http://h/v1"\n[claims]\nstate.previous_response_id = "no"\n'
        '[claims.models."a.b"]\ntools = { claim = "yes", note = "card" }\n',
        encoding="utf-8",
    )
    claims = load_profile(str(path)).claims
    assert claims.provider == {"state.previous_response_id": ClaimSpec("no")}
    assert claims.models == {"a.b": {"tools": ClaimSpec("yes", "card")}}


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[provider]\nname = "p"\nbase_url = "u"\nrate_limit = 4\n', r"\[provider\]: unknown key rate_limit"),
        (
            '[provider]\nname = "p"\nbase_url = "u"\nbody_cap_bytes = "2MB"\n',
            "body_cap_bytes: Input should be a valid int",
        ),
        ('[provider]\nname = "p"\nbase_url = "u"\n[claims]\ntools = "maybe"\n', "claim 'maybe' is not one of yes"),
        ('[provider]\nname = "p"\nbase_url = "u"\n[claims]\ntool = "yes"\n', "unknown feature group 'tool'"),
        (
            '[provider]\nname = "p"\nbase_url = "u"\n[catalog]\nsources = [{ kind = "ovh" }]\n',
            "sources.0. kind: .*got 'ovh'",
        ),
        ('[provider]\nname = "p"\nbase_url = "u"\n[catalog]\nsources = [{ kind = "openrouter" }]\n', "needs a url"),
        ('[provider]\nname = "p"\nbase_url = "u"\n[claim]\n', r"top level: unknown key claim"),
        ('[provider]\nname = "p"\n', r"\[provider\] base_url: Field required"),
        (
            '[provider]\nname = "p"\nbase_url = "u"\nsemantic_probes = "tools.parallel"\n',
            "semantic_probes: .*valid list",
        ),
        ('[provider]\nname = "p"\nbase_url = "u"\nsemantic_probes = ["tools.paralel"]\n', "unknown probe id.*paralel"),
    ],
)
def test_profile_mistakes_fail_loudly(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ProfileError, match=message):
        load_profile(str(path))


# -- `conformance models` ------------------------------------------------------------------------------------


def run_models(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="conformance")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    return models_command(parser.parse_args(["models", *argv]))


def test_models_command_prints_a_table_then_warnings(
    tmp_path: Path, server: FixtureServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_TEST_KEY", KEY)
    extra = (
        '[claims]\n"tools.builtin" = { claim = "no", note = "guide: unsupported" }\n'
        '[claims.models."gpt-oss-120b"]\nstructured = "no"\n'
    )
    odd = f'{{ kind = "ovh_models_v2", url = "{server.url}/odd/models_v2" }}'
    profile = write_profile(tmp_path, server.url, f"{ovh_sources(server.url)}, {odd}", extra)
    assert run_models(["--provider", str(profile)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "fixture: 8 models, 3 to probe"
    assert lines[1].split() == [
        "model",
        "available",
        "tools",
        "structured",
        "vision",
        "reasoning",
        "streaming",
        "rate/min",
        "sources",
        "notes",
    ]
    row = next(line for line in lines if line.startswith("gpt-oss-120b "))
    assert row.split()[:9] == ["gpt-oss-120b", "yes", "yes", "no*", "no", "yes", "yes", "400", "(2"]
    assert "openai_models, ovh_models_v2, openrouter" in row
    renamed = next(line for line in lines if line.startswith("odd-new-shape "))
    assert "deprecated, replaced by Meta-Llama-3_3-70B-Instruct" in renamed
    assert lines[lines.index("not probed:") + 1] == "  Mistral-7B-Instruct-v0.3: marked unavailable by the catalog"
    claim_line = lines[lines.index("documented claims for every model:") + 1]
    assert claim_line.split() == [
        "tools.builtin",
        "no",
        "(no",
        "such",
        "probe",
        "yet)",
        "guide:",
        "unsupported",
    ]
    warnings_at = lines.index(next(line for line in lines if line.startswith("warnings (")))
    assert warnings_at > lines.index(row)
    assert any("odd-wrong-types: available should be a boolean" in line for line in lines[warnings_at:])
    assert server.seen[0] == ("/v1/models", f"Bearer {KEY}")


def test_models_command_with_a_base_url_only(server: FixtureServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_models(["--base-url", f"{server.url}/v1", "--json"]) == 0
    snapshot = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in snapshot["models"]] == [
        "Meta-Llama-3_3-70B-Instruct",
        "Qwen2.5-VL-72B-Instruct",
        "gpt-oss-120b",
    ]
    assert snapshot["provider"] == f"127.0.0.1_{server.url.rsplit(':', 1)[1]}"


def test_models_command_without_models_or_provider(server: FixtureServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_models(["--base-url", f"{server.url}/broken-base"]) == 1
    assert "HTTP 404: no such fixture" in capsys.readouterr().out
    assert run_models([]) == 3
    assert "give --provider NAME or --base-url URL" in capsys.readouterr().err
