"""Synthetic loaded runs for report tests and the docs screenshot (no store, no model: hand-built records).

Run as a script to render a report of these runs and its screenshot (the README's screenshot is the demo's
report instead: docs/reading-the-report.md):
    python tests/report/report_synth.py /tmp/synthetic-report.png
"""
from __future__ import annotations

import hashlib
import math
import io
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from mmad_eval.parse import parse_reply, reference_parse
from mmad_eval.answers import AnswerRecord
from mmad_eval.run.loaded import LoadedRun

CATEGORIES = {"DS-MVTec": ["bottle", "screw", "metal_nut"], "MVTec-LOCO": ["juice_bottle", "pushpins"],
              "VisA": ["candle", "pcb1", "macaroni1"], "GoodsAD": ["drink_can", "food_box"]}
DEFECTS = ["scratch", "crack", "contamination", "missing part"]
INSTRUCTION = ("You are an industrial inspector who checks products by images. You should judge whether "
               "there is a defect in the query image and answer the questions about it.\nAnswer with the "
               "option's letter from the given choices directly.\n")
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


def make_image(seed: int, size: int = 160, defect: bool = False) -> bytes:
    """A small product-like picture: a shaded object on a textured background, a dark mark if defective."""
    rng = random.Random(seed)
    base = tuple(rng.randint(90, 200) for _ in range(3))
    im = Image.new("RGB", (size, size), tuple(c // 2 for c in base))
    d = ImageDraw.Draw(im)
    r = size * rng.uniform(0.25, 0.38)
    c = size / 2
    for k in range(8):
        shade = tuple(min(255, v + 10 * k) for v in base)
        d.ellipse([c - r + k * 2, c - r + k * 2, c + r - k * 2, c + r - k * 2], fill=shade)
    if defect:
        x, y = c + rng.uniform(-r, r) * 0.6, c + rng.uniform(-r, r) * 0.6
        d.line([x, y, x + rng.uniform(-20, 20), y + rng.uniform(-20, 20)], fill=(30, 20, 20), width=3)
    im = im.filter(ImageFilter.GaussianBlur(1.2))
    noise = Image.effect_noise((size, size), 12).convert("RGB")
    im = Image.blend(im, noise, 0.08)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _questions(key: str, defective: bool, rng: random.Random, category: str):
    """(type, question text, options, answer letter) for one image, MMAD-like."""
    qs = [("Anomaly Detection", "Is there any defect in the object?", {"A": "Yes.", "B": "No."},
           "A" if defective else "B")]
    if defective:
        for t, text in (("Defect Classification", "There is a defect in the object. What is the type of the defect?"),
                        ("Defect Localization", "There is a defect in the object. Where is the defect?"),
                        ("Defect Description", "There is a defect in the object. What does the defect look like?"),
                        ("Defect Analysis", "There is a defect in the object. What is its effect?")):
            opts = dict(zip("ABCD", rng.sample(DEFECTS, 4)))
            qs.append((t, text, opts, rng.choice("ABCD")))
    else:
        qs.append(("Object Classification", "What kind of product is in the image?",
                   dict(zip("ABCD", [category.replace("_", " "), "bolt", "tile", "capsule"])), "A"))
        qs.append(("Object Structure", "How many parts does the object have?",
                   {"A": "One.", "B": "Two.", "C": "Three.", "D": "Four."}, rng.choice("ABCD")))
        qs.append(("Object Details", "What colour is the object?",
                   {"A": "Red.", "B": "Green.", "C": "Grey.", "D": "Blue."}, rng.choice("ABCD")))
    return qs


def _reply(rng: random.Random, letter: str, options: dict, style: int) -> str:
    forms = [letter, f"{letter}.", f"The answer is {letter}.", f"{letter}. {options[letter]}",
             f"Looking at the query image compared with the template, I would say {letter}."]
    return forms[style % len(forms)] if rng.random() > 0.03 else "I cannot determine this from the image."


def synthetic_runs(models=(("qwen2.5-vl-7b", 0.72), ("internvl2-8b", 0.6), ("gpt-4o-mini", 0.66)),
                   images_per_category: int = 6, rotations: int = 1, seed: int = 0, hostile: bool = True,
                   image_size: int = 160, data_root: str = "/home/alice/data/MMAD",
                   knowledge_run: bool = True) -> list[LoadedRun]:
    """Loaded runs over the same synthetic questions; model i is right with probability ``acc``."""
    rng = random.Random(seed)
    pictures: dict[str, bytes] = {}
    items = []
    n = 0
    for ds, cats in CATEGORIES.items():
        for cat in cats:
            tpl_keys = [f"{ds}/{cat}/train/good/{i:03d}.png" for i in range(3)]
            for i in range(images_per_category):
                defective = i % 3 != 0
                key = f"{ds}/{cat}/test/{'crack' if defective else 'good'}/{i:03d}.png"
                items.append((key, defective, cat, tpl_keys[i % 3]))
                n += 1
    shas = {}

    def sha_of(key: str, defective: bool) -> str:
        if key not in shas:
            data = make_image(int(hashlib.md5(key.encode()).hexdigest()[:8], 16), image_size, defective)
            shas[key] = hashlib.sha256(data).hexdigest()
            pictures[shas[key]] = data
        return shas[key]

    question_list = []
    for key, defective, cat, tpl in items:
        for idx, (t, text, opts, ans) in enumerate(_questions(key, defective, rng, cat)):
            question_list.append((key, idx, t, text, opts, ans, sha_of(tpl, False), sha_of(key, defective)))
    plan = list(models) + ([(models[0][0] + "+knowledge", models[0][1] + 0.06)] if knowledge_run else [])
    runs = []
    for m, (name, acc) in enumerate(plan):
        mrng = random.Random(seed * 1000 + m)
        answers, prompts = [], {}
        for qi, (key, idx, t, text, opts, ans, tpl_sha, q_sha) in enumerate(question_list):
            letters = list(opts)
            for rot in range(rotations):
                shown_letters = letters[rot % len(letters):] + letters[:rot % len(letters)]
                shown = {letters[i]: opts[o] for i, o in enumerate(shown_letters)}
                answer = letters[shown_letters.index(ans)]
                rk = hashlib.sha256(f"{name}|{key}|{idx}|{rot}".encode()).hexdigest()
                body = text + "\n" + "\n".join(f"{k}. {v}" for k, v in shown.items())
                parts = [{"image": tpl_sha, "role": "template"}, {"image": q_sha, "role": "query"}]
                if name.endswith("+knowledge"):
                    parts.append({"text": f"Domain knowledge for {key.split('/')[1]}: normal samples are clean."})
                parts += [{"text": INSTRUCTION}, {"text": body}]
                prompts[rk] = [{"role": "user", "parts": parts}]
                rec = AnswerRecord(image=key, index=idx, type=t, options=shown, answer=answer,
                                   rotation=rot, request_key=rk)
                if mrng.random() < 0.01:
                    rec.error = "RateLimitError: 429 too many requests"
                else:
                    pick = answer if mrng.random() < acc else mrng.choice(list(shown))
                    rec.reply = _reply(mrng, pick, shown, qi + m)
                    if hostile and qi in (1, 2) and m == 0:
                        rec.reply = HOSTILE[qi - 1] + " so the answer is " + pick
                    rec.parsed, rec.rule = parse_reply(rec.reply, shown)
                    rec.reference_parsed = reference_parse(rec.reply)
                    rec.meta = {"prompt_tokens": 900 + len(body), "completion_tokens": len(rec.reply) // 3 + 1}
                    if m == 1:      # this model also returned letter probabilities (detection and calibration)
                        top = 0.35 + 0.6 * mrng.random()
                        rest = (1 - top) / (len(shown) - 1)
                        rec.meta["letter_logprobs"] = {k: math.log(top if k == pick else rest) for k in shown}
                answers.append(rec)
        enh = {"knowledge": f"{data_root}/domain_knowledge.json" if name.endswith("+knowledge") else None,
               "expert": "none", "hint": "boxes", "embedder": "builtin"}
        settings = {"model": name.split("+")[0], "generation": {"temperature": 0.0, "max_new_tokens": 128, "seed": 0},
                    "images": {"max_side": None, "format": "png"},
                    "protocol": {"prompt": "mmad", "references": "random", "shots": 1,
                                 "question_mode": "independent", "circular": rotations > 1},
                    "enhancements": enh}
        record = {"name": name, "settings": settings, "data_root": data_root,
                  "questions": {"file": "mmad.json", "sha256": "ab" * 32, "count": len(question_list)},
                  "prompt": {"name": "mmad", "sha256": "cd" * 32},
                  "versions": {"mmad_eval": "0.1.0", "python": "3.11"}, "git": {"commit": "0" * 40, "dirty": False},
                  "backend": {"api_key": "sk-secret-do-not-show", "base_url": "http://localhost:8000/v1"},
                  "usage": {"prompt_tokens": sum(a.meta.get("prompt_tokens", 0) for a in answers),
                            "completion_tokens": sum(a.meta.get("completion_tokens", 0) for a in answers)}}
        runs.append(LoadedRun(run_dir=Path("runs") / "demo", name=name, record=record, answers=answers,
                              prompts=prompts, image_loader=pictures.get))
    return runs


def chromium_cmd(html: Path, profile: str, *extra: str) -> list[str]:
    return ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", *extra, html.resolve().as_uri()]


def main(argv: list[str]) -> int:
    from mmad_eval.report.data import assemble
    from mmad_eval.report.html import write_report

    png = Path(argv[0] if argv else "docs/report-screenshot.png")
    runs = synthetic_runs(images_per_category=10)
    with tempfile.TemporaryDirectory() as tmp:
        html = write_report(assemble(runs, title="Inspection model comparison: MMAD-style evaluation",
                                     published=True), Path(tmp) / "demo.html")
        subprocess.run(chromium_cmd(html, f"{tmp}/profile", f"--screenshot={png.resolve()}",
                                    "--window-size=1360,3000"), check=True, capture_output=True, timeout=60)
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
