"""Orchestration: annotated samples + category knowledge -> an MMAD-style question set.

One pass over the samples in source order drafts every question, reading each defective image's mask and
pixels once (at a small working size) and each category's normal mean image once; a second pass balances
the set's answer priors (balance.py) before the options are lettered. Every random choice comes from a
stream private to (seed, image, rule), and the balancing pass visits images in an order drawn from the
same streams, so the same inputs and seed give a byte-identical file.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import ConfigError, DataError
from ...paths import safe_join
from ...process_pool import process_pool
from ...sources.knowledge import Knowledge, load_knowledge, lookup
from ...sources.sample import AnnotatedSample, SourceSet
from ..model import ImageEntry, QuestionSet
from . import analysis, anomaly, balance, defect_type, description, localization, objects
from .context import Context, Skip
from .description import Extent
from .margins import DEFAULT as DEFAULT_MARGINS
from .margins import Margins
from .masks import NormalMeans, measure, read_mask, read_rgb, tone
from .object_zones import image_outline_area, place
from .options import Draft, assemble, balanced_positions, rng_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerateSettings:
    """Every knob of the generator; recorded with the set (``GenerateResult.settings``)."""

    seed: int = 0
    n_options: int = 4               # options per multiple-choice question (Yes/No has 2)
    yes_no: str = "fixed"            # "fixed" (MMAD: A. Yes. / B. No.) or "shuffled" per image
    random_templates: int = 5        # seeded sample of the category's normal pool
    similar: str = "builtin"         # "builtin" (retrieval.index nearest normals) or "none"
    similar_templates: int = 5
    normal_mean_images: int = 8      # normal images averaged as the tone reference of Defect Description
    balance: bool = True             # even out Localization/Description answer priors over the set (balance.py)
    object_regions: float = 0.5      # share of object categories' Localization questions phrased relative to
    #                                  the object (middle/edge/side) when its outline is known; else 3x3 grid
    margins: Margins = DEFAULT_MARGINS  # thresholds and margins for exactly one defensible option (margins.py)

    def __post_init__(self):
        if self.yes_no not in ("fixed", "shuffled"):
            raise ConfigError("yes_no must be 'fixed' or 'shuffled'", culprit=self.yes_no)
        if self.similar not in ("builtin", "none"):
            raise ConfigError("similar must be 'builtin' or 'none'", culprit=self.similar)
        if not 0.0 <= self.object_regions <= 1.0:
            raise ConfigError("object_regions must be between 0 and 1", culprit=str(self.object_regions))
        if not 2 <= self.n_options <= 5:
            raise ConfigError("n_options must be between 2 and 5", culprit=str(self.n_options))


@dataclass
class GenerateResult:
    questions: QuestionSet
    settings: GenerateSettings
    skipped: list[tuple[str, str, str]] = field(default_factory=list)   # (image, type, reason)

    def skip_summary(self) -> Counter:
        return Counter((t, r) for _, t, r in self.skipped)

    def type_counts(self) -> Counter:
        return Counter(q.type for q in self.questions.questions())


def resolve_knowledge(source: SourceSet, knowledge: Knowledge | Path | str | None) -> Knowledge:
    if isinstance(knowledge, Knowledge):
        return knowledge
    if knowledge:
        return load_knowledge(Path(knowledge))
    if source.knowledge_path:
        return load_knowledge(source.knowledge_path)
    return Knowledge()


class _Similar:
    """Lazy nearest-normal lookup through mmad_eval.retrieval (built only when asked for)."""

    def __init__(self, source: SourceSet, k: int):
        self.source, self.k, self._index = source, k, None

    def __call__(self, key: str) -> list[str]:
        if self._index is None:
            from ...retrieval.index import RetrievalIndex   # embeds each category's normals once, when asked
            pools = {(s.image.split("/")[0], s.category): self.source.normals.get(s.category, [])
                     for s in self.source.samples}
            self._index = RetrievalIndex.from_pools(self.source.root, pools)
        return list(self._index.nearest(key, self.k))


def random_templates(s: AnnotatedSample, normals: dict, settings: GenerateSettings) -> list[str]:
    """The seeded sample of the category's normal pool shown with this image (MMAD's random_templates)."""
    pool = [p for p in normals.get(s.category, []) if p != s.image]
    k = min(settings.random_templates, len(pool))
    return rng_for(settings.seed, s.image, "random_templates").sample(sorted(pool), k) if k else []


def _defect_measurements(root: Path, s: AnnotatedSample, means: NormalMeans, margins: Margins = DEFAULT_MARGINS,
                         templates: list[str] = (), textures: frozenset = frozenset()):
    """(mask stats, tone, placement on the object, problem, extras) for a defective sample; an unreadable
    mask is a problem, not a crash. Extras: ``{"object": share of the image inside the category's outline,
    "image": share inside this image's own outline}`` (None where not trusted) and ``"tone_templates"``,
    the tone against the mean of the normal templates shown with this image (a tone is asked only when
    both references agree)."""
    if not s.mask:
        return None, None, None, None, {}
    try:
        mask = read_mask(safe_join(root, s.mask, what="mask path"))
    except DataError as e:
        return None, None, None, f"mask unreadable: {e}", {}
    stats = measure(mask, margins.grid_gap)
    if stats is None:
        return None, None, None, None, {}
    size = (mask.shape[1], mask.shape[0])
    image, t2 = None, None
    try:
        image = read_rgb(safe_join(root, s.image, what="image path"), size)
        t = tone(image, mask, means.get(s.category, size))
        ref = means.template_mean(list(templates), size, mask)
        t2 = tone(image, mask, ref) if ref is not None else None
    except DataError as e:
        log.warning("tone left out for %s: %s", s.image, e)
        t = None
    try:
        shape, _ = means.object_shape(s.category, size)
    except DataError:
        shape = None
    areas = {"object": shape.area_frac if shape is not None else None,         # this image's own outline is
             "image": image_outline_area(image) if image is not None and shape is None  # a fallback
             and s.category not in textures else None,
             "tone_templates": t2}
    return stats, t, place(shape, mask, margins.zone_gap) if shape is not None else None, None, areas


def _extent(ctx: Context, areas: dict) -> Extent:
    """What the defect's size is measured against: the product's outline where known (objects only)."""
    ck = ctx.ck()
    if ck is None or ck.kind != "object":
        return Extent(1.0, "image")
    if areas.get("object"):
        return Extent(areas["object"], "object_outline")
    if areas.get("image"):
        return Extent(areas["image"], "image_outline")
    return Extent(1.0, "image")


_WORKER: dict = {}
PARALLEL_MIN = 64          # fewer defective samples than this are measured in-process


def _worker_init(root: Path, pools: dict, limit: int, margins: Margins, textures: frozenset) -> None:
    _WORKER.update(root=root, means=NormalMeans(root, pools, limit), margins=margins, textures=textures)


def _worker_measure(job):
    s, templates = job
    w = _WORKER
    return _defect_measurements(w["root"], s, w["means"], w["margins"], templates, w["textures"])


def _measurements(source: SourceSet, settings: GenerateSettings, workers: int, textures: frozenset = frozenset()):
    """Mask/pixel measurements of the defective samples, in source order (in ``workers`` processes when
    there are enough of them: decoding images is most of the work). ``textures``: categories the knowledge
    calls textures (their defects' sizes are relative to the whole image: no outline is looked for)."""
    jobs = [(s, random_templates(s, source.normals, settings)) for s in source.samples if s.is_anomalous and s.mask]
    root, limit, margins = Path(source.root), settings.normal_mean_images, settings.margins
    if workers <= 1 or len(jobs) < PARALLEL_MIN:
        means = NormalMeans(root, source.normals, limit)
        yield from (_defect_measurements(root, s, means, margins, t, textures) for s, t in jobs)
        return
    init = (root, source.normals, limit, margins, textures)
    with process_pool(workers, initializer=_worker_init, initargs=init) as pool:
        yield from pool.imap(_worker_measure, jobs, chunksize=8)


def _drafts(ctx: Context, settings: GenerateSettings, measured, skip) -> list[Draft]:
    s = ctx.sample
    rules = [lambda: anomaly.anomaly_detection(ctx, settings.yes_no)]
    if s.is_anomalous:
        stats, t, placement, problem, areas = next(measured) if s.mask else (None, None, None, None, {})
        m = settings.margins
        if problem:
            skip("Defect Localization", problem)
            skip("Defect Description", problem)
        rules += [lambda: defect_type.defect_classification(ctx),
                  lambda: localization.defect_localization(ctx, stats, placement, settings.object_regions, m),
                  lambda: description.defect_description(ctx, stats, t, _extent(ctx, areas), m,
                                                         areas.get("tone_templates")),
                  lambda: analysis.defect_analysis(ctx)]
        names = ["Anomaly Detection", "Defect Classification", "Defect Localization", "Defect Description",
                 "Defect Analysis"]
    else:
        structure = objects.object_count if ctx.ck() and ctx.ck().count else objects.object_shape
        details = [objects.object_material, objects.object_color]
        details.sort(key=lambda f: rng_for(ctx.seed, ctx.key, f.__name__).random())
        rules += [lambda: objects.object_classification(ctx), lambda: objects.object_parts(ctx),
                  lambda: structure(ctx), lambda: _first_of(details, ctx)]
        names = ["Anomaly Detection", "Object Classification", "Object Structure", "Object Structure",
                 "Object Details"]
    out = []
    for name, rule in zip(names, rules):
        try:
            out.append(rule())
        except Skip as e:
            skip(name, str(e))
    return out


def _first_of(rules, ctx: Context) -> Draft:
    reasons = []
    for rule in rules:
        try:
            return rule(ctx)
        except Skip as e:
            reasons.append(str(e))
    raise Skip("; ".join(reasons))


def generate_questions(source: SourceSet, knowledge: Knowledge | Path | str | None = None,
                       settings: GenerateSettings | None = None, *, workers: int = 1) -> GenerateResult:
    """Questions for every sample of ``source``. ``workers`` > 1 reads masks/images in that many processes
    (the output is identical whatever the number)."""
    settings = settings or GenerateSettings()
    kn = resolve_knowledge(source, knowledge)
    categories = source.categories()
    textures = frozenset(s.category for s in source.samples
                         if getattr(lookup(kn, s.dataset, s.category), "kind", "") == "texture")
    measured = _measurements(source, settings, workers, textures)
    similar = _Similar(source, settings.similar_templates) if settings.similar == "builtin" else None
    result = GenerateResult(questions=QuestionSet(entries={}), settings=settings)
    memo: dict = {}
    drafted: dict[str, list[Draft]] = {}
    for s in source.samples:
        if s.image in drafted:
            raise DataError("the same image appears twice in the source", culprit=s.image)

        def skip(qtype: str, reason: str, key=s.image):
            result.skipped.append((key, qtype, reason))

        ctx = Context(sample=s, seed=settings.seed, knowledge=kn, categories=categories,
                      memo=memo)
        drafted[s.image] = _drafts(ctx, settings, measured, skip)
    if settings.balance:
        _balance(drafted, settings.seed, result)
    positions: dict[int, int] = {}
    for qtype in sorted({d.type for ds in drafted.values() for d in ds}):
        positions.update(balanced_positions([(k, d) for k, ds in drafted.items() for d in ds if d.type == qtype],
                                            settings.seed, settings.n_options))
    for s in source.samples:
        drafts = drafted[s.image]
        questions = [assemble(d, s.image, i, settings.seed, settings.n_options, positions.get(id(d)))
                     for i, d in enumerate(drafts)]
        pool = [p for p in source.normals.get(s.category, []) if p != s.image]
        randoms = random_templates(s, source.normals, settings)
        result.questions.entries[s.image] = ImageEntry(
            key=s.image, questions=questions, similar_templates=similar(s.image) if similar and pool else [],
            random_templates=randoms, mask_path=s.mask or "")
    for (qtype, reason), n in sorted(result.skip_summary().items()):
        log.info("skipped %d %s question(s): %s", n, qtype, reason)
    return result


def _balance(drafted: dict[str, list[Draft]], seed: int, result: GenerateResult) -> None:
    """Corpus-level balancing of Defect Localization distractors and Defect Description's varied attribute
    (balance.py); Description questions that cannot be balanced are dropped and logged as skipped."""
    def of_type(qtype):
        return [(k, d) for k, ds in drafted.items() for d in ds if d.type == qtype]

    while True:      # an object-relative question left out is asked in its grid form instead, then rebalanced
        dropped = balance.balance_localization(of_type("Defect Localization"), seed)
        swap = {k for k in dropped for d in drafted[k]
                if d.type == "Defect Localization" and (d.pool or {}).get("fallback")}
        if not swap:
            break
        for key in swap:
            drafted[key] = [d.pool["fallback"] if d.type == "Defect Localization" else d for d in drafted[key]]
    for key in sorted(dropped):
        drafted[key] = [d for d in drafted[key] if d.type != "Defect Localization"]
        result.skipped.append((key, "Defect Localization", "left out to keep its answer phrases balanced "
                               "over the set"))
    items = of_type("Defect Description")
    dropped = balance.balance_description(
        items, seed, description.redescribe)
    new = dict(items)
    for key, ds in drafted.items():
        if key in new:
            kept = [new[key] if d.type == "Defect Description" else d for d in ds]
            if key in dropped:
                kept = [d for d in kept if d.type != "Defect Description"]
                result.skipped.append((key, "Defect Description", "left out to keep its answer values balanced "
                                       "over the set"))
            drafted[key] = kept


def settings_dict(settings: GenerateSettings) -> dict:
    return asdict(settings)
