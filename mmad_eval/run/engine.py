"""The run engine: question set -> keyed requests -> backend -> store, resumable and exact.

All requests are built first (each distinct image read and hashed once), deduplicated by key, and those
already in the store are skipped, so a rerun of the same command asks only what is missing. The backend
gets every pending request in ONE ``generate`` call (it decides batching / concurrency) and each answer is
committed to the store the moment it is emitted.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..backends.base import Backend, Response, RunContext
from ..errors import ConfigError, DataError
from ..paths import safe_join
from ..prompt.images import ImageRegistry
from ..prompt.message import Request
from ..prompt.render import ImageSlot, PromptTemplate
from .protocols import plan_entry, prompt_questions
from .record import build_record, now_iso, same_settings
from .settings import RunSettings
from .slices import Slice, apply_slice
from .store import Member, Store

BackendFactory = Callable[..., Backend]


@dataclass
class BuiltRequests:
    requests: dict[str, Request] = field(default_factory=dict)      # key -> request (deduplicated)
    members: list[Member] = field(default_factory=list)
    data_errors: dict[str, str] = field(default_factory=dict)       # pseudo key -> "culprit: message"
    images: dict[str, tuple[str | None, bytes | None]] = field(default_factory=dict)
    questions: int = 0
    template_paths: dict[str, Path] = field(default_factory=dict)


@dataclass
class RunSummary:
    name: str
    out_dir: Path
    questions: int            # selected questions
    answers: int              # (question, rotation) records
    requests: int             # distinct requests
    asked: int                # sent to the backend in this invocation
    reused: int               # already in the store
    failed: int               # asked now and failed
    stored_errors: int        # failed before, not retried (use retry_failed)
    data_errors: int          # questions whose request could not be built (missing/escaping image paths)
    data_error_examples: list[str] = field(default_factory=list)
    unanswered: int = 0       # sent but never emitted by the backend (a backend bug)
    elapsed_s: float = 0.0
    record: dict = field(default_factory=dict)

    def line(self) -> str:
        s = (f"{self.name}: {self.questions} questions ({self.answers} answers) in {self.requests} requests: "
             f"asked {self.asked}, reused {self.reused}, failed {self.failed}")
        if self.stored_errors:
            s += f", {self.stored_errors} earlier errors kept (rerun with --retry-failed to ask them again)"
        if self.data_errors:
            s += (f"; {self.data_errors} questions could not be built (e.g. {self.data_error_examples[0]})")
        if self.unanswered:
            s += f"; {self.unanswered} requests got no answer from the backend"
        return s


def _entry_images(entry, enh, registry: ImageRegistry, root: Path, built: BuiltRequests):
    """Slots for the entry's template, query and hint images, plus knowledge and hint text."""
    refs = []
    for rel in enh.references(entry):
        path = built.template_paths.get(rel)
        if path is None:   # templates are shared by many queries: resolve each once
            path = built.template_paths[rel] = safe_join(root, rel, what="template image")
        sha = registry.add_file(path)
        built.images.setdefault(sha, (rel, None))
        refs.append(ImageSlot(sha, "template", rel))
    sha = registry.add_file(safe_join(root, entry.key, what="query image"))
    built.images.setdefault(sha, (entry.key, None))
    query = ImageSlot(sha, "query", entry.key)
    knowledge = enh.knowledge_text(entry)
    hint_png, hint_text = enh.hint(entry)
    hint = None
    if hint_png:
        hsha = registry.add_bytes(hint_png)
        built.images.setdefault(hsha, (None, hint_png))
        hint = ImageSlot(hsha, "hint", f"hint:{entry.key}")
    return refs, query, knowledge, hint, hint_text


def build_requests(selection, protocol, template: PromptTemplate, enh, registry: ImageRegistry, root: Path,
                   identity: dict) -> BuiltRequests:
    """Every request of the selection, keyed and deduplicated; unbuildable questions become data errors."""
    built = BuiltRequests()
    for entry, selected in selection:
        built.questions += len(selected)
        units = plan_entry(entry, selected, protocol)
        try:
            refs, query, knowledge, hint, hint_text = _entry_images(entry, enh, registry, root, built)
        except DataError as e:
            for unit in units:
                for pos, s in unit.answers:
                    q = s.question
                    key = "data-error:" + hashlib.sha256(f"{q.qid}|{s.rotation}|{e}".encode()).hexdigest()[:32]
                    built.data_errors[key] = str(e)
                    built.members.append(Member(q.qid, s.rotation, q.image, q.index, q.type, s.options, s.answer,
                                                key, pos, len(unit.prompt), q.text))
            continue
        for unit in units:
            messages = template.render(query=query, references=refs, knowledge=knowledge, hint_image=hint,
                                       hint_text=hint_text, questions=prompt_questions(unit),
                                       mode=protocol.question_mode)
            metas = [{"qid": s.question.qid, "image": s.question.image, "index": s.question.index,
                      "type": s.question.type, "options": s.options} for _, s in unit.answers]
            meta = {"questions": metas, **({k: metas[0][k] for k in ("image", "type", "options")}
                                           if len(metas) == 1 else {})}
            req = Request(messages=messages, qids=tuple(m["qid"] for m in metas),
                          options=tuple(tuple(m["options"]) for m in metas), meta=meta)
            key = req.key(identity)
            built.requests.setdefault(key, req)
            for pos, s in unit.answers:
                q = s.question
                built.members.append(Member(q.qid, s.rotation, q.image, q.index, q.type, s.options, s.answer,
                                            key, pos, len(unit.prompt), q.text))
    return built


def load_questions(path: Path):
    """MMAD's JSON, or our JSONL when that reader is installed (imported lazily)."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        try:
            from ..questions.jsonl_io import load_jsonl
        except ImportError:
            raise ConfigError("JSONL question files need mmad_eval.questions.jsonl_io", culprit=str(path)) from None
        return load_jsonl(path)
    from ..questions.mmad_io import load_mmad_json

    return load_mmad_json(path)


def make_backend(settings: RunSettings, registry: ImageRegistry, backend_options: dict | None,
                 factory: BackendFactory | None = None):
    from ..backends.registry import backend_class, resolve_model

    spec = resolve_model(settings.model)
    options = {**spec.options, **(backend_options or {})}
    cls = factory or backend_class(spec.backend)
    return spec, cls(spec.model, settings.generation, registry, **options)


def run_evaluation(settings: RunSettings, questions_path, out_dir, name: str | None = None, data_root=None,
                   slice: Slice = Slice(), backend_options: dict | None = None, retry_failed: bool = False,
                   prompt_dir: Path | None = None, progress: bool = False,
                   backend_factory: BackendFactory | None = None) -> RunSummary:
    """Run (or resume) one evaluation into ``out_dir``; returns what was asked, reused and failed."""
    from ..enhance.pipeline import Enhancements
    from .progress import RunProgress

    t0 = time.perf_counter()
    questions = load_questions(Path(questions_path))
    root = Path(data_root) if data_root else Path(questions_path).resolve().parent
    if not root.is_dir():
        raise ConfigError("data root is not a folder", culprit=str(root))
    template = PromptTemplate(settings.protocol.prompt, prompt_dir)
    registry = ImageRegistry(settings.images)
    spec, backend = make_backend(settings, registry, backend_options, backend_factory)
    name = name or spec.name
    enh = Enhancements(settings.enhancements, settings.protocol, root, questions)
    store = Store(Path(out_dir))
    try:
        selection = apply_slice(questions, slice)
        identity = backend.identity()
        previous = store.run_record(name)
        fingerprint = plan_fingerprint(selection, enh, root, [settings.as_dict(), identity, template.sha256,
                                                             questions.sha256, str(root)])
        to_build, skipped_keys, skipped_answers = selection, set(), 0
        if fingerprint and previous and previous.get("plan_fingerprint") == fingerprint:
            # nothing that shapes a request changed: rebuild only the images that still need asking
            to_build, skipped_keys, skipped_answers = _needing_work(store, name, selection, retry_failed)
        built = build_requests(to_build, settings.protocol, template, enh, registry, root, identity)
        n_questions = sum(len(sel) for _, sel in selection)
        record = build_record(name=name, settings=settings.as_dict(), model_spec=_spec_dict(spec),
                              backend=backend.describe(), questions=questions, question_count=n_questions,
                              template=template, enhancements=enh.describe(), slice_=slice.as_dict(),
                              data_root=str(root), previous=previous)
        record["plan_fingerprint"] = fingerprint
        record["backend_identity"] = json.loads(json.dumps(identity, sort_keys=True, default=str))
        if previous:
            diffs = same_settings(previous, record)
            # the prompt's text and the backend's identity shape every answer too (older records lack the latter)
            if (previous.get("prompt") or {}).get("sha256") != record["prompt"]["sha256"]:
                diffs.append("prompt.sha256")
            if previous.get("backend_identity", record["backend_identity"]) != record["backend_identity"]:
                diffs.append("backend identity")
            if diffs:
                raise ConfigError(f"run {name!r} in {out_dir} was made with different settings "
                                  f"({', '.join(diffs)}); pass another --name or --out", culprit=name)
        store.put_run(name, {**record, "plan_fingerprint": None})   # set again once all members are stored
        store.put_images([(sha, path, data) for sha, (path, data) in built.images.items()])
        for key, message in built.data_errors.items():
            store.put_response(Response(key=key, error_type="data_error", error_message=message, attempts=0), None)
        store.put_members(name, built.members)

        status = store.statuses()
        pending = [(k, r) for k, r in built.requests.items()
                   if k not in status or (retry_failed and status[k] != "ok")]
        stored_errors = sum(1 for k in built.requests if status.get(k) == "error") if not retry_failed else 0
        seen: set[str] = set()
        failed = 0
        backend.context = RunContext(data_root=root, questions=questions, enhancements=enh)
        with RunProgress(len(pending), enabled=progress) as bar:
            def emit(resp: Response) -> None:
                nonlocal failed
                req = built.requests.get(resp.key)
                if req is None or resp.key in seen:
                    return
                seen.add(resp.key)
                store.put_response(resp, req.content())
                failed += 0 if resp.ok else 1
                bar.advance(resp)

            if pending:
                asyncio.run(backend.generate(pending, emit))
        skipped_keys -= set(built.requests)
        kept_data_errors = sorted(k for k in skipped_keys if k.startswith("data-error:"))
        n_requests = len(built.requests) + len({k for k in skipped_keys if not k.startswith("data-error:")})
        if not retry_failed:
            stored_errors += sum(1 for k in skipped_keys if status.get(k) == "error" and not k.startswith("data-error:"))
        summary = RunSummary(
            name=name, out_dir=Path(out_dir), questions=n_questions, answers=len(built.members) + skipped_answers,
            requests=n_requests, asked=len(pending), reused=n_requests - len(pending),
            failed=failed, stored_errors=stored_errors,
            data_errors=len({m.qid for m in built.members if m.request_key in built.data_errors})
            + len(kept_data_errors), data_error_examples=sorted(set(built.data_errors.values()) | {
                r["error_message"] for r in store.requests_for(kept_data_errors[:3]).values()})[:3],
            unanswered=len(pending) - len(seen))
        enh.merge_previous(previous)
        record.update(ended=now_iso(), enhancements=enh.describe(), usage=with_cost(store.usage(name), spec.price),
                      last_invocation={"asked": summary.asked, "reused": summary.reused, "failed": failed,
                                       "data_errors": summary.data_errors, "image_encodes": registry.encodes,
                                       "distinct_images": len(built.images)})
        store.put_run(name, record)
        summary.record = record
        summary.elapsed_s = time.perf_counter() - t0
        return summary
    finally:
        backend.close()
        store.close()


def plan_fingerprint(selection, enh, root: Path, parts: list) -> str | None:
    """Hash of everything that shapes the requests: settings, backend identity, prompt and question hashes,
    the selection and every image file's size and mtime. None when references need retrieval (not cheap)."""
    if enh.protocol.templates == "retrieved":
        return None
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    if enh.settings.knowledge:
        h.update(_stat(Path(enh.settings.knowledge)))
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


def _needing_work(store: Store, name: str, selection, retry_failed: bool):
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


def _spec_dict(spec) -> dict:
    return {"name": spec.name, "backend": spec.backend, "model": spec.model, "generation": dict(spec.generation),
            "options": {k: v for k, v in spec.options.items()}, "price": dict(spec.price)}


def with_cost(usage: dict, price: dict) -> dict:
    """Add ``cost_usd`` from a preset's list price (USD per million input/output tokens), when known."""
    if not price or usage.get("prompt_tokens") is None:
        return usage
    cost = (usage.get("prompt_tokens") or 0) * price.get("input", 0) / 1e6 \
        + (usage.get("completion_tokens") or 0) * price.get("output", 0) / 1e6
    return {**usage, "cost_usd": round(cost, 6), "price_per_mtok": dict(price)}


def with_overrides(settings: RunSettings, **protocol) -> RunSettings:
    """A copy with protocol fields replaced (for ablations that vary one knob)."""
    return replace(settings, protocol=replace(settings.protocol, **protocol))
