"""Export a question set to a Hugging Face ``datasets`` folder and import it back (the ``datasets`` extra).

One row per question. Columns: ``key`` (query image key), ``index`` (position in the image's conversation),
``dataset``, ``category``, ``type``, ``question``, ``options`` (JSON object letter -> text, in order),
``answer`` (letter), ``image`` (``Image``), ``similar_templates`` and ``random_templates`` (lists of
``Image``) with their keys in ``similar_template_paths`` and ``random_template_paths``, ``mask`` (``Image``
or None; an MVTec LOCO mask folder is stored as the union of its files) with its key in ``mask_key``,
MMAD's ``mask_path`` and ``image_path`` strings as they were, and
``entry_extra``, ``question_extra``, ``provenance`` (JSON strings, kept for exact round trips). Keys are
paths relative to the data root (``datasets`` keeps only a file's base name with embedded bytes), so an
import can rebuild both the question file and the image tree.

Images are embedded by default (a self-contained folder that ``push_to_hub`` can publish); since each row
carries its own images, ``embed_images=False`` (keys only, image columns empty) or ``max_references`` keep
large sets small.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..atomic_write import atomic_dir, write_bytes
from ..errors import DataError, MissingExtraError, MmadError
from ..paths import safe_join
from .mmad_io import _entry
from .model import QuestionSet

TEMPLATE_COLUMNS = ("similar_templates", "random_templates")


def _datasets():
    try:
        import datasets
    except ImportError:
        raise MissingExtraError("datasets", "datasets") from None
    return datasets


def features():
    ds = _datasets()
    image_list = ds.List(ds.Image()) if hasattr(ds, "List") else ds.Sequence(ds.Image())
    text = ds.Value("string")
    return ds.Features({
        "key": text, "index": ds.Value("int32"), "dataset": text, "category": text, "type": text,
        "question": text, "options": text, "answer": text, "image": ds.Image(),
        "similar_templates": image_list, "random_templates": image_list,
        "similar_template_paths": ds.List(text) if hasattr(ds, "List") else ds.Sequence(text),
        "random_template_paths": ds.List(text) if hasattr(ds, "List") else ds.Sequence(text),
        "mask": ds.Image(), "mask_key": text, "mask_path": text, "image_path": text, "entry_extra": text, "question_extra": text, "provenance": text})


@dataclass
class ExportSummary:
    rows: int = 0
    entries: int = 0
    missing: list[str] = field(default_factory=list)   # image keys stored without their image (file absent)


def _rows(questions: QuestionSet, data_root: Path, embed_images: bool, max_references: int | None,
          allow_missing: bool, summary: ExportSummary):
    @lru_cache(maxsize=512)
    def image(key: str) -> dict | None:
        """The image's bytes; None when not embedding or (allowed) missing: its key lives in its own column."""
        if not embed_images:
            return None
        path = safe_join(data_root, key, what="image path")
        if path.is_dir():   # an MVTec LOCO mask folder (one file per region): stored as their union
            return {"bytes": _merged_mask_png(path), "path": key}
        try:
            return {"bytes": path.read_bytes(), "path": key}
        except FileNotFoundError:
            if not allow_missing:
                raise DataError("image file not found (allow_missing stores its key without the image)",
                                culprit=str(path)) from None
            summary.missing.append(key)
            return None

    for e in questions.entries.values():
        summary.entries += 1
        references = {}
        for c in TEMPLATE_COLUMNS:
            keys = getattr(e, c)[:max_references]
            references[c], references[f"{c[:-1]}_paths"] = [image(k) for k in keys], list(keys)
        mask_key = _mask_key(e.key, e.mask_path, data_root) if e.mask_path else None
        mask = image(mask_key) if mask_key else None
        for q in e.questions:
            summary.rows += 1
            yield {"key": e.key, "index": q.index, "dataset": q.dataset, "category": q.category, "type": q.type,
                   "question": q.text, "options": json.dumps(q.options, ensure_ascii=False), "answer": q.answer,
                   "image": image(e.key), **references, "mask": mask, "mask_key": mask_key, "mask_path": e.mask_path,
                   "image_path": e.image_path, "entry_extra": json.dumps(e.extra, ensure_ascii=False),
                   "question_extra": json.dumps(q.extra, ensure_ascii=False),
                   "provenance": json.dumps(q.provenance, ensure_ascii=False)}


def _merged_mask_png(folder: Path) -> bytes:
    import io

    from PIL import Image

    from ..sources.imagecheck import read_mask

    buf = io.BytesIO()
    Image.fromarray(read_mask(folder).astype("uint8") * 255).save(buf, "PNG")
    return buf.getvalue()


def _mask_key(key: str, mask_path: str, data_root: Path) -> str:
    """MMAD's mask_path is relative to the root in some copies and to <dataset>/<category>/ in others."""
    prefix = "/".join(key.split("/")[:2])
    if not (data_root / mask_path).exists() and (data_root / prefix / mask_path).exists():
        return f"{prefix}/{mask_path}"
    return mask_path


def export_hf(questions: QuestionSet, data_root: Path, out_dir: Path, *, embed_images: bool = True,
              max_references: int | None = None, allow_missing: bool = False) -> ExportSummary:
    """Write the question set as a ``datasets`` folder (``Dataset.save_to_disk``) at ``out_dir``."""
    ds_mod = _datasets()
    summary = ExportSummary()
    with tempfile.TemporaryDirectory(prefix="mmad-hf-") as cache:
        try:
            ds = ds_mod.Dataset.from_generator(
                _rows, features=features(), cache_dir=cache, fingerprint=f"mmad-{questions.sha256 or id(questions)}",
                gen_kwargs=dict(questions=questions, data_root=Path(data_root), embed_images=embed_images,
                                max_references=max_references, allow_missing=allow_missing, summary=summary))
        except ds_mod.exceptions.DatasetGenerationError as e:
            cause = e.__cause__
            while cause is not None and not isinstance(cause, MmadError):
                cause = cause.__cause__ or cause.__context__
            if cause is not None:
                raise cause from None      # our own error, naming the culprit file
            raise DataError(f"could not build the dataset ({e.__cause__ or e})", culprit=str(out_dir)) from None
        with atomic_dir(out_dir) as tmp:
            ds.save_to_disk(str(tmp))
    return summary


def _load(folder: Path):
    ds_mod = _datasets()
    folder = Path(folder)
    if (folder / "dataset_info.json").is_file() or (folder / "state.json").is_file():
        return ds_mod.load_from_disk(str(folder))
    parquet = sorted(str(p) for p in folder.rglob("*.parquet"))
    if parquet:
        return ds_mod.Dataset.from_parquet(parquet)
    raise DataError("not a saved datasets folder (no state.json) and no parquet files", culprit=str(folder))


def _write_image(images_out: Path, key: str | None, img: dict | None, written: dict[str, bytes]) -> None:
    if not key or not img or img.get("bytes") is None:
        return
    data = img["bytes"]
    if written.get(key) is not None:
        if written[key] != data:
            raise DataError("the dataset holds two different images under this path", culprit=key)
        return
    target = safe_join(images_out, key, what="image path")
    on_disk = (_merged_mask_png(target) if target.is_dir() else target.read_bytes()) if target.exists() else None
    if on_disk is not None and on_disk != data:
        raise DataError("a different file already exists there; choose an empty --images-out", culprit=str(target))
    if target.is_dir():   # the mask folder this union was made from
        written[key] = data
        return
    write_bytes(target, data)
    written[key] = data


def import_hf(folder: Path, images_out: Path | None = None) -> QuestionSet:
    """Read a folder written by :func:`export_hf` (or its parquet files) back into a question set; with
    ``images_out``, also write every embedded image under it at its key (paths checked against escapes)."""
    ds = _load(folder)
    missing = [c for c in features() if c not in ds.column_names]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", culprit=str(folder))
    raw: dict[str, dict] = {}
    written: dict[str, bytes] = {}
    for batch in ds.with_format("arrow").iter(batch_size=256):
        for row in batch.to_pylist():
            where = f"{folder}[{row['key']}#{row['index']}]"
            if images_out is not None:
                pairs = [(row["key"], row["image"]), (row["mask_key"], row["mask"])]
                for c in TEMPLATE_COLUMNS:
                    if len(row[c]) != len(row[f"{c[:-1]}_paths"]):
                        raise DataError(f"{c} and {c[:-1]}_paths differ in length", culprit=where)
                    pairs += zip(row[f"{c[:-1]}_paths"], row[c])
                for key, img in pairs:
                    _write_image(Path(images_out), key, img, written)
            rec = raw.get(row["key"])
            if rec is None:
                rec = raw[row["key"]] = {
                    **({"image_path": row["image_path"]} if row["image_path"] is not None else {}),
                    "conversation": [], **{c: list(row[f"{c[:-1]}_paths"]) for c in TEMPLATE_COLUMNS},
                    "mask_path": row["mask_path"] or "", **_json(row["entry_extra"], where)}
            if row["index"] != len(rec["conversation"]):
                raise DataError(f"question index {row['index']} out of order (expected "
                                f"{len(rec['conversation'])})", culprit=where)
            q = {"Question": row["question"], "Answer": row["answer"], "Options": _json(row["options"], where),
                 "type": row["type"], **_json(row["question_extra"], where)}
            prov = _json(row["provenance"], where)
            if prov:
                q["provenance"] = prov
            rec["conversation"].append(q)
    entries = {key: _entry(key, value, Path(folder)) for key, value in raw.items()}
    return QuestionSet(entries=entries, sha256="", source=str(folder))


def _json(text: str | None, where: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"malformed JSON field: {e}", culprit=where) from None
    if not isinstance(value, dict):
        raise DataError("JSON field must be an object", culprit=where)
    return value

