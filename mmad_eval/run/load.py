"""Read runs back from a store as :class:`AnswerRecord` lists holding the stored replies (not parsed yet).

Parsing is the next, explicit stage (:func:`mmad_eval.parse.stage.parse_runs`); scoring and reports read
parsed runs through :func:`mmad_eval.parse.stage.load_parsed_runs`.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError, MmadError
from ..paths import safe_join
from ..answers import AnswerRecord
from .loaded import LoadedRun
from .protocols import answer_segment
from .store import DB_NAME, Member, Store

MISSING = "missing: not answered yet (rerun the same command to resume)"


def _store(out_dir: Path) -> Store:
    if not (Path(out_dir) / DB_NAME).is_file():
        raise ConfigError(f"no {DB_NAME} here; run `mmad-eval run --out {out_dir}` first", culprit=str(out_dir))
    return Store(Path(out_dir), read_only=True)   # scoring and reports never write (read-only mounts work)


def load_runs(out_dir) -> list[LoadedRun]:
    with _store(out_dir) as store:
        return [_load(store, Path(out_dir), n) for n in store.run_names()]


def load_run(out_dir, name: str | None = None) -> LoadedRun:
    """One run; ``name`` may be omitted when the directory holds a single run."""
    with _store(out_dir) as store:
        names = store.run_names()
        if name is None:
            if len(names) != 1:
                raise ConfigError(f"{len(names)} runs here ({', '.join(names)}); name one", culprit=str(out_dir))
            name = names[0]
        if name not in names:
            raise ConfigError(f"no run of that name in {out_dir}; runs: {', '.join(names)}", culprit=name)
        return _load(store, Path(out_dir), name)


def _answer(m: Member, req: dict | None, mode: str) -> AnswerRecord:
    """One member's record: the stored reply (and the segment answering this question), or the error."""
    rec = AnswerRecord(image=m.image, index=m.index, type=m.type, options=m.options, answer=m.answer,
                       rotation=m.rotation, request_key=m.request_key, question=m.question)
    if req is None:
        rec.error = MISSING
    elif req["status"] != "ok":
        rec.error = f"{req['error_type']}: {req['error_message']}"
    else:
        rec.reply = req["text"]
        rec.meta = {k: v for k, v in (("prompt_tokens", req["prompt_tokens"]),
                                      ("completion_tokens", req["completion_tokens"]),
                                      ("latency_s", req["latency"]), ("attempts", req["attempts"])) if v is not None}
        if req["error_message"]:          # e.g. characters replaced because the reply was not valid Unicode
            rec.meta["note"] = req["error_message"]
        if req["letter_logprobs"]:
            rec.meta["letter_logprobs"] = json.loads(req["letter_logprobs"])
        if req.get("extra"):      # answer details: finish reason, letters outside top-k, detector score, ...
            rec.meta.update(json.loads(req["extra"]))
        segment = answer_segment(rec.reply, mode, m.position, m.n_prompt)
        if segment != rec.reply:
            rec.meta["segment"] = segment
        if m.n_prompt > 1:      # where this question sits in a several-question prompt (letter-list parsing)
            rec.meta["prompt_position"] = [m.position, m.n_prompt]
    return rec


def _load(store: Store, out_dir: Path, name: str) -> LoadedRun:
    record = store.run_record(name) or {}
    mode = ((record.get("settings") or {}).get("protocol") or {}).get("question_mode", "independent")
    members = store.members(name)
    requests = store.requests_for(m.request_key for m in members)
    answers = [_answer(m, requests.get(m.request_key), mode) for m in members]
    prompts = {k: json.loads(r["content"]) for k, r in requests.items() if r.get("content")}
    root = Path(record["data_root"]) if record.get("data_root") else None
    return LoadedRun(run_dir=out_dir, name=name, record=record, answers=answers, prompts=prompts,
                     image_loader=_image_loader(store.path, root))


def _image_loader(db_path: Path, root: Path | None):
    """sha -> bytes: stored (hint) bytes, else the data file at its recorded path; None when unavailable."""
    def load(sha: str) -> bytes | None:
        row = Store.read_image(db_path, sha)
        if row is None:
            return None
        path, data = row
        if data is not None:
            return bytes(data)
        if path and root is not None:
            try:
                return safe_join(root, path).read_bytes()
            except (OSError, MmadError):
                return None
        return None

    return load
