"""The run record: everything needed to reproduce and interpret a run (versions, hashes, settings, usage)."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path

import mmad_eval


def package_versions() -> dict:
    """Versions of the packages that can change results, read from metadata (no heavy imports)."""
    out = {"mmad_eval": mmad_eval.__version__, "python": platform.python_version()}
    for name in ("numpy", "pillow", "jinja2", "torch", "transformers", "vllm", "openai", "httpx"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(path: Path | None = None) -> dict:
    """Commit and dirty flag of the mmad-eval checkout, if the package runs from one."""
    root = Path(path) if path else Path(mmad_eval.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return {"commit": None, "dirty": None}
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=20).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def now_iso() -> str:
    """Local time with microseconds and UTC offset (runs started in one second still sort in order)."""
    return datetime.now().astimezone().isoformat(timespec="microseconds")


def question_identity(questions, question_count: int) -> dict:
    """The question file as recorded: name, hashes, counts and, for a known MMAD revision, its name."""
    from ..questions.identity import known_question_set

    out = {"file": Path(questions.source).name, "sha256": questions.sha256, "count": len(questions),
           "images": len(questions.entries), "selected": question_count}
    if questions.git_blob:
        out["git_blob"] = questions.git_blob
    known = known_question_set(questions.sha256, questions.git_blob or None)
    if known:
        out["known_as"] = known
    return out


def build_run_record(*, name: str, settings: dict, model_spec: dict, backend: dict, questions, question_count: int,
                 template, enhancements: dict, slice_: dict, data_root: str, previous: dict | None) -> dict:
    """A fresh record for this invocation; ``previous`` (same run name) keeps its first start time."""
    return {
        "name": name,
        "settings": settings,
        "model_spec": model_spec,
        "backend": backend,
        "questions": question_identity(questions, question_count),
        "prompt": {"name": template.name, "sha256": template.sha256},
        "enhancements": enhancements,
        "slice": slice_,
        "data_root": data_root,
        "seeds": {"generation": settings["generation"].get("seed"),
                  "option_seed": settings["protocol"].get("option_seed")},
        "versions": package_versions(),
        "git": git_state(),
        "started": (previous or {}).get("started") or now_iso(),
        "resumed": now_iso() if previous else None,
        "ended": None,
        "invocations": (previous or {}).get("invocations", 0) + 1,
    }


def invocation_entry() -> dict:
    """This process's line in the run record's ``invocation_log`` (who ran when, what it did)."""
    import socket

    return {"id": f"{socket.gethostname()}:{os.getpid()}:{now_iso()}", "host": socket.gethostname(),
            "pid": os.getpid(), "started": now_iso(), "ended": None, "outcome": "running"}


def _interrupted(entry: dict) -> dict:
    """An entry still "running" whose process is gone from this machine (killed: it never wrote its end) is
    marked ``interrupted``; entries of other machines are left as they are (their processes cannot be seen)."""
    import socket

    from .leases import process_alive

    if entry.get("outcome") != "running" or entry.get("host") != socket.gethostname() or not entry.get("pid"):
        return entry
    if entry["pid"] == os.getpid() or process_alive(entry["pid"]):
        return entry
    return {**entry, "outcome": "interrupted", "note": "its process ended without recording an outcome (killed?)"}


def with_invocation(current: dict | None, record: dict, entry: dict) -> dict:
    """``record`` carrying the stored invocation log (another process may have added to it) with ``entry``
    added or replaced; ``invocations`` counts them all."""
    log = [_interrupted(e) for e in (current or {}).get("invocation_log") or [] if e.get("id") != entry["id"]]
    if current and not current.get("invocation_log") and current.get("invocations"):
        log = [{"id": "earlier", "count": current["invocations"], "outcome": "recorded before the log existed"}]
    log.append(entry)
    starts = [x for x in ((current or {}).get("started"), record.get("started")) if x]
    return {**record, "invocation_log": log, "started": min(starts) if starts else record.get("started"),
            "invocations": sum(e.get("count", 1) for e in log), **with_difficulty(current, record)}


def with_difficulty(current: dict | None, record: dict) -> dict:
    """``{"difficulty": levels}`` joining both records' image levels (shards of one run each record their own
    images'); {} when neither has any."""
    levels = {**((current or {}).get("difficulty") or {}), **(record.get("difficulty") or {})}
    return {"difficulty": levels} if levels else {}

