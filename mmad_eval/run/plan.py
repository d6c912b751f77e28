"""The plan step of a run: what to ask, before anything is asked.

Reads the question set, selects the slice, builds every request (each distinct image read and hashed once),
keys and deduplicates them, fingerprints everything that shapes a request, and writes the run record. On
a resume whose fingerprint is unchanged, only the images whose questions still need an answer are rebuilt.
Execution (asking the backend, committing answers) is :mod:`mmad_eval.run.executor`.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..backends.base import Response
from ..errors import ConfigError, DataError
from ..paths import safe_join
from ..prompt.images import ImageRegistry
from ..prompt.message import Request, TextPart
from ..prompt.perturb import perturbed_png
from ..prompt.tools import agent_instruction
from ..prompt.render import ImageSlot, PromptTemplate
from ..questions.jsonl_io import load_jsonl
from ..questions.grounding import GROUNDING, GroundingTruth, shown_question_text
from ..questions.mmad_io import load_mmad_json
from ..questions.model import QuestionSet
from ..settings import MAPS_PREFIX, RunSettings
from .compat import incompatibilities
from .protocols import plan_entry, prompt_questions
from .run_record import build_run_record, with_invocation
from .slices import Slice, apply_slice
from .store import Member, Store

IMAGE_ROWS_PER_WRITE = 64      # images written to the store per statement (their bytes read from the registry)


@dataclass
class RunInputs:
    """What a run reads before it builds anything: questions, data root, prompt template, image registry."""

    questions_path: Path
    questions: QuestionSet
    root: Path
    template: PromptTemplate
    registry: ImageRegistry
    grounding_template: PromptTemplate | None = None   # only when the set holds Defect Grounding questions

    @classmethod
    def read(cls, settings: RunSettings, questions_path, data_root=None, prompt_dir=None) -> "RunInputs":
        questions_path = Path(questions_path)
        questions = load_questions(questions_path)
        root = Path(data_root) if data_root else recorded_data_root(questions, questions_path)
        if not root.is_dir():
            raise ConfigError("data root is not a folder", culprit=str(root))
        n_open = sum(1 for q in questions.questions() if not q.options and q.type != GROUNDING)
        if n_open and settings.protocol.answer_format != "open":
            raise ConfigError(f"{n_open} questions have no options (open-ended, as RobustMAD_OE.json's): ask them "
                              "with --answer-format open, then grade the replies with `mmad-eval judge`",
                              culprit=str(questions_path))
        grounding = (PromptTemplate(settings.protocol.grounding_prompt, prompt_dir)
                     if any(q.type == GROUNDING for q in questions.questions()) else None)
        return cls(questions_path, questions, root, PromptTemplate(settings.protocol.prompt, prompt_dir),
                   ImageRegistry(settings.images), grounding)


@dataclass
class BuiltRequests:
    requests: dict[str, Request] = field(default_factory=dict)      # key -> request (deduplicated)
    members: list[Member] = field(default_factory=list)
    data_errors: dict[str, str] = field(default_factory=dict)       # pseudo key -> "culprit: message"
    images: dict[str, tuple[str | None, bytes | None]] = field(default_factory=dict)   # sha -> (file, None) or
    #                                         (None, None): made in memory, its bytes held by the registry
    questions: int = 0
    reference_paths: dict[str, Path] = field(default_factory=dict)  # reference image key -> resolved path
    perturbed: dict[str, str] = field(default_factory=dict)   # source image hash -> its perturbed image's hash


@dataclass
class Plan:
    """One invocation's plan: the requests to build or reuse, and the run record describing them."""

    name: str
    selection: list                 # (image entry, selected questions)
    built: BuiltRequests
    record: dict
    previous: dict | None           # the stored record of the same run name, if any
    skipped_keys: set[str] = field(default_factory=set)   # stored keys of entries not rebuilt (fast resume)
    skipped_answers: int = 0

    @property
    def question_count(self) -> int:
        return sum(len(sel) for _, sel in self.selection)

    def check_compatible(self, out_dir) -> None:
        """Refuse to resume a run under the same name with settings that change answers."""
        diffs = incompatibilities(self.previous, self.record) if self.previous else []
        if diffs:
            raise ConfigError(f"run {self.name!r} in {out_dir} was made with different settings "
                              f"({', '.join(diffs)}); pass another --name or --out", culprit=self.name)


def recorded_data_root(questions: QuestionSet, path: Path) -> Path:
    """The images' folder a question file records (``data_root`` of its entries, relative to the file, as
    `mmad-eval generate` writes it); else the file's own folder (MMAD's mmad.json sits in the data root).
    A recorded folder must be the file's own folder or one inside it: a file naming ``/`` or ``../..`` would
    otherwise send any image on the machine to an API. Elsewhere, the user says so with ``--data-root``."""
    roots = {e.extra.get("data_root") for e in questions.entries.values()}
    folder = Path(path).resolve().parent
    if len(roots) == 1 and isinstance(next(iter(roots)), str):
        recorded = next(iter(roots))
        root = (folder / recorded).resolve()
        if root != folder and folder not in root.parents:
            raise DataError(f"the question file records its images at {recorded!r} ({root}), outside the "
                            f"question file's folder {folder}; if that is right, say so with --data-root {root}",
                            culprit=str(path))
        return root
    return folder


def recorded_knowledge(questions: QuestionSet, path: Path, data_root: Path | None = None) -> Path | None:
    """The knowledge file a question file records (``knowledge`` of its entries, relative to the file, as
    `mmad-eval generate` writes it), else ``knowledge.json`` in the data root (``data_root``, or the one the
    file records); None when neither exists. ``run --knowledge`` (no value) and ``audit`` use it."""
    recorded = {e.extra.get("knowledge") for e in questions.entries.values()}
    if len(recorded) == 1 and isinstance(next(iter(recorded)), str):
        found = (Path(path).resolve().parent / next(iter(recorded))).resolve()
        if found.is_file():
            return found
    beside = Path(data_root or recorded_data_root(questions, path)) / "knowledge.json"
    return beside if beside.is_file() else None


def load_questions(path: Path) -> QuestionSet:
    """MMAD's JSON, or our JSONL (``.jsonl``)."""
    path = Path(path)
    return load_jsonl(path) if path.suffix.lower() == ".jsonl" else load_mmad_json(path)


def make_plan(store: Store, name: str, settings: RunSettings, inputs: RunInputs, enh, backend, spec,
              slice: Slice, retry_failed: bool) -> Plan:
    """Select, fingerprint, build what needs building, and describe it all in the run record."""
    selection = apply_slice(inputs.questions, slice)
    identity = backend.identity()
    previous = store.run_record(name)
    agent_maps = []     # the maps behind the agent's detector tool shape its later turns
    if settings.agent.enabled and settings.agent.detector.startswith(MAPS_PREFIX):
        agent_maps.append(enh.expert_of_kind(settings.agent.detector).maps.fingerprint())
    grounding_sha = inputs.grounding_template.sha256 if inputs.grounding_template else None
    fingerprint = plan_fingerprint(selection, enh, inputs.root, [
        settings.as_dict(), identity, inputs.template.sha256, inputs.questions.sha256, str(inputs.root)]
        + ([grounding_sha] if grounding_sha else []) + agent_maps)
    to_build, skipped_keys, skipped_answers = selection, set(), 0
    if fingerprint and previous and previous.get("plan_fingerprint") == fingerprint:
        # nothing that shapes a request changed: rebuild only the images that still need asking
        to_build, skipped_keys, skipped_answers = needing_work(store, name, selection, retry_failed)
    built = build_requests(to_build, settings.protocol, inputs.template, enh, inputs.registry, inputs.root,
                           identity, settings.agent, inputs.grounding_template)
    record = build_run_record(name=name, settings=settings.as_dict(), model_spec=spec.as_dict(),
                          backend=backend.describe(), questions=inputs.questions,
                          question_count=sum(len(sel) for _, sel in selection), template=inputs.template,
                          enhancements=enh.describe(), slice_=slice.as_dict(), data_root=str(inputs.root),
                          previous=previous)
    record["plan_fingerprint"] = fingerprint
    if inputs.grounding_template:
        record["grounding_prompt"] = {"name": inputs.grounding_template.name, "sha256": grounding_sha}
    record["backend_identity"] = json.loads(json.dumps(identity, sort_keys=True, default=str))
    levels = difficulty_levels(selection)
    if levels:
        record["difficulty"] = levels
    return Plan(name, selection, built, record, previous, skipped_keys, skipped_answers)


def difficulty_levels(selection) -> dict[str, str]:
    """image key -> its entry's ``difficulty`` (RobustMAD's image records carry one), as text, for the selected
    images that have one: kept in the run record for the score's breakdown by difficulty."""
    out = {}
    for entry, selected in selection:
        level = entry.extra.get("difficulty")
        if selected and isinstance(level, (str, int, float)) and not isinstance(level, bool) and str(level).strip():
            out[entry.key] = str(level).strip()
    return out


def save_plan(store: Store, plan: Plan, invocation: dict, registry: ImageRegistry) -> None:
    """Store the record (fingerprint withheld until the run ends; this invocation added to its log, which
    other processes sharing the run may be writing too), images, data errors and memberships. The bytes of
    images made in memory (perturbed, hints) come from ``registry``, a few at a time (memory stays bounded)."""
    def change(cur: dict | None) -> dict:
        # checked again inside the write transaction: another process may have started the same run name
        # with other settings since make_plan read it (the later one is refused, nothing of it written)
        Plan(plan.name, [], plan.built, plan.record, cur).check_compatible(store.dir)
        return with_invocation(cur, {**plan.record, "plan_fingerprint": None}, invocation)

    store.update_run(plan.name, change)
    rows = list(plan.built.images.items())
    for i in range(0, len(rows), IMAGE_ROWS_PER_WRITE):
        store.put_images([(sha, path, data if data is not None or path is not None else registry.source_bytes(sha))
                          for sha, (path, data) in rows[i:i + IMAGE_ROWS_PER_WRITE]])
    for key, message in plan.built.data_errors.items():
        store.put_response(Response(key=key, error_type="data_error", error_message=message, attempts=0), None)
    members = plan.built.members
    if plan.record["settings"].get("agent"):
        # agent mode: a stored member points at its conversation's last turn, which stays until this
        # invocation's conversations end (a kill before then must not leave it on a turn that called tools)
        have = {(m.qid, m.rotation) for m in store.members(plan.name)}
        members = [m for m in members if (m.qid, m.rotation) not in have]
    store.put_members(plan.name, members)


def _add_image(registry: ImageRegistry, path: Path, rel: str, built: BuiltRequests, perturb) -> str:
    """Register one image file (its hash); with ``perturb`` (protocol settings of a robustness run) its
    perturbed pixels instead, as PNG bytes of their own hash (kept in the store for the report)."""
    sha = registry.add_file(path)
    if perturb is None:
        built.images.setdefault(sha, (rel, None))
        return sha
    done = built.perturbed.get(sha)
    if done is None:
        png = perturbed_png(registry.source_bytes(sha), perturb.perturb, perturb.perturb_seed, sha)
        done = built.perturbed[sha] = registry.add_bytes(png)
        built.images.setdefault(done, (None, None))      # (its bytes: in the registry, see save_plan)
    return done


def _entry_images(entry, enh, registry: ImageRegistry, root: Path, built: BuiltRequests):
    """Slots for the entry's reference, query and hint images, plus knowledge and hint text."""
    protocol = enh.protocol
    query_perturb = protocol if protocol.perturb else None
    ref_perturb = query_perturb if protocol.perturb_references else None
    refs = []
    for rel in enh.references(entry):
        path = built.reference_paths.get(rel)
        if path is None:   # reference images are shared by many queries: resolve each once
            path = built.reference_paths[rel] = safe_join(root, rel, what="template image")
        refs.append(ImageSlot(_add_image(registry, path, rel, built, ref_perturb), "template", rel))
    sha = _add_image(registry, safe_join(root, entry.key, what="query image"), entry.key, built, query_perturb)
    query = ImageSlot(sha, "query", entry.key)
    knowledge = enh.knowledge_text(entry)
    hint_png, hint_text = enh.hint(entry)
    hint = None
    if hint_png:
        hsha = registry.add_bytes(hint_png)
        built.images.setdefault(hsha, (None, None))
        hint = ImageSlot(hsha, "hint", f"hint:{entry.key}")
    return refs, query, knowledge, hint, hint_text


def _member(shown, key: str, position: int, n_prompt: int) -> Member:
    q = shown.question
    return Member(q.qid, shown.rotation, q.image, q.index, q.type, shown.options, shown.answer, key, position,
                  n_prompt, q.text)


def _unit_request(unit, template: PromptTemplate, images: tuple, mode: str, agent_text: str = "",
                  tools: tuple[str, ...] = (), open_answer: bool = False) -> Request:
    refs, query, knowledge, hint, hint_text = images
    messages = template.render(query=query, references=refs, knowledge=knowledge, hint_image=hint,
                               hint_text=hint_text, questions=prompt_questions(unit), mode=mode)
    if agent_text:             # agent mode: the tools it may call, after the question (prompts/agent_tools.j2)
        last = messages[-1]
        messages = (*messages[:-1], replace(last, parts=(*last.parts, TextPart("\n" + agent_text))))
    metas = [{"qid": s.question.qid, "image": s.question.image, "index": s.question.index,
              "type": s.question.type, "options": s.options, **_box_meta(s.question)} for _, s in unit.answers]
    meta = {"questions": metas, **({k: v for k, v in metas[0].items() if k not in ("qid", "index")}
                                   if len(metas) == 1 else {}), **({"answer_format": "open"} if open_answer else {}),
            **({"knowledge": knowledge} if knowledge else {}), **({"hint_text": hint_text} if hint_text else {})}
    return Request(messages=messages, qids=tuple(m["qid"] for m in metas),
                   options=tuple(tuple(m["options"]) for m in metas), meta=meta, tools=tuple(tools))


def _agent_text(agent, sent_size: tuple[int, int], prompt_dir) -> str:
    """The agent-mode instruction for one query image: it names the size the image is sent at (the frame of
    the tools' box coordinates; :class:`mmad_eval.enhance.tools.InspectionTools` maps them back)."""
    if agent is None or not agent.enabled:
        return ""
    return agent_instruction(agent.tools, sent_size, agent.max_turns, prompt_dir)


def _box_meta(q) -> dict:
    """What a backend answering a Defect Grounding question may know: the asked format and the size of the
    query image as sent, the frame of pixel boxes (never the true boxes)."""
    if q.type != GROUNDING:
        return {}
    truth = GroundingTruth.from_json(q.answer, q.qid)
    return {"box_format": truth.format, "image_size": list(truth.frame)}


def _as_shown(unit, sent: tuple[int, int]):
    """A grounding unit for a query image sent at ``sent`` pixels: the truth keeps that frame (the scorer maps
    pixel replies back to the original) and a pixel question states that size."""
    s = unit.prompt[0]
    truth = GroundingTruth.from_json(s.question.answer, s.question.qid).as_shown(sent)
    q = replace(s.question, text=shown_question_text(s.question.text, truth), answer=truth.to_json())
    shown = replace(s, question=q, answer=q.answer)
    return replace(unit, prompt=[shown], answers=[(0, shown)])


def build_requests(selection, protocol, template: PromptTemplate, enh, registry: ImageRegistry, root: Path,
                   identity: dict, agent=None, grounding_template: PromptTemplate | None = None) -> BuiltRequests:
    """Every request of the selection, keyed and deduplicated; unbuildable questions become data errors.
    With ``agent`` (AgentSettings, tools offered), each request offers its tools and says how to call them.
    Defect Grounding questions are rendered with ``grounding_template`` (their own instruction: boxes), alone
    and without tools or open-answer mode."""
    built = BuiltRequests()
    for entry, selected in selection:
        built.questions += len(selected)
        units = plan_entry(entry, selected, protocol)
        try:
            images = _entry_images(entry, enh, registry, root, built)
            needs_size = (agent is not None and agent.enabled) or any(u.prompt[0].question.type == GROUNDING
                                                                      for u in units)
            sent = registry.prepared_size(images[1].sha256) if needs_size else None   # what the model sees
            agent_text = _agent_text(agent, sent, template.dir)
        except DataError as e:
            for unit in units:
                for pos, s in unit.answers:
                    digest = hashlib.sha256(f"{s.question.qid}|{s.rotation}|{e}".encode()).hexdigest()[:32]
                    built.data_errors["data-error:" + digest] = str(e)
                    built.members.append(_member(s, "data-error:" + digest, pos, len(unit.prompt)))
            continue
        for unit in units:
            if unit.prompt[0].question.type == GROUNDING:
                if grounding_template is None:
                    raise ConfigError("Defect Grounding questions need a grounding prompt template", culprit="prompt")
                unit = _as_shown(unit, sent)
                req = _unit_request(unit, grounding_template, images, "independent")
            else:
                req = _unit_request(unit, template, images, protocol.question_mode, agent_text,
                                    agent.tools if agent_text else (), protocol.answer_format == "open")
            key = req.key(identity)
            built.requests.setdefault(key, req)
            built.members += [_member(s, key, pos, len(unit.prompt)) for pos, s in unit.answers]
    return built


def plan_fingerprint(selection, enh, root: Path, parts: list) -> str | None:
    """Hash of everything that shapes the requests: settings, backend identity, prompt and question hashes,
    the selection and every image file's size and mtime. None when references need retrieval (not cheap)."""
    if enh.protocol.references == "retrieved":
        return None
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    if enh.settings.knowledge:
        h.update(_stat(Path(enh.settings.knowledge)))
    if enh.settings.expert.startswith(MAPS_PREFIX):     # a detector's maps: new maps, new hints
        h.update(enh.expert().maps.fingerprint().encode())
    for entry, selected in selection:
        h.update(f"|{entry.key}:{','.join(str(q.index) for q in selected)}".encode())
        for rel in (entry.key, *enh.references(entry)):
            h.update(_stat(root / rel))
    return h.hexdigest()


def _stat(path: Path) -> bytes:
    try:
        st = os.stat(path)
    except OSError:
        return b"missing;"
    return f"{st.st_size}:{st.st_mtime_ns};".encode()


def needing_work(store: Store, name: str, selection, retry_failed: bool):
    """Entries whose questions still need a request (missing, or failed with retry_failed), and the stored
    request keys of the others."""
    status = store.statuses()
    keys_of: dict[str, list[str]] = {}
    for m in store.members(name):
        keys_of.setdefault(m.qid, []).append(m.request_key)
    need, skipped, n_skipped = [], set(), 0
    for entry, selected in selection:
        keys = [k for q in selected for k in keys_of.get(q.qid, [None])]
        if any(k is None or k not in status or (retry_failed and status[k] != "ok"
                                                and not k.startswith("data-error:")) for k in keys):
            need.append((entry, selected))
        else:
            skipped.update(keys)
            n_skipped += len(keys)
    return need, skipped, n_skipped
