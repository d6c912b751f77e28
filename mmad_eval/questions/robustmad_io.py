"""Read RobustMAD's released question files (en-research/RobustMAD) unchanged.

Shape: ``{"images": [{image_path, reference_image_path, anomaly, difficulty, dataset, category, ...,
questions: [{question_id, robustness_category, question_type, question, options {A..E}, answer}]}]}``.
``RobustMAD_MCQ.json`` (and ``_low``) questions have five options; ``RobustMAD_OE.json`` questions have a
free-text ``answer`` and no options.

Mapping onto the question-set model:

* one :class:`ImageEntry` per image, keyed by ``image_path`` (relative to the data root); the
  ``reference_image_path`` is the entry's one normal template (``random_templates`` and
  ``similar_templates``), so ``--templates random --shots 1`` shows it before the query, as RobustMAD's
  scripts do for its pair-wise questions (its other questions show the query alone: ``--shots 0``);
* each multiple-choice question keeps its text, options and answer; its ``type`` is its
  ``robustness_category`` verbatim (not an MMAD type: such answers are scored per category, apart from
  MMAD's seven subtasks); ``question_id`` and the other fields stay in ``extra``;
* open-ended questions (no options) of a file that also has multiple-choice ones are kept in the entry's
  ``extra["open_questions"]`` and not asked; a file of open-ended questions only (``RobustMAD_OE.json``)
  gives questions without options whose ``answer`` is the reference text: a run asks them with
  ``--answer-format open`` (refused otherwise) and ``mmad-eval judge`` grades the replies against it.
"""
from __future__ import annotations

from ..errors import DataError, quote
from .model import LETTERS, ImageEntry, Question, QuestionSet

_IMAGE_FIELDS = ("image_path", "questions")
_Q_FIELDS = ("question", "options", "answer", "robustness_category")


def is_robustmad(data) -> bool:
    """True for a JSON value of RobustMAD's shape (an object whose ``images`` is a list of image records)."""
    return (isinstance(data, dict) and isinstance(data.get("images"), list)
            and all(isinstance(i, dict) and "questions" in i for i in data["images"][:5]))


def _question(key: str, index: int, q, where: str) -> Question | None:
    """The multiple-choice question; None for an open-ended one."""
    if not isinstance(q, dict) or "question" not in q or "robustness_category" not in q:
        raise DataError("question needs 'question' and 'robustness_category'", culprit=where)
    options = q.get("options")
    if not options:
        return None
    if not isinstance(options, dict) or any(k not in set(LETTERS) for k in options) \
            or not all(isinstance(v, str) for v in options.values()):
        raise DataError(f"options must map letters A-E to texts, got {quote(options)}", culprit=where)
    if q.get("answer") not in options:
        raise DataError(f"answer {quote(q.get('answer'))} is not one of the options {quote(list(options))}",
                        culprit=where)
    category, extra = _category_and_extra(q, where)
    return Question(image=key, index=index, type=category, text=q["question"], options=dict(options),
                    answer=q["answer"], provenance={"source": "RobustMAD"}, extra=extra)


def _category_and_extra(q: dict, where: str) -> tuple[str, dict]:
    """The question's robustness category (checked with its text) and the fields we do not read."""
    category = q["robustness_category"]
    if not isinstance(category, str) or not category.strip() or not isinstance(q["question"], str) \
            or not q["question"].strip():
        raise DataError("'question' and 'robustness_category' must be non-empty text", culprit=where)
    return category, {k: v for k, v in q.items() if k not in _Q_FIELDS}


def _open_question(key: str, index: int, q: dict, where: str) -> Question:
    """An open-ended question of a file without multiple-choice ones: no options, the reference answer as
    ``answer`` (what a judge grades against; asked with ``--answer-format open``)."""
    answer = q.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        raise DataError(f"an open-ended question needs its reference answer as text, got {quote(answer)}",
                        culprit=where)
    category, extra = _category_and_extra(q, where)
    return Question(image=key, index=index, type=category, text=q["question"], options={}, answer=answer,
                    provenance={"source": "RobustMAD", "open": True}, extra=extra)


def _entry(record, i: int, source: str, open_ended: bool = False) -> ImageEntry:
    """One image record; with ``open_ended`` (a file with no multiple-choice question) its open-ended
    questions are the entry's questions, else they are kept in ``extra["open_questions"]``."""
    where = f"{source}[images][{i}]"
    if not isinstance(record, dict) or any(f not in record for f in _IMAGE_FIELDS) \
            or not isinstance(record["questions"], list):
        raise DataError("an image record needs 'image_path' and a 'questions' list", culprit=where)
    key = record["image_path"]
    if not isinstance(key, str) or not key:
        raise DataError(f"image_path must be a path, got {quote(key)}", culprit=where)
    ref = record.get("reference_image_path")
    refs = [ref] if isinstance(ref, str) and ref else []
    questions, open_questions = [], []
    for j, q in enumerate(record["questions"]):
        made = _question(key, len(questions), q, f"{where}[questions][{j}]")
        if made is None and open_ended:
            made = _open_question(key, len(questions), q, f"{where}[questions][{j}]")
        if made is None:
            open_questions.append(q)
        else:
            questions.append(made)
    extra = {k: v for k, v in record.items() if k not in _IMAGE_FIELDS}
    if open_questions:
        extra["open_questions"] = open_questions
    return ImageEntry(key=key, questions=questions, similar_templates=list(refs), random_templates=list(refs),
                      extra=extra)


def _has_options(data: dict) -> bool:
    return any(isinstance(q, dict) and q.get("options") for r in data["images"] if isinstance(r, dict)
               for q in (r.get("questions") if isinstance(r.get("questions"), list) else ()))


def robustmad_set(data: dict, sha256: str, source: str) -> QuestionSet:
    """The question set of a parsed RobustMAD file; DataError naming the file and record when malformed.
    A file with no multiple-choice question (``RobustMAD_OE.json``) gives open questions (no options)."""
    open_ended = not _has_options(data)
    entries: dict[str, ImageEntry] = {}
    for i, record in enumerate(data["images"]):
        entry = _entry(record, i, source, open_ended)
        if entry.key in entries:       # the same image twice: its questions join the first record's
            first = entries[entry.key]
            for q in entry.questions:
                q.index = len(first.questions)
                first.questions.append(q)
            continue
        entries[entry.key] = entry
    qs = QuestionSet(entries=entries, sha256=sha256, source=source)
    if len(qs) == 0:
        raise DataError("no question in this RobustMAD file", culprit=source)
    return qs
