"""Write a self-contained HTML report comparing the runs stored in one or more output directories."""
from __future__ import annotations

HELP = "Write a self-contained HTML report (scores, charts, question browser) for stored runs"


def add_arguments(p) -> None:
    p.add_argument("out_dirs", nargs="+", metavar="OUT_DIR", help="run output directories (stores)")
    p.add_argument("--runs", default=None, help="comma-separated run names to include, in this order")
    p.add_argument("--out", default=None, help="HTML file to write (default: reports/<first run>.html)")
    p.add_argument("--title", default=None, help="report title")
    p.add_argument("--published", action="store_true",
                   help="add the published MMAD results, labelled 'published, not re-measured'")
    p.add_argument("--thumb-size", type=int, default=160, help="thumbnail size in pixels (default 160)")
    p.add_argument("--image-budget-mb", type=float, default=24.0,
                   help="total size of embedded thumbnails; images beyond it are left out (default 24)")
    p.add_argument("--no-images", action="store_true", help="leave all images out of the question browser")
    p.add_argument("--human", metavar="SCORES", help="add the human row: the JSON written by "
                   "'mmad-eval audit QUESTIONS --human ANSWERS... --json SCORES'")
    p.add_argument("--errata", metavar="FILE", help="add the score with these errata applied beside the official "
                   "one (errata file, or 'mmad-reported')")


def select_runs(runs: list, names: str | None) -> list:
    """Keep the runs named in ``names`` (comma-separated), in that order; all runs when None."""
    from ..errors import ConfigError

    if not names:
        return runs
    by_name = {r.name: r for r in runs}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ConfigError(f"no such run (have: {', '.join(sorted(by_name)) or 'none'})",
                          culprit=", ".join(unknown))
    return [by_name[n] for n in wanted]


def main(args) -> int:
    import re
    from pathlib import Path

    from ..errors import ConfigError, DataError
    from ..report.data import assemble
    from ..report.html import write_report
    from ..report.scrub import display_path
    from ..report.thumbs import ThumbSettings
    from ..parse.stage import load_parsed_runs

    runs = []
    for d in args.out_dirs:
        if not Path(d).is_dir():
            raise DataError("not a directory", culprit=d)
        runs.extend(load_parsed_runs(Path(d)))
    runs = select_runs(runs, args.runs)
    if not runs:
        raise ConfigError("no runs found", culprit=", ".join(args.out_dirs))
    if args.thumb_size < 16:
        raise ConfigError("must be at least 16", culprit="--thumb-size")
    out = Path(args.out or Path("reports") / (re.sub(r"[^\w.-]+", "_", runs[0].name) + ".html"))
    errata = None
    if args.errata:
        from ..errata import resolve_errata

        errata = resolve_errata(args.errata)
    data = assemble(runs, title=args.title, published=args.published, images=not args.no_images,
                    thumbs=ThumbSettings(size=args.thumb_size, budget_mb=args.image_budget_mb), errata=errata)
    if args.human:
        data.human = [human_row(Path(args.human))]
    write_report(data, out)
    size = out.stat().st_size / 1e6
    print(f"wrote {display_path(out)} ({size:.1f} MB, {len(runs)} runs, "
          f"{len(data.browser['questions']):,} questions)")
    print(data.headline)
    return 0


def human_row(path):
    """The pooled human row of a scores file (``audit --human ... --json``) as a report table row."""
    from ..errors import DataError
    from ..report.published import PublishedRow

    from ..inputfile import parse_json, read_input

    data = parse_json(read_input(path, "human scores file"), str(path))
    try:
        human, agree = data["human"], data["agreement"]
        scores = {s: c["accuracy"] for s, c in human["subtasks"].items()}
        n = sum(c["n"] for c in human["subtasks"].values())
    except (KeyError, TypeError, AttributeError) as e:
        raise DataError(f"not a human scores file (write one with 'mmad-eval audit Q --human ANSWERS... --json "
                        f"FILE'): {e}", culprit=str(path)) from None
    raters, kappa = human.get("raters", "?"), agree.get("fleiss_kappa")
    source = (f"{raters} rater(s), {n} answers on a rating sheet of this set; 95% Wilson CIs in the scores "
              f"file" + (f"; Fleiss' kappa {kappa}" if kappa is not None else ""))
    return PublishedRow(f"human ({raters} raters)", {**scores, "Average": human.get("Average")}, source)
