"""Keys never leak, whatever they look like: not only ``sk-`` keys (issue 25)."""
import pytest
from hypothesis import given, strategies as st

import mmad_eval.redact as redact_module
from mmad_eval.redact import MARK, redact, redact_url, register_secret


@pytest.fixture(autouse=True)
def forget_registered_keys():
    """Keys registered here must not redact other tests' text: restore the registry afterwards."""
    registry = getattr(redact_module, "_SECRETS", None)
    before = set(registry) if registry is not None else None
    yield
    if registry is not None:
        registry.intersection_update(before)


def _four_grams(key: str) -> set[str]:
    return {key[i:i + 4] for i in range(len(key) - 3)}


def leaked(key: str, template: str, out: str) -> set[str]:
    """4-character pieces of ``key`` in ``out`` that the template's own text does not explain."""
    return {g for g in _four_grams(key) if g in out and g not in template}


ECHOES = ["Incorrect API key provided: {key}.", "API key not valid: {head}****{tail}",
          '{{"error": "bad key {head}...{tail}"}}', "key={key}&x=1", "Bearer {key}", "({head}*****{tail})",
          "https://host/v1?key={key}", "prefix {key} suffix {key}"]


@pytest.mark.parametrize("key", ["AIzaSyD3fakeFAKEfake0123456789abcdefghi", "xai-0123456789abcdefABCDEF",
                                 "hf_abcdefghijklmnopqrstuvwxyz0123", "gsk_Zq9w8e7r6t5y4u3i2o1p"])
@pytest.mark.parametrize("template", ECHOES)
def test_keys_of_other_providers_and_their_echoed_fragments_are_removed(key, template):
    register_secret(key)
    out = redact(template.format(key=key, head=key[:6], tail=key[-4:]))
    assert not leaked(key, template, out) and MARK in out


def test_short_keys_placeholders_and_openai_shaped_keys():
    register_secret("x")                 # a placeholder is not a secret
    assert redact("x marks the spot") == "x marks the spot"
    register_secret("k3y")
    assert "k3y" not in redact("bad key: k3y!") and "bad key:" in redact("bad key: k3y!")
    assert redact("token sk-proj-abcd1234 here") == f"token {MARK} here"     # never registered, still removed
    assert redact(None) is None and redact("plain text") == "plain text"


def test_url_credentials_and_secret_query_values():
    url = redact_url("https://user:pw123@host:8080/v1/chat?api_key=AIzaSyXYZ123&model=m&sig=abc")
    assert "pw123" not in url and "user" not in url and "AIzaSyXYZ123" not in url and "abc" not in url
    assert "model=m" in url and url.startswith("https://host:8080/v1/chat?")
    assert redact("see https://a:b@x.org/?token=t0k&x=1") == f"see https://x.org/?token={MARK}&x=1"


KEY_ALPHABET = st.characters(categories=("Lu", "Ll", "Lo", "Nd"), exclude_characters="\x00") | st.sampled_from("-_+=")


@given(prefix=st.sampled_from(["", "sk-", "AIzaSy", "xai-", "hf_", "key_", "ya29."]),
       body=st.text(KEY_ALPHABET, min_size=8, max_size=40), template=st.sampled_from(ECHOES))
def test_redaction_never_leaves_a_four_character_piece_of_a_registered_key(prefix, body, template):
    key = prefix + body
    register_secret(key)
    try:
        out = redact(template.format(key=key, head=key[:6], tail=key[-4:]))
        assert not leaked(key, template, out), out
    finally:
        registry = getattr(redact_module, "_SECRETS", None)
        if registry is not None:
            registry.discard(key)


def test_url_redaction_keeps_the_mark_readable_and_survives_unparsable_urls():
    url = redact_url("https://host/v1?api_key=secret1&token=&model=m")
    assert url == f"https://host/v1?api_key={MARK}&token={MARK}&model=m"
    broken = redact_url("http://[::1/v1?token=abc")           # not a URL urlsplit accepts: still redacted
    assert "abc" not in broken and MARK in broken
    assert redact_url("https://host/v1") == "https://host/v1"


@pytest.mark.parametrize("key", ["abcd1234", "Zq9-w8e7", "k9!k9!k9"])
def test_an_eight_character_key_is_redacted_by_its_echoed_ends(key):
    register_secret(key)
    out = redact(f"Incorrect API key provided: {key[:4]}**{key[-4:]} and {key}.")
    assert not leaked(key, "Incorrect API key provided: ** and .", out) and out.count(MARK) == 2


@pytest.mark.parametrize("key", ["q7w8e9", "k3y"])
def test_a_short_key_is_removed_where_it_stands_as_a_word(key):
    """A key under 8 characters goes wherever it is a word (or pieces of it, an echo), never inside a longer
    word that merely holds it ("localhost" for the key "local": issue 24's over-redaction fix)."""
    register_secret(key)
    assert redact(f"token {key} end") == f"token {MARK} end"
    assert redact(f"token ({key}). end") == f"token ({MARK}). end"
    assert redact(f"token {key}suffix end") == f"token {key}suffix end"
