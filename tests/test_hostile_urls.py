"""Round six of the hostile cases: no request the suite makes carries the key in its URL, to any origin.

A server that knows the key (it was sent one) can put it into a Location, a response id or a catalog
entry, and a client that follows turns the suite into the one sending it on, into other hosts' logs and
to origins the user never named. The catalog follows redirects, so it also follows none to another
origin unless the profile allows it, and reads a bounded part of each redirect's body. What the user
gives that no request can carry (a key no header can hold, an option that is not UTF-8) is one line.
Every answer here is hand-made (httpx.MockTransport, or the fault server, named where used).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from conformance import cli
from conformance.catalog.fetch import fetch_catalog
from conformance.catalog.model import Catalog
from conformance.profiles import CatalogSource, Profile, load_profile
from conformance.runner import Target
from conformance.transports import DRAIN_BYTES
from tests.faults.server import FaultServer

KEY = "sk-Hostile-Url-Key-0123456789"
MODELS = b'{"object": "list", "data": [{"id": "m1", "object": "model"}]}'
Handler = Callable[[httpx.Request], httpx.Response]


def _catalog(handler: Handler, *sources: CatalogSource) -> tuple[Catalog, list[httpx.Request]]:
    """The catalog of a profile at http://a.test/v1 fetched with the key, and every request that went out."""
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    profile = Profile(name="p", base_url="http://a.test/v1", catalog_sources=sources)
    return fetch_catalog(profile, lambda: httpx.MockTransport(recording), api_key=KEY), seen


def _models(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, stream=httpx.ByteStream(MODELS))


def _redirect_to(location: str) -> Handler:
    """The endpoint's /models redirects to `location`; anything else lists one model."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(302, headers={"location": location}, stream=httpx.ByteStream(b""))
        return _models(request)

    return answer


def _shown(catalog: Catalog) -> str:
    return " ".join([*catalog.warnings, *(f"{r.url} {r.problem}" for r in catalog.sources)])


@pytest.mark.parametrize("location", ["http://b.test/models", f"http://b.test/models?api_key={KEY}"])
def test_a_catalog_redirect_to_another_origin_is_not_followed(location: str) -> None:
    catalog, seen = _catalog(_redirect_to(location))
    assert [r.url.host for r in seen] == ["a.test"], "nothing went to the other origin"
    assert not catalog.entries and "another origin (http://b.test)" in _shown(catalog), _shown(catalog)
    assert KEY not in _shown(catalog)


def test_a_profile_may_let_a_catalog_redirect_to_another_origin() -> None:
    """The key's header is dropped on the way (httpx strips Authorization across origins)."""
    source = CatalogSource("openai_models", "http://a.test/v1/models", cross_origin_redirects=True)
    catalog, seen = _catalog(_redirect_to("http://b.test/models"), source)
    assert [e.id for e in catalog.entries] == ["m1"], _shown(catalog)
    assert [(r.url.host, "authorization" in r.headers) for r in seen] == [("a.test", True), ("b.test", False)]


def _forms(key: str) -> list[str]:
    """The key as a URL may carry it: as is, %-encoded throughout, upper-cased, in base64, in the path."""
    return [
        f"/v1/models?api_key={key}",
        "/v1/models?k=" + "".join(f"%{b:02X}" for b in key.encode()),
        f"/v1/models?token={key.upper()}",
        "/v1/models?b=" + quote(base64.b64encode(f"user:{key}".encode()).decode()),
        f"/v1/{key}/models",
    ]


@pytest.mark.parametrize("location", _forms(KEY))
def test_no_catalog_request_carries_the_key_in_its_url(location: str) -> None:
    """Hand-made: the endpoint redirects its own /models to a URL of its own origin that holds the key."""
    profile_source = CatalogSource("openai_models", "http://a.test/v1/models", cross_origin_redirects=True)
    catalog, seen = _catalog(_redirect_to(location), profile_source)
    assert len(seen) == 1, [str(r.url) for r in seen]
    assert "carries the API key" in _shown(catalog) and KEY.lower() not in _shown(catalog).lower(), _shown(catalog)


def test_a_catalog_source_whose_url_holds_the_key_is_not_fetched() -> None:
    catalog, seen = _catalog(_models, CatalogSource("openai_models", f"https://c.test/{KEY}/models"))
    assert not seen and "carries the API key" in _shown(catalog)
    assert KEY not in _shown(catalog)


def test_a_catalog_redirects_body_is_read_a_bounded_amount() -> None:
    """httpx's client reads a redirect's whole body before following it: 64 MiB here, gigabytes from a server."""
    read = [0]

    def body() -> Iterator[bytes]:
        for _ in range(64):
            read[0] += 1024 * 1024
            yield bytes(1024 * 1024)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(302, headers={"location": "/v1/list"}, stream=_Iterated(body()))
        return _models(request)

    catalog, _ = _catalog(answer)
    assert [e.id for e in catalog.entries] == ["m1"], _shown(catalog)
    assert read[0] <= DRAIN_BYTES + 1024 * 1024


class _Iterated(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


def test_a_profile_source_may_say_it_redirects_across_origins(tmp_path: Path) -> None:
    toml = (
        '[provider]\nname = "p"\nbase_url = "http://127.0.0.1:9/v1"\n'
        '[catalog]\nsources = [{ kind = "openrouter", url = "https://c.test/x", cross_origin_redirects = true }]\n'
    )
    (tmp_path / "p.toml").write_text(toml)
    assert load_profile(tmp_path / "p.toml").catalog_sources[0].cross_origin_redirects


# -- the run's own URL ------------------------------------------------------------------------------


def test_a_base_url_holding_the_key_is_one_line_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with FaultServer() as srv:
        monkeypatch.setenv("H6_KEY", KEY)
        argv = ["run", "--base-url", f"{srv.base_url}/{KEY}", "--api-key-env", "H6_KEY", "--model", "m"]
        argv += ["--out", str(tmp_path / "o"), "-q"]
        assert cli.main(argv) == cli.EXIT_INPUT
        requests = list(srv.requests)
    err = capsys.readouterr().err.strip()
    assert not requests and len(err.splitlines()) == 1 and "holds the API key" in err, err
    assert KEY not in err


def test_a_placeholder_key_named_like_its_host_is_no_key_in_the_url() -> None:
    """Ollama's docs give api_key 'ollama' for http://ollama:11434/v1 (a compose service): the host is where the
    request goes, not what it carries; the same key in the path still is."""
    Target("ollama", "http://ollama:11434/v1", api_key="ollama")
    with pytest.raises(ValueError, match="holds the API key"):
        Target("ollama", "http://ollama:11434/ollama/v1", api_key="ollama")


# -- what the user gives that no request can carry ----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("sk-\udcff-key", "not ASCII"),  # a byte that is not UTF-8 in the environment, as Python reads it
        ("sk-é-key", "not ASCII"),
        ("sk-good-key\n", "a control character"),
        ("sk-good\r\nX-Injected: 1", "a control character"),
        (" sk-good-key", "white space at an end"),
    ],
)
def test_a_key_no_header_can_carry_is_one_line_naming_its_variable(
    key: str, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Hand-made: a key holding a byte that is not UTF-8 crashed every printed line's scrub (a traceback, exit
    1, which reads as a regression); a non-ASCII one or a trailing newline was an encoder's message."""
    monkeypatch.setenv("H6_KEY", key)
    argv = ["run", "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "H6_KEY", "--model", "m"]
    assert cli.main([*argv, "--out", str(tmp_path / "o"), "--timeout", "2", "-q"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "H6_KEY" in err and said in err, err
    assert "sk-" not in err and "Traceback" not in err


@pytest.mark.parametrize("option", ["--model", "--exclude-model", "--probe", "--feature", "--base-url"])
def test_an_argument_that_is_not_utf8_is_one_line_naming_its_option(
    option: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Hand-made: the shell passes bytes that are not UTF-8 as lone surrogates (`--model $'a\\xff'`), which
    no request or results line can carry: a model's was a dump of a record's validation errors."""
    argv = ["run", "--base-url", "http://127.0.0.1:9/v1", "--record-mode", "none", "--out", str(tmp_path / "o")]
    assert cli.main([*argv, option, "a\udcff", "-q"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert f"argument {option}" in err and "not valid UTF-8" in err, err
    assert "validation error" not in err and "a\\udcff" not in err and "'a" not in err, "the value is not echoed"
