"""The per-question answer record that flows from the store to parsing, scoring and reporting."""
from __future__ import annotations

from dataclasses import dataclass, field

from .questions.model import split_key, subtask_of


@dataclass
class AnswerRecord:
    """One question's outcome in one run (one option rotation when circular evaluation is on)."""

    image: str                        # query key
    index: int                        # question index within the image's conversation
    type: str                         # MMAD type string
    options: dict[str, str]           # as shown to the model (after any shuffle/rotation)
    answer: str                       # correct letter as shown
    reply: str | None = None          # raw model text; None when the request failed
    error: str | None = None          # "type: message" when the request failed (never a prediction)
    parsed: str | None = None         # letter from the strict cascade; None = unparsed
    rule: str | None = None           # which cascade rule fired
    reference_parsed: str | None = None   # letter from MMAD's reference parser (last standalone A-E)
    rotation: int = 0                 # circular evaluation: which rotation
    question: str = ""                # question text (exports in MMAD's answer format)
    request_key: str = ""
    meta: dict = field(default_factory=dict)   # e.g. tokens, latency, letter logprobs

    @property
    def qid(self) -> str:
        return f"{self.image}#{self.index}"

    @property
    def dataset(self) -> str:
        return split_key(self.image)[0]

    @property
    def category(self) -> str:
        return split_key(self.image)[1]

    @property
    def subtask(self) -> str:
        return subtask_of(self.type)

    @property
    def abstained(self) -> bool:
        """The backend declined this question by design (e.g. the expert outside AD/DL): a stored answer
        with no letter, counted apart from unparsed replies (the strict score still counts it wrong)."""
        return self.error is None and bool(self.meta.get("abstain")) and self.parsed is None

    @property
    def reference_text(self) -> str:
        """The reference answer of an open answer: the correct option's text, or, for a question asked
        without options (RobustMAD's open-ended ones), the answer itself."""
        return self.options.get(self.answer, "") if self.options else self.answer

    @property
    def correct(self) -> bool:
        return self.parsed is not None and self.parsed == self.answer
