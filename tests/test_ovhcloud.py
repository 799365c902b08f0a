"""What OVHcloud's endpoints need beyond the OpenAI shape: default request fields, catalog entries
that do not chat, a bad key answered 403, and the gateway's rate-limit headers (tests/test_pacing.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.catalog.model import PROFILE_SOURCE, Catalog, ModelEntry
from conformance.checks.errors import rejected_with
from conformance.evidence import Exchange
from conformance.probes import BY_ID, Request
from conformance.profiles import ProfileError, load_profile
from conformance.runner import Target, build_request

# --- a profile's default request fields ------------------------------------------------------------


def test_a_profiles_default_fields_go_into_every_create_unless_the_probe_sets_them(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[provider]\nname = "p"\nbase_url = "http://p.test/v1"\nrequest_defaults = { store = false }\n')
    profile = load_profile(str(path))
    target = Target("p", profile.base_url, request_defaults=dict(profile.request_defaults))
    sent = json.loads(build_request(target, Request({"model": "m", "input": "hi"})).content)
    assert sent == {"store": False, "model": "m", "input": "hi"}
    tested = json.loads(build_request(target, Request({"model": "m", "input": "hi", "store": True})).content)
    assert tested["store"] is True, "a probe testing the field sends its own value"
    assert build_request(target, Request(raw=b"{not json")).content == b"{not json"
    count = Request({"model": "m", "input": "hi"}, path="/responses/input_tokens")
    assert json.loads(build_request(target, count).content) == {"model": "m", "input": "hi"}, "a count is no create"
    path.write_text('[provider]\nname = "p"\nbase_url = "http://p.test/v1"\nrequest_defaults = "store"\n')
    with pytest.raises(ProfileError, match="request_defaults: Input should be a valid dictionary"):
        load_profile(str(path))


def test_the_ovhcloud_profile_sends_store_false() -> None:
    assert load_profile("ovhcloud").request_defaults == {"store": False}


@pytest.mark.parametrize(
    ("category", "tags"),
    [
        ("Embeddings", ()),
        ("Speech to Text", ()),
        ("Audio Analysis", ()),
        ("Text to Speech", ()),
        ("Image Generation", ()),
        ("Large Language Models (LLM)", ("Guard",)),
        ("Moderation", ()),
    ],
)
def test_catalog_entries_that_do_not_chat_are_not_probed_and_say_why(category: str, tags: tuple[str, ...]) -> None:
    catalog = Catalog(
        "ovh",
        (ModelEntry("chat", category="Large Language Models (LLM)"), ModelEntry("x", category=category, tags=tags)),
    )
    chosen, skipped = catalog.selection()
    assert chosen == ["chat"]
    assert skipped["x"].startswith("not a chat model: catalog category")


def test_a_model_the_profile_names_is_probed_whatever_its_category() -> None:
    catalog = Catalog("ovh", (ModelEntry("e", category="Embeddings", sources=(PROFILE_SOURCE,)),))
    assert catalog.selection() == (["e"], {})


def test_conformance_models_shows_why_a_model_is_not_probed() -> None:
    from conformance.cli_models import render_catalog
    from conformance.profiles import Profile

    catalog = Catalog("ovh", (ModelEntry("chat"), ModelEntry("bge-m3", category="Embeddings")))
    text = render_catalog(catalog, Profile(name="ovh", base_url="http://ovh.test/v1"))
    assert "bge-m3: not a chat model: catalog category 'Embeddings'" in text


def _rejected(status: int) -> list[Exchange]:
    body = json.dumps({"error": {"message": "Authentication Failed", "type": "invalid_request_error"}})
    return [Exchange(method="POST", url="http://p.test/v1/responses", request_headers={}, request_body="{}",
                     status=status, headers={"content-type": "application/json"}, body=body)]  # fmt: skip


@pytest.mark.parametrize(("status", "passes"), [(401, True), (403, True), (400, False), (200, False)])
def test_a_bad_key_may_be_refused_with_401_or_403(status: int, passes: bool) -> None:
    (check,) = BY_ID["errors.bad_key"].checks
    assert check.__name__ == rejected_with(401, 403).__name__
    assert (list(check(_rejected(status))) == []) is passes
