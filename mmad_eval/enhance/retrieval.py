"""Normal-reference retrieval over a question set: the pool of a (dataset, category) is every reference image
path the question set names for entries of that category (``similar_templates`` and ``random_templates``,
de-duplicated, sorted). The index itself is :class:`mmad_eval.retrieval.index.RetrievalIndex`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import DataError
from ..paths import split_key
from ..questions.model import QuestionSet
from ..retrieval.index import RetrievalIndex as _Index


class RetrievalIndex(_Index):
    @classmethod
    def from_questions(cls, data_root: Path, questions: QuestionSet, embedder: str = "builtin") -> "RetrievalIndex":
        pools: dict[tuple[str, str], set[str]] = {}
        for entry in questions.entries.values():
            pool = pools.setdefault(split_key(entry.key), set())
            pool.update(entry.similar_templates)
            pool.update(entry.random_templates)
        return cls(data_root, {k: sorted(v) for k, v in pools.items()}, embedder)


def write_similar_templates(questions: QuestionSet, index: RetrievalIndex, k: int,
                            errors: list[tuple[str, str]] | None = None) -> QuestionSet:
    """A copy of the question set whose every entry's ``similar_templates`` is its k retrieved references
    (the input set is left unchanged; other fields are kept). With an ``errors`` list, an entry whose query
    cannot be retrieved for keeps its templates and (key, reason) is appended; without one, it raises."""
    entries = {}
    for key, e in questions.entries.items():
        try:
            entries[key] = dataclasses.replace(e, similar_templates=index.nearest(key, k))
        except DataError as err:
            if errors is None:
                raise
            errors.append((key, str(err)))
            entries[key] = e
    return QuestionSet(entries=entries, sha256="", source="")
