"""Secrets kept out of everything mmad-eval stores or prints.

A backend registers the API key it uses (:func:`register_secret`); :func:`redact` then removes from any text
the key, every fragment of it that a server may echo (OpenAI shows the first and last characters of a wrong
key, whatever its length), anything shaped like an OpenAI key, and the values of secret-looking URL query
parameters (``?api_key=...``, ``subscription-key``, ``token``, ``access_token``, ``sig``, ``code`` ...) and
``user:password@`` parts of URLs. A key shorter than :data:`MIN_FRAGMENTED` characters is removed only as a
whole word (or a word made of nothing but its pieces): key ``local`` leaves ``localhost`` alone.
:func:`redact_mapping` hides the values under secret-looking names in a backend option such as ``extra_body``.
"""
from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MARK = "[redacted]"
_SECRETS: set[str] = set()
_LOCK = threading.Lock()
_KEY_LIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-*.]{4,}")
# a name ending in key/token/secret/password/signature/sig/credential(s) (api-key, subscription-key,
# Ocp-Apim-Subscription-Key, access_token, X-Amz-Signature ...), or auth, authorization, code
_SECRET_PARAM = r"(?:[\w.-]*(?:key|token|secret|password|passwd|pwd|signature|sig|credentials?)|auth|" \
                r"authorization|code)"
_QUERY_SECRET = re.compile(r"(?i)([?&;]" + _SECRET_PARAM + r"=)[^&#\s\"'<>]*")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@\"'<>]+@")
_PLACEHOLDERS = {"", "EMPTY", "none", "x", "dummy"}
MIN_FRAGMENT = 4      # shortest leading/trailing run of key characters treated as an echo of the key


MIN_SECRET = 3         # shorter values (placeholders such as "x") are not treated as secrets
MIN_FRAGMENTED = 8     # keys this long are also redacted by their echoed leading/trailing fragments


def register_secret(value: str | None) -> None:
    """Remember ``value`` (an API key) so that :func:`redact` removes it and its fragments everywhere."""
    if value and value not in _PLACEHOLDERS and len(value) >= MIN_SECRET:
        with _LOCK:
            _SECRETS.add(value)


def _fragments(secret: str) -> set[str]:
    """The key's leading and trailing runs (what servers echo: OpenAI shows the first 6 and last 4
    characters of any key), at least MIN_FRAGMENT characters long (the whole key when it is shorter)."""
    n = min(len(secret), MIN_FRAGMENT)
    return {secret[:k] for k in range(n, len(secret) + 1)} | {secret[-k:] for k in range(n, len(secret) + 1)}


_WORD = re.compile(r"[^\s\"'<>.,;:()=&?/@\[\]{}|\\]+")


def _redact_short(text: str, secret: str) -> str:
    """A short key: each word that is the key, or nothing but its pieces (e.g. an echo ``k3yk3y`` or
    ``ab**yz``), never a longer word that holds it (``localhost`` for the key ``local``)."""
    pieces = sorted(_fragments(secret) | {secret}, key=len, reverse=True)

    def one(m: re.Match) -> str:
        rest = m.group(0)
        for piece in pieces:
            rest = rest.replace(piece, "")
        return m.group(0) if any(ch.isalnum() for ch in rest) else MARK
    return _WORD.sub(one, text)


def _redact_secret(text: str, secret: str) -> str:
    if len(secret) < MIN_FRAGMENTED:
        return _redact_short(text, secret)
    text = text.replace(secret, MARK)
    frags = _fragments(secret)
    # a whitespace-delimited token that starts or ends with a fragment of the key (e.g. "sk-ab****wxyz")
    pat = "|".join(re.escape(f) for f in sorted(frags, key=len, reverse=True))
    token = re.compile(r"[^\s\"'<>]*(?:" + pat + r")[^\s\"'<>]*")

    def one(m: re.Match) -> str:
        word = m.group(0)
        core = word.strip(".,;:()[]{}")
        if any(core.startswith(f) or core.endswith(f) for f in frags) or "*" in core:
            return word.replace(core, MARK) if core else word
        return word
    return token.sub(one, text)


def is_secret_name(name) -> bool:
    """Whether a parameter or field called ``name`` holds a secret (``api_key``, ``subscription-key``, ...)."""
    return isinstance(name, str) and re.fullmatch(_SECRET_PARAM, name, re.I) is not None


def redact_mapping(value):
    """A copy of ``value`` (e.g. a backend's ``extra_body``) with the text under secret-looking names, at any
    depth, replaced by the mark; those values are registered too, so an echo of them is redacted everywhere."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if is_secret_name(k) and isinstance(v, (str, int, float)) and not isinstance(v, bool):
                register_secret(str(v))
                out[k] = MARK
            else:
                out[k] = redact_mapping(v)
        return out
    if isinstance(value, (list, tuple)):
        return [redact_mapping(v) for v in value]
    return value


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` part removed and secret-looking query values replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MARK if is_secret_name(k) else v) for k, v in pairs], safe="[]")
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def redact(text) -> str:
    """``text`` without registered secrets (or fragments of them), OpenAI-shaped keys and URL credentials."""
    if text is None:
        return text
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + MARK, str(text))     # URL parts first, while whole
    text = _URL_USERINFO.sub(lambda m: m.group(1), text)
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for s in secrets:
        if s in text or any(f in text for f in _fragments(s)):
            text = _redact_secret(text, s)
    return _KEY_LIKE.sub(MARK, text)
