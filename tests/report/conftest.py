import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from report_synth import synthetic_runs  # noqa: E402


@pytest.fixture(scope="session")
def runs():
    return synthetic_runs(images_per_category=4)


@pytest.fixture(scope="session")
def report_html(runs, tmp_path_factory):
    from mmad_eval.report.data import assemble
    from mmad_eval.report.html import write_report
    from mmad_eval.report.scoring import PackageScoring

    data = assemble(runs, title="Demo <b>report</b>", published=True, scoring=PackageScoring(n_boot=200))
    path = write_report(data, tmp_path_factory.mktemp("report") / "report.html")
    return data, path, path.read_text(encoding="utf-8")
