"""The review page: one self-contained HTML file with every flag's thumbnail, mask overlay and evidence, where
a person marks each flag confirmed or rejected and downloads the decisions as JSON (imported with
``mmad-eval audit ... --decisions FILE``). Data is embedded as JSON and inserted as text, never as markup."""
from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np

from ..errata.model import Errata, write_atomic
from ..paths import safe_join
from .masks import resolve_mask

THUMB = 200
_TEMPLATE = Path(__file__).with_name("page.html")


def _thumb(root: Path, key: str, mask_entry=None) -> str | None:
    """A JPEG data URL of the image (mask drawn in translucent red when given); None when unreadable."""
    from PIL import Image

    from ..imageio import open_image
    from ..sources.imagecheck import read_mask

    try:
        with open_image(safe_join(root, key)) as im:        # over the pixel limit: refused from the header
            im = im.convert("RGB")
            if mask_entry is not None:
                path = resolve_mask(root, mask_entry)
                if path is not None:
                    m = read_mask(path)
                    if m.shape[::-1] == im.size and m.any():
                        arr = np.asarray(im, dtype=np.float32)
                        arr[m] = 0.45 * np.array([255, 0, 0]) + 0.55 * arr[m]
                        im = Image.fromarray(arr.astype(np.uint8))
            im.thumbnail((THUMB, THUMB))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=82)
    except Exception:  # noqa: BLE001 - any unreadable file just has no thumbnail on the page
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def page_data(errata: Errata, qs, root: Path) -> dict:
    thumbs: dict[str, str | None] = {}

    def ref(key: str, with_mask: bool) -> str | None:
        tag = f"{key}|mask" if with_mask else key
        if tag not in thumbs:
            entry = qs.entries.get(key) if with_mask else None
            thumbs[tag] = _thumb(root, key, entry) if (not with_mask or entry is not None) else None
        return tag if thumbs[tag] else None

    flags = []
    for e in errata.entries:
        images = e["target"].get("images") or []
        key = images[0] if images else None
        shown = []
        if key and key in qs.entries:
            shown.append(["query", key, ref(key, False)])
            if qs.entries[key].mask_path:
                shown.append(["mask", key, ref(key, True)])
            entry = qs.entries[key]
            refs = list(dict.fromkeys(entry.random_templates[:1] + entry.similar_templates[:1]))
            shown += [["reference", r, ref(r, False)] for r in refs]
            dup = (e.get("evidence") or {}).get("duplicate_of")
            if dup:
                shown.append(["duplicate of", dup, ref(dup, False)])
        question = None
        q_index = e["target"].get("question")
        if key in qs.entries and q_index is not None:
            q = next((x for x in qs.entries[key].questions if x.index == q_index), None)
            if q is not None:
                question = {"type": q.type, "text": q.text, "options": q.options, "answer": q.answer}
        flags.append({"id": e["id"], "check": e["check"], "status": e["status"], "message": e.get("message", ""),
                      "target": e["target"], "evidence": e.get("evidence", {}), "fix": e.get("fix", {}),
                      "source": e.get("source"), "decision": e.get("decision"), "images": shown,
                      "question": question, "more_images": max(0, len(images) - 1)})
    return {"errata_sha256": errata.sha256, "errata_file": Path(errata.path).name if errata.path else "",
            "questions": (errata.meta.get("questions") or {}), "summary": errata.meta.get("summary") or {},
            "flags": flags, "thumbs": {k: v for k, v in thumbs.items() if v}}


def write_page(errata: Errata, qs, root: Path, out: Path) -> Path:
    data = json.dumps(page_data(errata, qs, Path(root)), ensure_ascii=True).replace("</", "<\\/")
    title = html.escape(f"Label audit: {Path(errata.meta.get('questions', {}).get('file') or 'questions').name}")
    values = {"TITLE": title, "DATA": data}
    text = re.sub(r"\{\{(TITLE|DATA)\}\}", lambda m: values[m.group(1)], _TEMPLATE.read_text(encoding="utf-8"))
    write_atomic(Path(out), text)
    return Path(out)
