"""Everything a report shows, assembled from loaded runs (numbers via :mod:`.scoring`, never re-scored)."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from itertools import combinations

from .. import __version__
from ..questions.model import SUBTASKS
from ..run.describe import describe_run
from ..run.loaded import LoadedRun
from ..score.ad_scores import DetectionReport
from ..score.by_type import score_by_type
from ..score.difficulty import score_by_difficulty
from ..score.calibration import Calibration
from ..score.ranking import (Entrant, QuestionSet, Ranking, headline, is_known_mmad_revision, question_set,
                             unanswered)
from ..score.none_option import none_option_report
from ..score.table import ScoreTable
from .agent_section import agent_cards
from .robustness_section import robustness_rows
from .browser import browser_blob
from .charts import colour
from .grounding import GroundingReport, grounding_report
from .published import PublishedRow, published_rows
from .scoring import Breakdown, PackageScoring, PairRow, Scoring
from .scrub import display_path, scrub
from .thumbs import Thumbnails, ThumbSettings

MAX_PAIRS = 10           # beyond this many pairs, every run is compared with the first one only
DISAGREEMENTS_SHOWN = 12


@dataclass
class ModelData:
    name: str
    location: str                       # run directory, relative to the working directory
    record: dict                        # scrubbed run record
    compatible: ScoreTable
    strict: ScoreTable
    breakdown: Breakdown
    questions: int                      # distinct questions in the run
    answered: int                       # of those, answered without a request error
    records: int                        # answer records (questions x rotations)
    parse_failure: float | None         # percent of answers with no parsed letter (abstentions apart)
    error_rate: float | None            # percent of requests that failed
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    per_letter: dict[str, float | None]         # correct letter -> accuracy %
    predicted_share: dict[str, float]           # letter -> % of parsed predictions
    answer_share: dict[str, float]              # letter -> % of correct answers
    circular: float | None                      # circular accuracy %, when rotations were asked
    live_cost: float | None = None              # what it would have cost live (runs answered through batches)
    detection: DetectionReport | None = None    # Anomaly Detection as a detector (AUROC, AUPR, F1-max, ROC)
    calibration: Calibration | None = None      # ECE, reliability, coverage (answers with a confidence)
    description: str = ""                       # one line: model or baseline, preset, answer mode, questions
    index: int = 0                              # position in the report (its colour everywhere)
    abstained: int = 0                          # answers the backend declined by design
    abstain_rate: float | None = None           # percent of answers
    compatible_gap: str | None = None           # why summary.py's number differs from the strict one
    question_set: QuestionSet | None = None
    question_file: str = ""                     # which questions: known MMAD revision or hash, subset


@dataclass
class Comparison:
    a: str
    b: str
    rows: list[PairRow]
    disagreements: list[dict]           # a few questions where the two runs' letters differ
    n_disagree: int
    shared: int = 0                     # questions paired
    whole: bool = False                 # paired on every question of both runs: the summary's numbers


@dataclass
class Ablation:
    base: str
    run: str
    changed: dict[str, tuple]           # enhancement setting -> (base value, this run's value)
    deltas: dict[str, float | None]     # column -> strict score difference (run - base), points
    compatible_delta: float | None      # the MMAD-compatible Average's difference, beside it


def _shown_record(record: dict) -> dict:
    """The run record as the report prints it: the per-image difficulty levels as counts per level."""
    levels = record.get("difficulty")
    if not isinstance(levels, dict):
        return record
    counts: dict[str, int] = {}
    for level in levels.values():
        counts[level] = counts.get(level, 0) + 1
    return {**record, "difficulty": {"images per level": dict(sorted(counts.items()))}}


@dataclass
class ReportData:
    title: str
    generated: str
    version: str
    models: list[ModelData]
    comparisons: list[Comparison]
    ablations: list[Ablation]
    published: list[PublishedRow]
    browser: dict                       # the question browser's JSON blob
    thumbs: Thumbnails
    notes: list[str] = field(default_factory=list)
    human: list[PublishedRow] = field(default_factory=list)   # raters' rows (mmad-eval audit --human --json)
    errata: ErrataSection | None = None
    grounding: GroundingReport | None = None                  # Defect Grounding scores (scored apart)
    other_types: list[tuple[str, dict]] = field(default_factory=list)  # (run, per-type rows): other letter types
    difficulty: list[tuple[str, dict]] = field(default_factory=list)   # (run, per-level rows): the file's levels
    ranking: Ranking | None = None
    headline: str = ""                  # the summary's first sentence (strict score; a leader only if separated)
    published_comparable: bool = False  # the ranked runs answered a known mmad.json revision, whole
    agents: list = field(default_factory=list)   # agent_section.AgentCard per agent-mode run
    robustness: list = field(default_factory=list)   # robustness_section.RobustnessRow per perturbed run
    none_options: list = field(default_factory=list)  # (run name, NoneOptionReport) of runs offering a none option
    judged: list = field(default_factory=list)        # `mmad-eval judge` results of open-answer runs (dicts)


@dataclass
class ErrataSection:
    """Official and with-errata scores per model (errata applied before scoring, never instead of it)."""

    reference: dict                     # file, sha256, entries, applied
    rows: list[dict]                    # per model: name, official, with_errata (column -> %), changes
    entries: list[dict]                 # id, status, action, message, source, questions changed
    notes: list[dict]                   # caveats (fix action "note")


def errata_section(runs: list[LoadedRun], models: list[ModelData], errata, scoring: Scoring) -> ErrataSection:
    from ..errata import apply_to_answers
    from ..score.with_errata import errata_reference

    rows, changed = [], {}
    for run, m in zip(runs, models):
        fixed, changes = apply_to_answers(run.answers, errata)
        table = scoring.compatible(fixed)
        rows.append({"name": m.name, "official": m.compatible.overall, "with_errata": table.overall,
                     "changed": changes.questions, "excluded": sum(changes.excluded.values()),
                     "corrected": sum(changes.corrected.values())})
        for eid, n in changes.per_entry().items():
            changed[eid] = max(changed.get(eid, 0), n["excluded"] + n["corrected"])
    entries = [{"id": e["id"], "status": e["status"], "action": e["fix"]["action"],
                "message": e.get("message", ""), "source": e.get("source") or "", "changed": changed.get(e["id"], 0)}
               for e in errata.entries if e["status"] in ("reported", "confirmed")]
    notes = [{"id": n["id"], "message": n.get("message", ""), "source": n.get("source") or ""}
             for n in errata.notes()]
    return ErrataSection(reference=errata_reference(errata), rows=rows, entries=entries, notes=notes)


def question_set_line(record: dict) -> str:
    """Which questions a run scored, in a few words: the known MMAD revision (or the file's SHA-256 prefix)
    and the named subset, if any."""
    q = record.get("questions") or {}
    what = q.get("known_as") or (f"{q.get('file') or 'questions'} (sha256 {q['sha256'][:12]})" if q.get("sha256")
                                 else "")
    subset = ((record.get("slice") or {}).get("subset") or {}).get("name")
    return what + (f" · subset {subset}" if subset else "")


def _settings(record: dict) -> dict:
    s = record.get("settings")
    return s if isinstance(s, dict) else {}


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _usage(run: LoadedRun) -> tuple[int | None, int | None, float | None]:
    """Token usage (and cost, where a backend recorded one) from the run record, else from answer metadata."""
    u = run.record.get("usage") or {}
    tin = u.get("prompt_tokens_billed", u.get("prompt_tokens"))        # billed: replaced outcomes included
    tout = u.get("completion_tokens_billed", u.get("completion_tokens"))
    cost = u.get("cost_usd", u.get("cost"))
    if not tin and not tout:
        seen, tin, tout = set(), 0, 0
        for a in run.answers:
            if a.request_key in seen or not a.meta:
                continue
            seen.add(a.request_key)
            tin += a.meta.get("prompt_tokens") or 0
            tout += a.meta.get("completion_tokens") or 0
        tin, tout = tin or None, tout or None
    return tin, tout, cost


def model_data(run: LoadedRun, scoring: Scoring, index: int = 0) -> ModelData:
    compatible = scoring.compatible(run.answers)
    strict = scoring.strict(run.answers)
    qids = {a.qid for a in run.answers}
    ok = {a.qid for a in run.answers if a.error is None}
    tin, tout, cost = _usage(run)
    x = strict.extra
    by_letter = x.get("questions_by_correct_letter") or {}
    n_letter = sum(by_letter.values())
    return ModelData(
        name=run.name, location=display_path(run.run_dir), record=scrub(_shown_record(run.record)),
        compatible=compatible, strict=strict, breakdown=scoring.breakdown(run.answers),
        questions=len(qids), answered=len(ok), records=len(run.answers),
        parse_failure=x.get("parse_failure_rate"), error_rate=x.get("error_rate"),
        tokens_in=tin, tokens_out=tout, cost=cost,
        per_letter=dict(x.get("accuracy_by_correct_letter") or {}),
        predicted_share=dict(x.get("predicted_letter_share") or {}),
        answer_share={k: 100.0 * v / n_letter for k, v in by_letter.items()} if n_letter else {},
        circular=((x.get("circular") or {}).get("accuracy") or {}).get("All"),
        live_cost=(run.record.get("usage") or {}).get("live_cost_usd"),
        detection=scoring.detection(run.answers), calibration=scoring.calibration(run.answers),
        description=describe_run(run.record), index=index, abstained=x.get("abstained", 0),
        abstain_rate=x.get("abstain_rate"), compatible_gap=scoring.gap(run.answers, compatible, strict),
        question_set=question_set(run.record, run.answers),
        question_file=question_set_line(run.record),
    )


def _disagreements(a: LoadedRun, b: LoadedRun) -> tuple[int, list[dict]]:
    first_b = {x.qid: x for x in b.answers if x.rotation == 0}
    rows = []
    for x in a.answers:
        y = first_b.get(x.qid)
        if x.rotation or y is None or x.error or y.error or x.parsed == y.parsed:
            continue
        rows.append({"qid": x.qid, "subtask": x.subtask, "answer": x.answer, "a": x.parsed or "–",
                     "b": y.parsed or "–", "a_ok": x.correct, "b_ok": y.correct,
                     "option": x.options.get(x.answer, "")})
    return len(rows), rows[:DISAGREEMENTS_SHOWN]


def _asked(run: LoadedRun) -> int:
    return len({a.qid for a in run.answers if a.rotation == 0})


def comparisons(runs: list[LoadedRun], scoring: Scoring) -> list[Comparison]:
    pairs = list(combinations(runs, 2))
    if len(pairs) > MAX_PAIRS:
        pairs = [(runs[0], r) for r in runs[1:]]
    out = []
    for a, b in pairs:
        n, shown = _disagreements(a, b)
        rows = scoring.paired(a.answers, b.answers)
        shared = next((r.n for r in rows if r.column == "Average"), 0)
        whole = shared == _asked(a) == _asked(b) and not unanswered(a.answers) and not unanswered(b.answers)
        out.append(Comparison(a.name, b.name, rows, shown, n, shared, whole))
    return out


# Settings an ablation varies: the enhancements and how many normal reference images are shown.
_HELP_KEYS = ("enhancements.", "protocol.references", "protocol.shots")


def _is_help(key: str) -> bool:
    return key.startswith(_HELP_KEYS)


def _enhancement_free(settings: dict) -> dict:
    return {k: v for k, v in _flat(settings).items() if not _is_help(k)}


def _no_references(settings: dict) -> bool:
    p = settings.get("protocol") or {}
    return p.get("references") == "none" or not p.get("shots")


def _is_plain(settings: dict) -> bool:
    e = settings.get("enhancements") or {}
    return not e.get("knowledge") and e.get("expert", "none") in ("none", None)


def _base_for(run: LoadedRun, plain: list[LoadedRun]) -> LoadedRun | None:
    """The run it is compared with: same settings but no help at all (0-shot) if there is one, else the
    same reference images without knowledge or expert."""
    s = _settings(run.record)
    rest, qs = _enhancement_free(s), (run.record.get("questions") or {}).get("sha256")
    same = [p for p in plain if p is not run and _enhancement_free(_settings(p.record)) == rest
            and (p.record.get("questions") or {}).get("sha256") == qs]
    bare = [p for p in same if _no_references(_settings(p.record))]
    if bare:
        return None if _is_plain(s) and _no_references(s) else bare[0]
    refs = _flat(s)
    return next((p for p in same if not _is_plain(s) and all(
        _flat(_settings(p.record)).get(k) == refs.get(k) for k in ("protocol.references", "protocol.shots"))), None)


def ablations(runs: list[LoadedRun], models: dict[str, ModelData]) -> list[Ablation]:
    """Runs that differ from another run of the same settings only in the help they get (reference images,
    knowledge, expert), as strict-score deltas against the run with the least help."""
    out = []
    plain = [r for r in runs if _settings(r.record) and _is_plain(_settings(r.record))]
    for run in runs:
        s = _settings(run.record)
        base = _base_for(run, plain) if s else None
        if base is None:
            continue
        fb, fr = _flat(_settings(base.record)), _flat(s)
        changed = {k.split(".", 1)[1]: (fb.get(k), fr.get(k)) for k in sorted(set(fb) | set(fr))
                   if _is_help(k) and fb.get(k) != fr.get(k)}
        mb, mr = models[base.name], models[run.name]
        deltas = {c: _delta(mr.strict.overall.get(c), mb.strict.overall.get(c)) for c in (*SUBTASKS, "Average")}
        out.append(Ablation(base.name, run.name, scrub(changed), deltas,
                            _delta(mr.compatible.overall.get("Average"), mb.compatible.overall.get("Average"))))
    return out


def _delta(a: float | None, b: float | None) -> float | None:
    return a - b if a is not None and b is not None else None


def _shown_notes(m: ModelData) -> list[str]:
    """A model's score notes, less what the summary already says: the strict rule (its note paragraph), the
    dropped answers (its line beside the run) and our fixed variant's number (not shown in the report)."""
    notes = [*m.compatible.notes, *m.strict.notes]
    return list(dict.fromkeys(n for n in notes if not n.startswith(("strict: unparsed", "MMAD-compatible score "))
                              and not (m.compatible_gap and "had no letter A-E" in n)))


def _notes(models: list[ModelData]) -> list[str]:
    """The score tables' notes; one said of every model is shown once, without a model name."""
    per = [_shown_notes(m) for m in models]
    common = set.intersection(*(set(p) for p in per)) if len(per) > 1 else set()
    out = [n for n in per[0] if n in common] if per else []
    return out + [f"{m.name}: {n}" for m, p in zip(models, per) for n in p if n not in common]


def split_open_runs(runs: list[LoadedRun]) -> tuple[list[LoadedRun], list[dict]]:
    """(the multiple-choice runs, the judge's results of the open-answer runs): free text has no letter for
    the tables; an open run not judged yet is listed with a note."""
    from ..inputfile import parse_json, read_input
    from ..run.judging import judged_path

    choice, judged = [], []
    for r in runs:
        if ((r.record.get("settings") or {}).get("protocol") or {}).get("answer_format") != "open":
            choice.append(r)
            continue
        path = judged_path(r.run_dir, r.name)
        result = parse_json(read_input(path, what="judged results"), str(path)) if path.is_file() else None
        judged.append(result or {"run": r.name, "table": None})
    return choice, judged


def assemble(runs: list[LoadedRun], *, title: str | None = None, published: bool = False,
             scoring: Scoring | None = None, thumbs: ThumbSettings | None = None,
             images: bool = True, errata=None) -> ReportData:
    """Build the report data for ``runs`` (in the order given)."""
    scoring = scoring or PackageScoring()
    runs, judged = split_open_runs(runs)
    models = [model_data(r, scoring, i) for i, r in enumerate(runs)]
    ranking = scoring.ranking([Entrant(m.name, r.answers, m.question_set, m.strict) for r, m in zip(runs, models)])
    by_name = {m.name: m for m in models}
    thumbnails = Thumbnails(thumbs or ThumbSettings())
    grounding = grounding_report(runs)
    blob = browser_blob(runs, thumbnails if images else None, grounding)
    blob["colours"] = [colour(i) for i in range(len(runs))]
    thumbnails.build()
    notes = _notes(models)
    if thumbnails.size < thumbnails.settings.size:
        notes.append(f"{len(thumbnails.ids):,} distinct images: thumbnails shrunk to {thumbnails.size} px "
                     f"to fit the {thumbnails.settings.budget_mb:g} MB image budget.")
    if thumbnails.over_budget:
        notes.append(f"{thumbnails.over_budget} thumbnails left out to keep the report small "
                     f"(budget {thumbnails.settings.budget_mb:g} MB).")
    if thumbnails.missing:
        notes.append(f"{thumbnails.missing} images could not be read and are shown as missing.")
    return ReportData(
        title=title or ("MMAD evaluation: " + ", ".join(r.name for r in runs)),
        generated=_dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        version=__version__, models=models,
        comparisons=comparisons(runs, scoring) if len(runs) > 1 else [],
        ablations=ablations(runs, by_name), published=published_rows() if published else [],
        browser=blob, thumbs=thumbnails, notes=notes,
        errata=errata_section(runs, models, errata, scoring) if errata is not None else None,
        grounding=grounding,
        other_types=[(r.name, score_by_type(r.other_types).rows) for r in runs if r.other_types],
        difficulty=[(r.name, rows) for r in runs if r.record.get("difficulty") for rows in
                    [score_by_difficulty([*r.answers, *r.other_types], r.record["difficulty"])] if rows],
        agents=agent_cards(runs),
        robustness=robustness_rows(runs),
        none_options=[(r.name, rep) for r in runs for rep in [none_option_report(r.answers)] if rep is not None],
        judged=judged,
        ranking=ranking, headline=headline(ranking), published_comparable=is_known_mmad_revision(ranking.question_set))
