"""The report's agent section and trajectories, read from the HTML and driven in a real headless chromium."""
import html as _html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mmad_eval.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from report_synth import chromium_cmd  # noqa: E402

DRIVER = """<script>
(function () {
  function go() {
    function set(id, v) { var e = document.getElementById(id); e.value = v; e.dispatchEvent(new Event("change")); }
    set("f-model", "1"); set("f-subtask", "2");
    var out = {cards: document.querySelectorAll(".qcard").length, prompts: []};
    document.querySelectorAll("details.pdet").forEach(function (d) { d.open = true; d.dispatchEvent(new Event("toggle")); });
    document.querySelectorAll(".prompt").forEach(function (p) {
      out.prompts.push({text: p.textContent, roles: Array.prototype.map.call(p.querySelectorAll(".role"),
                        function (r) { return r.textContent; })});
    });
    document.body.setAttribute("data-drive", JSON.stringify(out));
  }
  function whenReady() { if (document.body.getAttribute("data-browser") === "ready") go(); else setTimeout(whenReady, 10); }
  setTimeout(whenReady, 0);
})();
</script>"""


@pytest.fixture(scope="module")
def report(synth_questions, tmp_path_factory):
    out = tmp_path_factory.mktemp("agent-report")
    base = ["run", "--questions", str(synth_questions), "--model", "scripted-agent", "--out", str(out), "--quiet",
            "--subtasks", "AD", "DL", "DC"]
    assert main([*base, "--name", "direct"]) == 0                  # the same model answering directly
    assert main([*base, "--name", "agent", "--agent", "tools=detector,zoom"]) == 0
    path = out / "report.html"
    assert main(["report", str(out), "--out", str(path)]) == 0
    return path


def test_agent_section_compares_with_the_direct_run(report):
    text = report.read_text()
    section = re.search(r'<section id="agent">(.*?)</section>', text, re.S).group(1)
    assert "Direct (direct) vs agent (agent)" in section and "detector calls / 100 q" in section
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr><td class="l">(direct|agent|difference)</td>(.*?)</tr>',
                                                         section, re.S)}
    cells = lambda row: re.findall(r"<td[^>]*>([-+]?[0-9.]+|–)", row)   # noqa: E731
    direct, agent, diff = cells(rows["direct"]), cells(rows["agent"]), cells(rows["difference"])
    # the detector answers AD and DL; DC is answered the same way by both (no tool)
    assert float(agent[0]) > float(direct[0]) and float(agent[2]) > float(direct[2])
    assert diff[1] == "+0.0" and agent[1] == direct[1]
    assert '<a href="#agent">Agent</a>' in text
    direct_auc, agent_auc = re.search(r"image-level AUROC: direct ([0-9.]+), agent ([0-9.]+)", section).groups()
    assert float(agent_auc) > float(direct_auc)             # the blind prior always says Yes: AUROC 50


def test_trajectories_are_shown_turn_by_turn_in_chromium(report, tmp_path):
    page = tmp_path / "driven.html"
    page.write_text(report.read_text().replace("</body>", DRIVER + "</body>"), encoding="utf-8")
    dom = subprocess.run(chromium_cmd(page, str(tmp_path / "profile"), "--virtual-time-budget=5000", "--dump-dom"),
                         capture_output=True, text=True, timeout=60).stdout
    got = json.loads(_html.unescape(re.search(r'data-drive="([^"]*)"', dom).group(1)))
    assert got["cards"] > 0 and got["prompts"]
    agent = [p for p in got["prompts"] if "tools offered" in p["text"]]
    assert agent and len(agent) == len(got["prompts"]) / 2           # each card: the direct run's and the agent's
    first = agent[0]
    assert first["roles"][:1] == ["user"] and "assistant" in first["roles"] and "tool" in first["roles"]
    assert "calls detector({})" in first["text"] and "detector: anomaly score" in first["text"]
    assert "tools offered: zoom, detector" in first["text"]


@pytest.mark.parametrize("n_calls, size", [(1, 2_000_000), (3000, 50)])
def test_the_browser_shows_a_runaway_reply_s_calls_in_bounded_text(n_calls, size):
    """Hostile output (megabytes of arguments, thousands of calls) is shown shortened, not copied whole into
    the report page."""
    from mmad_eval.report.browser import agent_texts

    msg = {"role": "assistant", "tool_calls": [{"id": f"c{i}", "name": "zoom", "arguments": "[" * size}
                                               for i in range(n_calls)]}
    texts = agent_texts(msg)
    assert 0 < sum(len(t) for t in texts) < 20_000 and texts[0].startswith("calls zoom([[[")
    assert str(n_calls) in texts[-1] or n_calls == 1
