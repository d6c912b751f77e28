"""Ranking runs by the strict score, naming a leader only where a paired test on the same questions says so.

* Only runs that answered every question of one question set (the same file, the same selection) are ranked;
  the others are listed with why (:func:`question_set`, :func:`ranking_group`).
* Order: the strict Average (a score that cannot reward not answering), highest first.
* The leader is *separated* from another run when the paired bootstrap 95 % CI of the difference of their
  strict Averages on the same questions (the same image resample for both, :func:`.compare.compare_runs`)
  excludes 0; the headline names a single best run only when it is separated from every other ranked run.
* Published MMAD rows are comparable only when the question file is a known ``mmad.json`` revision
  (:func:`is_known_mmad_revision`, by the file's hash).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

from ..answers import AnswerRecord
from ..questions.identity import known_question_set
from ..questions.model import LETTERS
from .compare import compare_runs
from .mmad import in_answers_file
from .scorers import STRICT, Scorer
from .table import ScoreTable

@dataclass(frozen=True)
class QuestionSet:
    """What a run was asked: the question file (by hash) and which of its questions (the selection)."""

    file: str | None
    sha256: str | None                  # of the question file, as the run record holds it
    git_blob: str | None                # git's blob id of the file, where recorded
    count: int | None                   # questions in the file
    selected: int                       # questions this run was asked (its selection)
    selection: str                      # digest of the selected question ids

    @property
    def key(self) -> tuple:
        return self.sha256, self.selection

    @property
    def whole_file(self) -> bool:
        return self.count is not None and self.selected == self.count


def is_known_mmad_revision(qs: QuestionSet | None) -> bool:
    """Is this the whole of a known ``mmad.json`` revision (so MMAD's published rows are comparable)? Revisions
    are recognised by :func:`mmad_eval.questions.identity.known_question_set` (SHA-256 or git blob id)."""
    return (qs is not None and qs.whole_file and (qs.sha256 or qs.git_blob) is not None
            and known_question_set(qs.sha256, qs.git_blob) is not None)


def question_set(record: dict, answers: Sequence[AnswerRecord]) -> QuestionSet:
    """The question-set identity of a run: the file hash from its record, the selection from its answers."""
    q = record.get("questions") or {}
    qids = sorted({a.qid for a in answers if a.rotation == 0})
    digest = hashlib.sha256("\n".join(qids).encode()).hexdigest()
    return QuestionSet(file=q.get("file"), sha256=q.get("sha256"), git_blob=q.get("git_blob"), count=q.get("count"),
                       selected=len(qids), selection=digest)


def unanswered(answers: Sequence[AnswerRecord]) -> int:
    """Questions not asked yet (placeholders of an unfinished run)."""
    return sum(a.rotation == 0 and (a.error or "").startswith("missing:") for a in answers)


@dataclass
class Entrant:
    name: str
    answers: list[AnswerRecord]
    question_set: QuestionSet
    strict: ScoreTable                  # the run's strict table (the number shown everywhere)


@dataclass
class Standing:
    name: str
    strict: float | None                # strict Average, percent
    index: int = 0                      # the entrant's position in the input (runs may share a name)
    rank: int | None = None             # 1 = highest strict Average; None = not ranked
    not_ranked: str | None = None       # why it is not ranked
    diff_to_leader: float | None = None         # leader - this run, points (paired, same questions)
    diff_ci: tuple[float, float] | None = None  # paired bootstrap 95 % CI of that difference
    p_value: float | None = None                # McNemar exact p on all paired questions (for reference)

    @property
    def separated(self) -> bool:
        """Behind the leader (leader - this > 0) with a paired 95 % CI of that difference above 0."""
        return self.diff_ci is not None and (self.diff_to_leader or 0) > 0 and self.diff_ci[0] > 0


@dataclass
class Ranking:
    standings: list[Standing] = field(default_factory=list)   # ranked runs by strict Average, then the rest
    question_set: QuestionSet | None = None                   # the set the ranked runs answered
    leader: str | None = None                                 # the best strict Average among ranked runs
    not_separated: list[str] = field(default_factory=list)    # ranked runs the leader is not separated from

    @property
    def ranked(self) -> list[Standing]:
        return [s for s in self.standings if s.rank is not None]

    @property
    def winner(self) -> str | None:
        """The leader, when it is separated from every other ranked run (and there is another one)."""
        return self.leader if len(self.ranked) > 1 and not self.not_separated else None


def _why_not(e: Entrant, group: QuestionSet | None, missing: int) -> str | None:
    if missing:
        return f"run incomplete: {missing} of {e.question_set.selected} questions not answered yet"
    if group is None:
        return "no complete run"
    if e.question_set.sha256 != group.sha256:
        return f"another question file ({e.question_set.file or 'unknown'})"
    if e.question_set.selection != group.selection:
        return (f"another selection of the questions ({e.question_set.selected:,} questions; the ranked runs "
                f"answered {group.selected:,})")
    return None


def ranking_group(entrants: Sequence[Entrant]) -> QuestionSet | None:
    """The question set the ranking is over: of the complete runs, the set with the most questions, then the
    most runs, then the first seen."""
    complete = [e for e in entrants if not unanswered(e.answers)]
    if not complete:
        return None
    keys = [e.question_set.key for e in complete]
    best = max(complete, key=lambda e: (e.question_set.selected, keys.count(e.question_set.key),
                                        -keys.index(e.question_set.key)))
    return best.question_set


def rank_runs(entrants: Sequence[Entrant], scorer: Scorer = STRICT, n_boot: int = 1000,
              seed: int = 0) -> Ranking:
    """Rank complete runs of one question set by the strict Average; test the leader against each other."""
    group = ranking_group(entrants)
    out = Ranking(question_set=group)
    ranked, rest = [], []
    for i, e in enumerate(entrants):
        why = _why_not(e, group, unanswered(e.answers))
        avg = e.strict.overall.get("Average")
        (rest if why or avg is None else ranked).append((e, Standing(e.name, avg, i, not_ranked=why)))
    for _, s in rest:
        s.not_ranked = s.not_ranked or "no strict score"
    ranked.sort(key=lambda es: -es[1].strict)
    for i, (e, s) in enumerate(ranked):
        s.rank = i + 1
    if ranked:
        lead_e, lead = ranked[0]
        out.leader = lead.name
        for e, s in ranked[1:]:
            cmp = compare_runs(e.answers, lead_e.answers, scorer, n_boot=n_boot, seed=seed)
            s.diff_to_leader, s.diff_ci = cmp.diff.get("Average"), cmp.ci.get("Average")
            mc = cmp.mcnemar.get("All")
            s.p_value = mc.p_exact if mc else None
            if not s.separated:
                out.not_separated.append(s.name)
    out.standings = [s for _, s in ranked] + [s for _, s in rest]
    return out


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}%"


def headline(r: Ranking) -> str:
    """One sentence: the single best run by the strict score, or that none is separated (plain text)."""
    ranked = r.ranked
    if not ranked:
        return "No run is ranked: none has answered every question of its question set yet."
    lead = ranked[0]
    if len(ranked) == 1:
        return f"Only one run is ranked: {lead.name}, strict score {_pct(lead.strict)}."
    if r.winner:
        return (f"Best strict score: {lead.name} at {_pct(lead.strict)}, ahead of every other ranked run "
                f"(paired bootstrap, 95 %).")
    others = ", ".join(f"{s.name} ({_pct(s.strict)})" for s in ranked if s.name in r.not_separated)
    return (f"No run is separated: {lead.name} has the highest strict score ({_pct(lead.strict)}) but is not "
            f"separated from {others} (paired bootstrap 95 % CI of the difference includes 0).")


def compatible_gap(answers: Sequence[AnswerRecord], compatible: ScoreTable, strict: ScoreTable) -> str | None:
    """Why the MMAD-compatible number (summary.py's rule) differs from the strict one, with the counts; None
    when they agree to 0.05 points."""
    a, b = compatible.overall.get("Average"), strict.overall.get("Average")
    if a is None or b is None or abs(a - b) < 0.05:
        return None
    dropped, skipped = compatible.extra.get("dropped_invalid", 0), compatible.extra.get("skipped_after_drop", 0)
    if not dropped:
        return ("The two read letters differently (the strict cascade vs summary.py's last standalone letter) "
                "and summary.py scores an empty cell 0.")
    recs = [r for r in answers if in_answers_file(r)]
    bad = [r for r in recs if r.answer not in tuple(LETTERS) or r.reference_parsed not in tuple(LETTERS)]
    kinds = [(sum(r.abstained for r in bad), "abstained"), (sum(r.error is not None for r in bad), "failed"),
             (sum(r.error is None and not r.abstained for r in bad), "unparsed")]
    what = ", ".join(f"{n:,} {k}" for n, k in kinds if n)
    return (f"summary.py's rule dropped {dropped:,} answers without a letter A-E ({what}) from its denominator"
            + (f" and skipped the {skipped:,} answers right after them" if skipped else "")
            + "; the strict score counts every question, those as wrong.")
