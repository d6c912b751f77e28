"""CPU and wall time of each step of `mmad-eval demo` (resource.getrusage of this process and its children).

    python bench/bench_demo.py CACHE_DIR OUT_DIR      # use fresh folders to include rendering the set
"""
import resource, time, sys
from pathlib import Path
def cpu():
    r=resource.getrusage(resource.RUSAGE_SELF); c=resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime+r.ru_stime+c.ru_utime+c.ru_stime
t0=cpu(); w0=time.time()
def mark(what):
    global t0,w0
    t=cpu(); print(f"{what:30s} cpu {t-t0:6.1f}s wall {time.time()-w0:6.1f}s", flush=True); t0=t; w0=time.time()
import mmad_eval.commands.demo as demo
from mmad_eval.run.engine import run_evaluation
from mmad_eval.run.ablation import run_ablation
from mmad_eval.settings import RunSettings, GenerationSettings, EnhancementSettings
from mmad_eval.report.data import assemble
from mmad_eval.report.html import write_report
from mmad_eval.parse.stage import load_parsed_runs
mark("imports")
cache=Path(sys.argv[1]); out=Path(sys.argv[2])
root,q=demo.prepare_data(cache,0,demo.DEFAULT_CATEGORIES,True); mark("data")
for m in ("random","expert"):
    run_evaluation(RunSettings(model=m), q, out, data_root=root, progress=False); mark(m)
run_evaluation(RunSettings(model="random", generation=GenerationSettings(answer_mode="likelihood")), q, out, name="random@likelihood", data_root=root, progress=False); mark("likelihood")
base = RunSettings(model="compare", enhancements=EnhancementSettings(knowledge=str(root / "knowledge.json")))
def run(*a, **k):
    r=run_evaluation(*a, **k); mark(k.get("name")); return r
run_ablation(base, q, out, data_root=root, progress=False, run=run)
runs=load_parsed_runs(out); mark("load")
write_report(assemble(runs, title="x"), out/"r.html"); mark("report")
