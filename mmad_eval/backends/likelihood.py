"""Option-letter log-probabilities from each backend's own output, for ``--answer-mode likelihood`` and
``--logprobs``.

* API backends and vLLM return the top-k alternatives at each generated position: the answer position is
  the first one (the prompt asks for the letter directly), or, when no shown letter is among its
  alternatives (a model that opens with "The" or "**"), the first position where one is. Shown letters
  absent from that position's top-k are listed as ``outside_topk``.
* transformers gives the full distribution of the first generated token: every spelling of a letter that is
  one token of the vocabulary (``"A"``, ``" A"``, ``"▁A"``, ...) is pooled with log-sum-exp, so nothing is
  ever outside a top-k there.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

from .convert import letter_logprobs


def from_positions(positions: Iterable[Sequence[tuple[str, float]]], letters: Sequence[str]) -> tuple[
        dict[str, float] | None, dict]:
    """(letter log-probs, extra) from per-position ``(token, logprob)`` alternatives; extra records the
    position used and the shown letters outside its top-k."""
    for i, alts in enumerate(positions):
        found = letter_logprobs(alts, letters)
        if found:
            extra = {"letter_position": i}
            outside = [x for x in letters if x not in found]
            if outside:
                extra["outside_topk"] = outside
            return found, extra
    return None, {"outside_topk": list(letters)} if letters else {}


def letter_token_ids(tokenizer, letters: Sequence[str]) -> dict[str, list[int]]:
    """Letter -> ids of the single vocabulary tokens that spell it, with or without a leading space."""
    out: dict[str, list[int]] = {}
    for letter in letters:
        ids: set[int] = set()
        for text in (letter, " " + letter):
            enc = tokenizer.encode(text, add_special_tokens=False)
            if len(enc) == 1:
                ids.add(int(enc[0]))
        for piece in ("▁" + letter, "Ġ" + letter, letter):
            tid = tokenizer.convert_tokens_to_ids(piece)
            if isinstance(tid, int) and tid != getattr(tokenizer, "unk_token_id", None) and tid >= 0:
                ids.add(tid)
        out[letter] = sorted(t for t in ids if tokenizer.decode([t]).strip() == letter)
    return out


def pooled_logprobs(log_probs: Sequence[float], ids_by_letter: dict[str, list[int]]) -> dict[str, float]:
    """Letter -> log-sum-exp of its tokens' log-probabilities (``log_probs`` indexed by token id)."""
    out = {}
    for letter, ids in ids_by_letter.items():
        vals = [float(log_probs[i]) for i in ids if math.isfinite(float(log_probs[i]))]
        if vals:
            m = max(vals)
            out[letter] = m + math.log(sum(math.exp(v - m) for v in vals))
    return out
