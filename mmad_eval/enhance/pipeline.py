"""Training-free enhancements applied per query image: normal references, domain knowledge, expert hint.

The run engine asks this object, per image entry, which normal reference images to show, which knowledge text to
add and which expert hint (image and/or text) to append. Each part is a recorded setting.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..questions.model import ImageEntry, QuestionSet, split_key
from ..settings import EnhancementSettings, ProtocolSettings
from ..sources.knowledge import Knowledge, load_knowledge, lookup


class Enhancements:
    def __init__(self, settings: EnhancementSettings, protocol: ProtocolSettings, data_root: Path,
                 questions: QuestionSet):
        self.settings = settings
        self.protocol = protocol
        self.data_root = Path(data_root)
        self.questions = questions
        self.knowledge: Knowledge | None = load_knowledge(Path(settings.knowledge)) if settings.knowledge else None
        self.missing_knowledge: set[str] = set()
        self.fewer_references: set[str] = set()     # queries shown fewer normal references than asked for
        self._earlier_fewer = 0
        self._retrieval = None
        self._expert = None
        self._other_experts: dict[str, object] = {}

    # -- normal references -------------------------------------------------------------------------
    def references(self, entry: ImageEntry) -> list[str]:
        """Template image keys (relative to the data root) to show before the query, most useful first."""
        p = self.protocol
        if p.references == "none" or p.shots <= 0:
            return []
        if p.references == "random":
            refs = entry.random_templates[: p.shots]
        elif p.references == "similar":
            refs = entry.similar_templates[: p.shots]
        elif p.references == "retrieved":
            refs = self._retriever().nearest(entry.key, p.shots)
        else:
            raise ConfigError("unknown reference image source", culprit=p.references)
        if len(refs) < p.shots:
            self.fewer_references.add(entry.key)
        return refs

    def retriever(self):
        """The retrieval index over the question set's normal images (built on first use)."""
        return self._retriever()

    def _retriever(self):
        if self._retrieval is None:
            from .retrieval import RetrievalIndex  # built lazily: embeds each category's normal pool once

            self._retrieval = RetrievalIndex.from_questions(self.data_root, self.questions,
                                                            embedder=self.settings.embedder)
        return self._retrieval

    # -- domain knowledge --------------------------------------------------------------------------
    def knowledge_text(self, entry: ImageEntry) -> str | None:
        """The category's knowledge as prompt text (MMAD: every text of the category joined by newlines)."""
        if self.knowledge is None:
            return None
        dataset, category = split_key(entry.key)
        ck = lookup(self.knowledge, dataset, category)
        if ck is None:
            self.missing_knowledge.add(f"{dataset}/{category}")
            return None
        if ck.raw_texts:
            return "\n".join(ck.raw_texts.values())
        lines = [f" {ck.name}\n Description: {ck.normal or ck.description}"]
        for d in ck.defects.values():
            lines.append(f" {d.name}\n Description: {d.appearance}")
        return "\n".join(lines)

    # -- expert hint -------------------------------------------------------------------------------
    def expert(self):
        """The expert service (built-in detector or oracle), created on first use; None when off."""
        if self.settings.expert == "none":
            return None
        if self._expert is None:
            from .expert.service import ExpertService

            self._expert = ExpertService(self.data_root, self.questions, kind=self.settings.expert,
                                         perturb=self._perturb())
        return self._expert

    def expert_of_kind(self, kind: str):
        """An expert service of ``kind``: the hint detector when it is that kind, else one built for the caller
        (the expert baseline answering with a detector the run does not use for hints)."""
        if kind == self.settings.expert:
            return self.expert()
        if kind not in self._other_experts:
            from .expert.service import ExpertService

            self._other_experts[kind] = ExpertService(self.data_root, self.questions, kind=kind,
                                                      perturb=self._perturb())
        return self._other_experts[kind]

    def _perturb(self) -> tuple[str, int] | None:
        """A robustness run's perturbations, so the built-in detector sees the query as the model does."""
        return (self.protocol.perturb, self.protocol.perturb_seed) if self.protocol.perturb else None

    def hint(self, entry: ImageEntry) -> tuple[bytes | None, str | None]:
        """(hint image PNG bytes or None, hint text or None) for the query image."""
        service = self.expert()
        if service is None:
            return None, None
        from .hints import render_hint

        return render_hint(service.analyze(entry.key), self.data_root / entry.key, self.settings.hint,
                           self._perturb())

    def describe(self) -> dict:
        return {"references": self.protocol.references, "shots": self.protocol.shots,
                "knowledge": Path(self.settings.knowledge).name if self.settings.knowledge else None,
                "expert": self.settings.expert, "hint": self.settings.hint if self.settings.expert != "none" else None,
                "missing_knowledge": sorted(self.missing_knowledge),
                "queries_with_fewer_references": max(len(self.fewer_references), self._earlier_fewer),
                **({"expert_references_left_out": sorted({m for _, m in self._expert.left_out})}
                   if self._expert is not None and getattr(self._expert, "left_out", None) else {})}

    def merge_previous(self, previous: dict | None) -> None:
        """Keep what an earlier invocation of the same run saw (a resume rebuilds only unfinished entries)."""
        old = (previous or {}).get("enhancements") or {}
        self.missing_knowledge.update(old.get("missing_knowledge") or [])
        self._earlier_fewer = int(old.get("queries_with_fewer_references") or 0)
