"""What an OpenAI-compatible server sends back, read once for the live and the Batch API paths: a
chat completion as a :class:`Response` (text, refusals, usage, letter log-probabilities), an HTTP error as a
typed, retryable-or-not kind, ``Retry-After`` in its three forms, and keys kept out of messages."""
from __future__ import annotations

import datetime
import email.utils
import json
import time
from urllib.parse import parse_qsl, urlparse, urlsplit, urlunsplit

from ..redact import redact, register_secret
from .base import Response
from .likelihood import from_positions

RETRYABLE_STATUS = {408, 409, 429}
MAX_TOKEN_COUNT = (1 << 32) - 1      # no context is near it; sums over any run stay within 64-bit integers


def is_openai_host(url: str) -> bool:
    return (urlparse(url).hostname or "").endswith("openai.com")


def retry_after_s(headers) -> float | None:
    """Seconds asked by ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date), if any."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError, IndexError):   # neither seconds nor a date: ignored (backoff applies)
        return None
    if when.tzinfo is None:                        # an HTTP date is always GMT
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def redact_key(text: str, key: str | None) -> str:
    """``text`` without the API key, any fragment of it that a server echoes (whatever the key's length),
    or anything shaped like an OpenAI key (see :mod:`mmad_eval.redact`)."""
    register_secret(key)
    return redact(text)


def error_code(e) -> str | None:
    """``error.code`` (or ``error.type``) of an OpenAI-style error body, if any."""
    body = getattr(e, "body", None)
    err = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None
    return err.get("code") or err.get("type")

def status_error_kind(status: int, code: str | None) -> tuple[str, bool]:
    """(error_type, retryable) of an HTTP error status and its body's ``error.code``."""
    if status == 429 and code == "insufficient_quota":   # a spent budget: waiting won't help
        return "quota", False
    if status == 429:
        return "rate_limit", True
    if status >= 500 or status in RETRYABLE_STATUS:
        return "server_error", True
    kinds = {400: "bad_request", 401: "auth", 403: "auth", 404: "not_found", 413: "too_large", 422: "bad_request"}
    return kinds.get(status, "client_error"), False


def completion_response(key: str, letters: tuple[str, ...], data: dict, attempts: int) -> Response:
    """A Response from a chat-completion JSON object (choices[0]: content, refusal, logprobs; usage);
    ``letters``: the single question's option letters (for letter log-probabilities), else empty."""
    r = Response(key=key, attempts=attempts)
    read_usage(r, data.get("usage"))
    choice = first_choice(data.get("choices"))
    if choice is None:
        r.error_type, r.error_message = "malformed_response", "response has no choices"
        return r
    msg = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    r.extra["finish_reason"] = choice.get("finish_reason")
    refusal = msg.get("refusal")
    content = msg.get("content")
    calls = tool_calls_of(msg)
    if calls is not None and not refusal:            # agent mode: the model asks for tools (content optional)
        r.text = content if isinstance(content, str) else ""
        r.extra["tool_calls"] = calls
        return r
    if refusal:
        r.error_type, r.error_message = "refusal", str(refusal)
    elif choice.get("finish_reason") == "content_filter":
        r.error_type, r.error_message = "refusal", "finish_reason=content_filter"
    elif content is None:
        r.error_type, r.error_message = "empty_response", "no content in response"
    elif content == "" and choice.get("finish_reason") == "length":   # e.g. all tokens spent on reasoning
        r.error_type, r.error_message = "empty_response", ("empty content, finish_reason=length: the token "
                                                           "limit (max_tokens) was reached before any answer; "
                                                           "raise --max-tokens")
    elif not isinstance(content, str):
        r.error_type, r.error_message = "malformed_response", "message content is not text"
    else:
        r.text = content
        r.letter_logprobs, found = letter_logprobs_of(letters, choice)
        r.extra.update(found)
        if letters and r.letter_logprobs is None and not found:
            r.extra["no_logprobs"] = True           # asked for, none came back (see OpenAIBackend._handle)
    return r


def first_choice(choices) -> dict | None:
    """The choice of ``index`` 0 (servers may list choices in any order), else the first listed one."""
    if not isinstance(choices, list) or not choices:
        return None
    choice = next((c for c in choices if isinstance(c, dict) and c.get("index") == 0), choices[0])
    return choice if isinstance(choice, dict) else None


def token_count(value) -> tuple[int | None, bool]:
    """(a usage count as stored, whether it was odd): integers (integral floats too) clamped to 0..2^32-1;
    text, fractions, booleans or objects are not counts (None)."""
    if value is None:
        return None, False
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return None, True
    clamped = min(max(value, 0), MAX_TOKEN_COUNT)
    return clamped, clamped != value


def read_usage(r: Response, usage) -> None:
    """``r``'s token counts from a reply's ``usage``; fields that were not counts (or out of range) are
    named in ``extra["odd_usage"]`` (stored with the answer), never an error: the answer stays good."""
    odd = [] if usage is None or isinstance(usage, dict) else ["usage"]
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("completion_tokens_details")
    details = details if isinstance(details, dict) else {}
    r.prompt_tokens, bad = token_count(usage.get("prompt_tokens"))
    odd += ["prompt_tokens"] * bad
    r.completion_tokens, bad = token_count(usage.get("completion_tokens"))
    odd += ["completion_tokens"] * bad
    reasoning, bad = token_count(details.get("reasoning_tokens"))
    odd += ["reasoning_tokens"] * bad
    if reasoning is not None:
        r.extra["reasoning_tokens"] = reasoning      # part of completion_tokens
    if odd:
        r.extra["odd_usage"] = odd


def tool_calls_of(msg: dict) -> list[dict] | None:
    """``message.tool_calls`` as ``[{"id", "name", "arguments"}]`` (arguments as the JSON text the model wrote;
    a call of an odd shape is kept with what it has, so the agent loop can tell the model it was invalid);
    None when the message calls no tool."""
    calls = msg.get("tool_calls")
    if not isinstance(calls, list) or not calls:
        return None
    out = []
    for i, call in enumerate(calls):
        call = call if isinstance(call, dict) else {}
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        args = fn.get("arguments")
        out.append({"id": str(call.get("id") or f"call_{i}")[:200], "name": str(fn.get("name") or "")[:200],
                    "arguments": args if isinstance(args, str) else json.dumps(args)})
    return out


def letter_logprobs_of(letters: tuple[str, ...], choice: dict) -> tuple[dict[str, float] | None, dict]:
    """Letter log-probs from ``choice.logprobs.content[i].top_logprobs`` and where they were read, with the
    shown letters outside the returned top-k (see :mod:`.likelihood`); nothing when no logprobs came back."""
    lp = choice.get("logprobs")
    content = lp.get("content") if isinstance(lp, dict) else None
    if not letters or not content:
        return None, {}
    positions = []
    for tok in content:
        if not isinstance(tok, dict):
            continue
        alts = [(t.get("token"), t.get("logprob")) for t in (tok.get("top_logprobs") or [])
                if isinstance(t, dict) and isinstance(t.get("token"), str)]
        if not alts and isinstance(tok.get("token"), str):
            alts = [(tok["token"], tok.get("logprob"))]
        positions.append(alts)
    return from_positions(positions, letters)


def split_query(url: str) -> tuple[str, dict]:
    """(URL without its query, the query as a dict): paths are appended to the base URL, so query parameters
    (e.g. an Azure ``api-version`` or a gateway token) are sent as parameters of each request."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query="")), dict(parse_qsl(parts.query, keep_blank_values=True))
