"""RobustMAD-shaped question files over the synthetic set (the released files' field names and nesting)."""
from __future__ import annotations

import json
from pathlib import Path

CATEGORIES = ("General Object Understanding", "Anomaly Understanding and Localization (Stand-alone)",
              "Anomaly Understanding and Localization (Pair-wise comparison)",
              "Unanswerable or Misleading Query Detection")


def _images(data_root: Path) -> list[tuple[str, str]]:
    """(query, reference) paths relative to the data root: every test image, a train image as reference."""
    out = []
    for cat in sorted(p for p in (data_root / "Synth-AD").iterdir() if p.is_dir()):
        ref = sorted((cat / "train" / "good").glob("*.png"))[0].relative_to(data_root).as_posix()
        for img in sorted((cat / "test").rglob("*.png")):
            out.append((img.relative_to(data_root).as_posix(), ref))
    return out


def robustmad_file(data_root: Path, out: Path, open_ended: bool = False, n_images: int | None = None) -> Path:
    """Write a RobustMAD_MCQ.json-shaped file (``open_ended``: RobustMAD_OE.json-shaped, no options)."""
    images, qid = [], 0
    for i, (query, ref) in enumerate(_images(data_root)[:n_images]):
        parts = query.split("/")
        questions = []
        for j, cat in enumerate(CATEGORIES):
            qid += 1
            q = {"question_id": qid, "robustness_category": cat, "question_type": "OE" if open_ended else "MCQ",
                 "question": f"Question {j} about the {parts[1]}?"}
            if open_ended:
                q["answer"] = f"The {parts[1]} is shown."
            else:
                q["options"] = {x: f"option {x} of question {qid}" + (" (the long one)" if x == "C" else "")
                                for x in "ABCDE"}
                q["answer"] = "ABCDE"[(i + j) % 5]
            questions.append(q)
        images.append({"dataset": parts[0], "category": parts[1], "image_id": parts[-1], "image_path": query,
                       "specie_name": parts[3], "anomaly": int(parts[3] != "good"), "difficulty": "general",
                       "reference_image_id": ref.split("/")[-1], "reference_image_path": ref,
                       "query_txt_path": query[:-4] + ".txt", "reference_txt_path": ref[:-4] + ".txt",
                       "questions": questions})
    out.write_text(json.dumps({"images": images}, indent=4))
    return out
