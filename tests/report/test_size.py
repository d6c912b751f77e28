"""A full-size report (40,000 questions x 3 models, MMAD's 8,366 query images) stays well under 50 MB."""
import hashlib
import io
import random

from PIL import Image

from mmad_eval.answers import AnswerRecord
from mmad_eval.report.data import assemble
from mmad_eval.report.html import write_report
from mmad_eval.report.scoring import PackageScoring
from mmad_eval.report.thumbs import Thumbnails, ThumbSettings
from mmad_eval.run.loaded import LoadedRun

N_IMAGES, N_QUESTIONS = 8366, 40000


_CACHE: dict[int, bytes] = {}


def _image(i: int) -> bytes:
    """A 128-px noisy picture (noise is the worst case for thumbnail size); 64 distinct sources reused."""
    if i % 64 not in _CACHE:
        im = Image.effect_noise((128, 128), 40 + i % 30).convert("RGB")
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80)
        _CACHE[i % 64] = buf.getvalue()
    return _CACHE[i % 64]


class SubsetScoring(PackageScoring):
    """Real scores on the first 2,000 answers of each run: this test measures the size of the question
    browser (all 40,000 questions) and the images, not the score tables (a few kB either way)."""

    def compatible(self, answers):
        return super().compatible(answers[:2000])

    def strict(self, answers):
        return super().strict(answers[:2000])

    def breakdown(self, answers):
        return super().breakdown(answers[:2000])

    def paired(self, a, b):
        return super().paired(a[:2000], b[:2000])

    def detection(self, answers):
        return super().detection(answers[:2000])


def _big_runs() -> list[LoadedRun]:
    shas = [hashlib.sha256(f"img{i}".encode()).hexdigest() for i in range(N_IMAGES + 1000)]
    index = {s: i for i, s in enumerate(shas)}
    types = ["Anomaly Detection", "Defect Classification", "Defect Localization", "Defect Description",
             "Defect Analysis", "Object Classification", "Object Structure"]
    instruction = "You are an industrial inspector. " * 12
    runs = []
    for m, acc in enumerate((0.7, 0.6, 0.65)):
        rng = random.Random(m)
        answers, prompts = [], {}
        for q in range(N_QUESTIONS):
            img = q % N_IMAGES
            key = f"DS{img % 4}/cat{img % 38}/test/{'good' if img % 3 == 0 else 'bad'}/{img:05d}.png"
            opts = {"A": "Yes.", "B": "No."} if q % 5 == 0 else {k: f"option {k} of question {q}" for k in "ABCD"}
            ans = rng.choice(list(opts))
            pick = ans if rng.random() < acc else rng.choice(list(opts))
            rk = f"{m}-{q}"
            prompts[rk] = [{"role": "user", "parts": [
                {"image": shas[N_IMAGES + img % 1000], "role": "template"}, {"image": shas[img], "role": "query"},
                {"text": instruction}, {"text": f"Question {q}: what is wrong?\n" + "\n".join(
                    f"{k}. {v}" for k, v in opts.items())}]}]
            answers.append(AnswerRecord(image=key, index=q // N_IMAGES, type=types[q % 7], options=opts,
                                        answer=ans, reply=f"The answer is {pick}.", parsed=pick, rule="explicit",
                                        reference_parsed=pick, request_key=rk))
        runs.append(LoadedRun(run_dir=".", name=f"model-{m}", record={"settings": {"model": f"m{m}"}},
                              answers=answers, prompts=prompts,
                              image_loader=lambda sha: _image(index[sha])))
    return runs


def test_full_size_report_stays_under_50_mb(tmp_path):
    runs = _big_runs()
    data = assemble(runs, scoring=SubsetScoring(n_boot=20), thumbs=ThumbSettings(workers=2))
    path = write_report(data, tmp_path / "big.html")
    size = path.stat().st_size
    print(f"{size / 1e6:.1f} MB, thumbnails {data.thumbs.size} px, {data.thumbs.total_bytes / 1e6:.1f} MB")
    assert len(data.browser["questions"]) == N_QUESTIONS
    assert len(data.thumbs.ids) == N_IMAGES + 1000
    assert size < 50 * 1024 * 1024


def test_image_budget_is_respected():
    thumbs = Thumbnails(ThumbSettings(size=160, budget_mb=0.2))
    for i in range(120):
        thumbs.ref(f"sha{i}", lambda sha: _image(int(sha[3:])))
    thumbs.ref("missing", lambda sha: None)
    thumbs.build()
    assert thumbs.total_bytes <= 0.2 * 1024 * 1024
    assert thumbs.size < 160 or thumbs.over_budget      # shrunk, or some left out
    assert thumbs.missing == 1 and thumbs.uris[thumbs.ids["missing"]] is None
