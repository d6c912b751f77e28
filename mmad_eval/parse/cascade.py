"""The strict answer parser: a cascade of named rules, each answer records which rule fired.

Rules, in order (the first that yields a letter wins):

``explicit``        "Answer: B", "The answer is (B)", "correct option is B", "I choose B", "答案：C"
                    (the last such statement in the reply counts);
``lone_letter``     the whole reply is one letter: "B", "B.", "(B)", "**B**";
``leading_letter``  the reply starts with a letter and a separator: "B. Yes.", "(B) crack", "B) ...";
``last_letter``     the last standalone option letter in the reply, skipping the article "A" in prose
                    ("A scratch is visible" is not an answer; "option A" and "A." are) and negated letters
                    ("C, not D.", "D is wrong");
``option_text``     the reply contains exactly one option's text (normalised; an option contained in a
                    longer matched option is implied by it);
``judge``           an optional LLM judge (off by default, see :mod:`.judge`);
``ambiguous``       the letter ``explicit`` or ``last_letter`` found is joined to another option letter by
                    "or"/"and" ("B or C", "Both A and C"), or the reply offers a second letter as an
                    alternative ("C, but it could also be D", "B; alternatively D", "C (maybe D)", "the
                    answer is C, though D is also possible"): a hedge names no answer, so None (never a guess);
``unparsed``        nothing matched: None. There is never a random or closest-option fallback.

A letter that is not among the shown options ("Answer: E" when options are A-D) is not accepted:
the reply gets ``(None, "invalid_letter")``. With no options known (``options`` empty, e.g. an imported
answer file without them) only ``explicit``, ``lone_letter`` and ``leading_letter`` apply, over A-E.
Reasoning blocks: when a reply holds ``</think>``, only the text after the last one is parsed.
Replies are NFKC-normalised first, so full-width letters and brackets ("（Ｂ）") read as ASCII.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Callable

LETTERS = "ABCDE"
UNPARSED = "unparsed"
INVALID = "invalid_letter"
AMBIGUOUS = "ambiguous"
RULES = ("explicit", "lone_letter", "leading_letter", "last_letter", "option_text", "judge", INVALID, AMBIGUOUS,
         UNPARSED)
# What each rule (and the other outcomes a stored answer can have) means, in the words shown to users.
RULE_WORDS = {"explicit": "stated answer", "lone_letter": "letter alone", "leading_letter": "leading letter",
              "last_letter": "last letter", "option_text": "option text", "judge": "LLM judge",
              INVALID: "letter not shown", AMBIGUOUS: "several letters", UNPARSED: "no letter",
              "likelihood": "letter probabilities", "truncated": "cut by the token limit",
              "error": "request failed", "none": "no reply"}


def rule_words(rule: str | None) -> str:
    """A parser rule id as users read it ("lone_letter" -> "letter alone"); unknown ids as they are."""
    return RULE_WORDS.get(rule or "none", (rule or "none").replace("_", " "))

# A letter token not glued to a Latin word, digit, hyphen, apostrophe or slash ("C-shaped", "A's", "B/C");
# CJK text may touch it ("答案是B").
_TOKEN = r"(?<![A-Za-z0-9_\-'’/])([A-Ea-e])(?![A-Za-z0-9_\-'’/])"
# Words after a capital "A" that show it is a letter, not the article ("A is correct").
_NOT_ARTICLE = re.compile(r"[ \t]+(?:is|was|seems|appears|would|should|could|because|since|as|fits|matches|"
                          r"best|correctly|here|option|and|or)\b")
_ARTICLE = re.compile(r"[ \t]+[a-z]")
_OPEN = r"[\s\*_\(\[【「\"'“]*"

_EXPLICIT = re.compile(
    r"(?:\b(?:final\s+|correct\s+|right\s+|best\s+)?answer\s*(?:is|would\s+be|should\s+be|will\s+be|choice\s+is)?"
    r"\s*[:：=\-]?\s*(?:(?:option|choice)\s*)?"
    r"|\b(?:correct|right|best)\s+(?:option|choice)\s*(?:is|would\s+be|should\s+be)?\s*[:：]?\s*"
    r"|\b(?:I\s+(?:would\s+)?(?:choose|select|pick)|I'd\s+(?:choose|select|pick)|my\s+choice\s+is)\s*[:：]?\s*"
    r"(?:(?:option|choice)\s*)?"
    r"|答案\s*(?:是|为|為|应为|應為|应该是|應該是|选|選)?\s*[:：]?\s*(?:选项|選項)?\s*)"
    + _OPEN + _TOKEN,
    re.IGNORECASE)
_OPTION_IS_CORRECT = re.compile(r"\b(?:option|choice)\s+" + _OPEN + _TOKEN +
                                r"[\*\)\]\s]*(?:is|would\s+be)\s+(?:the\s+)?(?:correct|right|best)\b", re.IGNORECASE)
_LONE = re.compile(r"^[\(\[【]?([A-Ea-e])[\)\]】]?[.。:：)]?$")
_LEADING = re.compile(r"^[\s#>]*(?:\(([A-E])\)|\[([A-E])\]|([A-E])(?:\s*[.。:：)]|\s+[-–—]\s))")
# "B or C", "(A) and (C)", "A or option D": the letters joined to a found letter make it a hedge
_JOIN = r"[\*\)\]]*\s+(?:or|and)\s+(?:(?:option|choice)\s+)?[\(\[\*]*"
_JOINED_AFTER = re.compile(_JOIN + r"([A-E])(?![A-Za-z0-9_\-'’/])(?!\s+(?:is|are|was|were)\b)")
_JOINED_BEFORE = re.compile(r"(?<![A-Za-z0-9_\-'’/])([A-E])" + _JOIN + r"$")
_KEYWORD_BEFORE = re.compile(r"(?:option|choice|answer(?:\s+is)?|letter)\s*[:：]?\s*[\(\[\*\"']*$", re.IGNORECASE)


# A second letter offered as an alternative: a cue shortly before it, or "is also possible" after it; a
# negated letter ("not D", "D is wrong") is no alternative.
_ALT_CUE = re.compile(r"\b(?:also|alternatively|alternative|otherwise|possibly|perhaps|maybe|might|could|or)\b",
                      re.IGNORECASE)
_ALT_AFTER = re.compile(r"[\s\*\)\]]*(?:(?:is|are|would\s+be|could\s+be|might\s+be|may\s+be|seems)\s+)?"
                        r"(?:also\s+)?(?:possible|plausible|an\s+option|a\s+possibility)\b", re.IGNORECASE)
_NEGATED_BEFORE = re.compile(r"(?:\bnot|n't|\bnever|\brather\s+than|\binstead\s+of)\s*(?:(?:option|choice)\s*)?"
                             r"[\(\[\*\"']*$", re.IGNORECASE)
_NEGATED_AFTER = re.compile(r"[\s\*\)\]]*(?:\?\s*no\b|(?:is|are|was|seems)\s+(?:not|wrong|incorrect|unlikely)\b|"
                            r"(?:is|are|was|can\s+be)\s+ruled\s+out)", re.IGNORECASE)
_CUE_WINDOW = 30


def _reasoning_stripped(text: str) -> str:
    if "</think>" in text:
        tail = text.rsplit("</think>", 1)[1]
        if tail.strip():
            return tail
    return text


def _is_letter(text: str, start: int, end: int) -> bool:
    """Is the token at text[start:end] a letter (not the article "A"/"a", not a lowercase word)?"""
    letter = text[start:end]
    after = text[end:]
    if letter.islower():
        # lowercase only when nothing word-like follows on the line ("answer: b.", not "answer is a crack")
        return re.match(r"[\s\*\)\]】\"'”]*(?:$|[.,;:!?\n])", after) is not None
    if letter != "A" or not _ARTICLE.match(after) or _NOT_ARTICLE.match(after):
        return True
    return _KEYWORD_BEFORE.search(text[:start]) is not None


def _hedged(text: str, start: int, end: int, allowed: str) -> bool:
    """Is the letter at text[start:end] joined by "or"/"and" to another allowed letter?"""
    letter = text[start:end].upper()
    after, before = _JOINED_AFTER.match(text, end), _JOINED_BEFORE.search(text[:start])
    return any(m is not None and m.group(1) != letter and m.group(1) in allowed for m in (after, before))


def _explicit(text: str) -> str | None:
    best: tuple[int, int, str] | None = None
    for pattern in (_EXPLICIT, _OPTION_IS_CORRECT):
        for m in pattern.finditer(text):
            if _is_letter(text, m.start(1), m.end(1)) and (best is None or m.start(1) > best[0]):
                best = (m.start(1), m.end(1), m.group(1).upper())
    if best is None:
        return None
    return AMBIGUOUS if _hedged(text, best[0], best[1], LETTERS) else best[2]


def _letter_tokens(text: str, allowed: str) -> list[tuple[int, int, str]]:
    """(start, end, letter) of every standalone capital option letter that is not the article "A"."""
    return [(m.start(1), m.end(1), m.group(1)) for m in re.finditer(_TOKEN, text)
            if m.group(1).isupper() and m.group(1) in allowed and _is_letter(text, m.start(1), m.end(1))]


def _negated(text: str, start: int, end: int) -> bool:
    return bool(_NEGATED_BEFORE.search(text[:start]) or _NEGATED_AFTER.match(text, end))


def _offers_alternative(text: str, letter: str, allowed: str) -> bool:
    """Does the reply offer another letter as an alternative to ``letter`` (its last occurrence)?

    A different letter after it with an alternative cue in between ("B; alternatively D") or "is also
    possible" after it; or ``letter`` itself offered as an alternative to an earlier, different letter
    ("Probably B, possibly C"). Negated letters ("not D", "D is wrong") are no alternative.
    """
    tokens = _letter_tokens(text, allowed)
    own = [t for t in tokens if t[2] == letter]
    if not own:
        return False
    start, end, _ = own[-1]
    for s, e, x in tokens:
        if x == letter or _negated(text, s, e):
            continue
        if s > end and (_ALT_CUE.search(text[max(end, s - _CUE_WINDOW):s]) or _ALT_AFTER.match(text, e)):
            return True
        if e < start and not _negated(text, start, end) and _ALT_CUE.search(text[max(e, start - _CUE_WINDOW):start]):
            return True
    return False


def _lone(text: str) -> str | None:
    core = re.sub(r"[\s\*_`\"'“”#]+", "", text)
    m = _LONE.match(core)
    return m.group(1).upper() if m else None


def _leading(text: str) -> str | None:
    m = _LEADING.match(text.replace("**", "").replace("__", ""))
    return next(g for g in m.groups() if g) if m else None


def _last_letter(text: str, allowed: str) -> str | None:
    for m in reversed(list(re.finditer(_TOKEN, text))):
        letter = m.group(1)
        if letter.isupper() and letter in allowed and _is_letter(text, m.start(1), m.end(1)) \
                and not _negated(text, m.start(1), m.end(1)):
            return AMBIGUOUS if _hedged(text, m.start(1), m.end(1), allowed) else letter
    return None


def normalise(text: str) -> str:
    """Lowercase, punctuation to spaces, whitespace collapsed (for option-text matching)."""
    return " ".join(re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", text).lower()).split())


def _option_text(text: str, options: dict[str, str]) -> str | None:
    reply = f" {normalise(text)} "
    matched = {k: normalise(v) for k, v in options.items() if normalise(v) and f" {normalise(v)} " in reply}
    # an option implied by a longer matched option ("crack" inside "crack and scratch") does not count
    kept = [k for k, v in matched.items()
            if not any(k2 != k and v != v2 and f" {v} " in f" {v2} " for k2, v2 in matched.items())]
    return kept[0] if len(kept) == 1 else None


def parse_reply(text: str | None, options: dict[str, str] | None,
                judge: Callable[[str, dict[str, str]], str | None] | None = None) -> tuple[str | None, str]:
    """Parse a model reply into one of the shown option letters: ``(letter or None, rule name)``.

    ``judge``, when given, is called as ``judge(reply, options)`` for replies no rule could parse
    (see :class:`mmad_eval.parse.judge.LLMJudge`); its answer must be one of the options.
    """
    if text is None or not text.strip():
        return None, UNPARSED
    text = unicodedata.normalize("NFKC", _reasoning_stripped(text))
    options = dict(options or {})
    allowed = "".join(k for k in options if k in set(LETTERS)) or LETTERS
    for rule, finder in (("explicit", _explicit), ("lone_letter", _lone), ("leading_letter", _leading)):
        letter = finder(text)
        if letter == AMBIGUOUS:
            return None, AMBIGUOUS
        if letter is not None:
            if letter not in allowed:
                return None, INVALID
            return (None, AMBIGUOUS) if _offers_alternative(text, letter, allowed) else (letter, rule)
    if not options:
        return None, UNPARSED
    letter = _last_letter(text, allowed)
    if letter == AMBIGUOUS or (letter is not None and _offers_alternative(text, letter, allowed)):
        return None, AMBIGUOUS
    if letter is not None:
        return letter, "last_letter"
    letter = _option_text(text, options)
    if letter is not None:
        return letter, "option_text"
    if judge is not None:
        letter = judge(text, options)
        if letter is not None and letter in allowed:
            return letter, "judge"
    return None, UNPARSED
