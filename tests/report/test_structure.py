"""Structural checks of the rendered report: sections, escaping, no network, no leaks, data round trip."""
import json
from html.parser import HTMLParser

import pytest

from mmad_eval.report.browser import script_json
from mmad_eval.report.charts import bar_chart
from mmad_eval.report.published import published_rows
from mmad_eval.report.scrub import scrub, scrub_text
from report_synth import HOSTILE


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.tags, self.scripts, self.attrs = set(), [], {}, []
        self._script = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs.append((tag, a))
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "script":
            self._script = a.get("id", f"inline{len(self.scripts)}")
            self.scripts[self._script] = ""

    def handle_data(self, data):
        if self._script is not None:
            self.scripts[self._script] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


@pytest.fixture(scope="module")
def parsed(report_html):
    p = Collect()
    p.feed(report_html[2])
    return p


def test_every_section_is_present(parsed):
    for section in ("summary", "subtasks", "heatmaps", "ad", "detector", "calibration", "compare", "ablations",
                    "bias", "browser", "records"):
        assert section in parsed.ids
    assert parsed.tags.count("svg") >= 4          # bar, radar, legends


def test_self_contained_no_network(parsed, report_html):
    html = report_html[2]
    for tag, a in parsed.attrs:
        for key in ("src", "href"):
            v = a.get(key) or ""
            assert not v.startswith(("http:", "https:", "//")), (tag, v)
    assert "<link" not in html and "@import" not in html and "url(http" not in html


def test_model_text_is_escaped_and_only_our_scripts_exist(parsed, report_html):
    data, _, html = report_html
    for bad in HOSTILE:
        assert bad not in html
    assert len(parsed.scripts) == 4              # onerror hook, question data, thumbnails, browser code
    blob = json.loads(parsed.scripts["qb-data"])
    assert blob == json.loads(json.dumps(data.browser))
    assert any(HOSTILE[0] in s for s in blob["strings"]) and any(HOSTILE[1] in s for s in blob["strings"])
    assert "Demo &lt;b&gt;report&lt;/b&gt;" in html


def test_script_json_escapes_markup():
    text = script_json({"a": "</script><b>&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><b>&"}


def test_no_secret_or_home_path_leaks(report_html):
    html = report_html[2]
    assert "sk-secret-do-not-show" not in html
    assert "/home/alice" not in html
    assert "[redacted]" in html and "domain_knowledge.json" in html


def test_scrub_reduces_paths_and_redacts():
    rec = scrub({"data_root": "/home/bob/data/MMAD", "backend": {"api_key": "sk-1", "base_url": "http://x/v1"},
                 "err": "cannot read /home/bob/data/MMAD/a/b.png: gone", "n": 3, "k": ["C:\\Users\\bob\\x.json"]})
    assert rec == {"data_root": "MMAD", "backend": {"api_key": "[redacted]", "base_url": "http://x/v1"},
                   "err": "cannot read .../b.png: gone", "n": 3, "k": ["x.json"]}
    assert scrub_text("relative/path.png") == "relative/path.png"


def test_headline_numbers_come_from_the_score_tables(report_html):
    data, _, html = report_html
    for m in data.models:
        assert f"{m.compatible.overall['Average']:.2f}" in html
        assert f"{m.strict.overall['Average']:.2f}" in html
        lo, hi = m.compatible.ci["Average"]
        assert lo <= m.compatible.overall["Average"] <= hi


def test_published_rows_are_labelled_and_consistent(report_html):
    html = report_html[2]
    assert "published, not re-measured" in html and "Qwen2-VL-72B-Instruct" in html
    rows = published_rows()
    full = [r for r in rows if all(v is not None for v in r.scores.values())]
    assert len(full) == 16
    for r in full:   # the transcribed Average is the mean of the seven columns
        cols = [v for k, v in r.scores.items() if k != "Average"]
        assert abs(sum(cols) / 7 - r.scores["Average"]) < 0.02, r.model


def test_published_rows_absent_unless_asked(runs, tmp_path):
    from mmad_eval.report.data import assemble
    from mmad_eval.report.html import render
    from mmad_eval.report.scoring import PackageScoring

    html = render(assemble(runs[:2], scoring=PackageScoring(n_boot=50), images=False))
    assert "published, not re-measured" not in html
    assert 'id="ablations"' not in html          # no enhancement pair among these two


def test_ablation_is_the_knowledge_run_against_its_plain_twin(report_html):
    data = report_html[0]
    (ab,) = data.ablations
    assert (ab.base, ab.run) == ("qwen2.5-vl-7b", "qwen2.5-vl-7b+knowledge")
    assert list(ab.changed) == ["knowledge"] and ab.changed["knowledge"][0] is None
    by = {m.name: m for m in data.models}
    for col in ("Anomaly Detection", "Average"):     # the strict score, as every other table on the page
        assert ab.deltas[col] == pytest.approx(by[ab.run].strict.overall[col] - by[ab.base].strict.overall[col])
    assert ab.compatible_delta == pytest.approx(by[ab.run].compatible.overall["Average"]
                                                - by[ab.base].compatible.overall["Average"])


def test_each_image_is_embedded_once(runs, report_html):
    data, _, html = report_html
    shas = {p["image"] for r in runs for c in r.prompts.values() for m in c for p in m["parts"] if "image" in p}
    assert len(data.thumbs.ids) == len(shas) == len(data.thumbs.uris)
    for uri in data.thumbs.uris:
        assert uri.startswith("data:image/webp;base64,") and html.count(uri) == 1


def test_comparisons_cover_each_pair_with_p_values(report_html):
    data = report_html[0]
    assert len(data.comparisons) == 6            # 4 runs
    for c in data.comparisons:
        avg = next(r for r in c.rows if r.column == "Average")
        assert avg.n > 0 and avg.p_value is not None and 0 <= avg.p_value <= 1
        assert c.n_disagree >= len(c.disagreements)


def test_chart_labels_are_escaped():
    svg = str(bar_chart(["AD"], [("<script>x</script>", {"AD": 50.0})]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_select_runs_names_unknown_runs(runs):
    from mmad_eval.commands.report import select_runs
    from mmad_eval.errors import ConfigError

    assert [r.name for r in select_runs(runs, "gpt-4o-mini,internvl2-8b")] == ["gpt-4o-mini", "internvl2-8b"]
    with pytest.raises(ConfigError, match="nope"):
        select_runs(runs, "gpt-4o-mini,nope")


def test_scrub_redacts_tokens_named_like_secrets():
    rec = scrub({"engine": {"hf_token": "hf_abc", "auth_token": "t1", "max_tokens": 128, "pad_token": "<pad>"}})
    assert rec == {"engine": {"hf_token": "[redacted]", "auth_token": "[redacted]", "max_tokens": 128,
                              "pad_token": "<pad>"}}


def test_scrub_text_redacts_echoed_api_keys():
    """Stores written before keys were redacted at the source may hold a server's echo of the key."""
    text = scrub_text("HTTP 401: Incorrect API key provided: sk-proj-AbCd*************wxyz. See docs.")
    assert "sk-proj" not in text and "wxyz" not in text and text.startswith("HTTP 401: Incorrect API key")
    assert scrub_text("risk-free task-list") == "risk-free task-list"


def test_detector_and_calibration_sections(report_html):
    data, _, html = report_html
    m = {x.name: x for x in data.models}
    assert m["internvl2-8b"].detection.source == "letter probability" and m["internvl2-8b"].calibration.n > 0
    assert m["qwen2.5-vl-7b"].detection.source == "hard answer" and m["qwen2.5-vl-7b"].calibration is None
    det = html[html.index('<section id="detector">'):html.index('<section id="calibration">')]
    assert det.count("<path") == len(data.models)                  # one ROC curve per run
    cal = html[html.index('<section id="calibration">'):]
    cal = cal[:cal.index("</section>")]
    assert "internvl2-8b" in cal and "qwen2.5-vl-7b" not in cal    # only runs with confidences
    # the question browser shows each answer's letter probabilities beside the rule
    assert any(" · A 0." in s for s in data.browser["strings"])
