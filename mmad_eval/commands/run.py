"""Run (or resume) an evaluation: ask a model every question of a question set, store answers as they land."""
from __future__ import annotations

HELP = "Ask a model the questions of a question set (resumable; reruns ask only what is missing)"


def add_arguments(p) -> None:
    from ..settings import (ANSWER_MODES, EXPERTS, HINT_STYLES, OPTION_ORDERS, OWN_PRESET, QUESTION_MODES,
                            REFERENCE_SOURCES, RESIZES, TOOL_CALL_FORMATS)

    p.add_argument("--questions", required=True, help="question file (MMAD's mmad.json, or our JSONL)")
    p.add_argument("--model", required=True, help="preset name (see `mmad-eval models`) or backend:model")
    p.add_argument("--out", required=True, help="output directory (holds mmad-eval.sqlite)")
    p.add_argument("--name", help="run name inside the output directory (default: the model name)")
    p.add_argument("--data-root", help="folder the question file's image paths are relative to "
                                       "(default: the question file's folder)")
    g = p.add_argument_group("protocol (defaults: the --protocol preset's, else ours)")
    g.add_argument("--protocol", default=OWN_PRESET, metavar="NAME",
                   help="protocol preset: an official MMAD script (gpt4o, gpt4o-mini, gpt4v, gemini, qwen2.5-vl, "
                        "internvl, llava, minicpm-v, internlm-xcomposer, qwen-vl-chat, cambrian, sphinx, "
                        "anomalygpt) or ours, mmad-eval (default); see `mmad-eval protocols`. Flags below "
                        "override it and the run records which")
    g.add_argument("--prompt", help="prompt template name (prompts/<name>.j2; default mmad)")
    g.add_argument("--prompt-dir", help="folder of prompt templates (default: the package's prompts/)")
    g.add_argument("--grounding-prompt", help="template of Defect Grounding questions (default grounding: "
                   "prompts/grounding.j2; docs/grounding.md)")
    g.add_argument("--templates", dest="references", choices=REFERENCE_SOURCES,
                   help="normal reference images to show (MMAD's table: random)")
    g.add_argument("--shots", type=int, help="number of normal reference images (0 = none; default 1)")
    g.add_argument("--question-mode", choices=QUESTION_MODES,
                   help="independent: one question per call (default); cumulative: questions 1..i asked together, "
                        "last answer kept (MMAD's GPT-4o script); per-image: all questions of an image in one call; "
                        "ad-then-rest: Anomaly Detection alone, then the rest together (MMAD's Gemini script)")
    g.add_argument("--option-order", choices=OPTION_ORDERS)
    g.add_argument("--option-seed", type=int, help="seed of the option shuffle (with the question id; default 0)")
    g.add_argument("--circular", action="store_true", default=None, help="ask every rotation of the options")
    g.add_argument("--answer-format", choices=("options", "open"),
                   help="options: multiple choice (MMAD, default); open: the question without options, answered in "
                        "a sentence and graded by `mmad-eval judge` (prompt mmad_open unless --prompt is given)")
    g.add_argument("--perturb", action="append", metavar="KIND=VALUE[,...]",
                   help="robustness: perturb the query image, e.g. blur=2, motion=9, lowlight=2, noise=8, jpeg=30 "
                        "(comma-separated, applied in order; `ablate --perturb A --perturb B` runs one arm each)")
    g.add_argument("--perturb-seed", type=int, help="seed of the random perturbations (noise, motion angle; default 0)")
    g.add_argument("--perturb-references", action="store_true", default=None,
                   help="perturb the normal reference images too (default: the query image only)")
    g = p.add_argument_group("images")
    g.add_argument("--max-side", type=int, help="the resize box (MMAD's API scripts: 512)")
    g.add_argument("--resize", choices=RESIZES, help="shrink (default: shrink to fit --max-side), fit-area (up or "
                   "down, area interpolation), qwen-smart (Qwen's max_pixels), square (InternVL's 448 tile)")
    g.add_argument("--image-format", choices=("png", "jpeg", "source"),
                   help="encoding of images sent to API models (default png); source: each in its own format, "
                        "an unchanged JPEG or PNG sent as its original bytes")
    g.add_argument("--jpeg-quality", type=int, help="default 90 (MMAD's scripts: OpenCV's 95)")
    g.add_argument("--detail", choices=("low", "high", "auto"), help="OpenAI image detail (default auto)")
    g = p.add_argument_group("generation (defaults: the protocol preset's, the model preset's, else greedy, "
                             "128 tokens, seed 0)")
    g.add_argument("--temperature", type=float)
    g.add_argument("--max-tokens", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--draw", type=int, metavar="K",
                   help="repeat index of a sampling model (default 0): draw K is asked anew under its own answer "
                        "key (the seed sent is seed + K), so runs with --draw 0, 1, 2 ... measure run-to-run spread")
    g.add_argument("--top-p", type=float)
    g.add_argument("--logprobs", action="store_true", default=None, help="ask for option-letter log-probabilities")
    g.add_argument("--answer-mode", choices=ANSWER_MODES,
                   help="generate: parse the reply's letter (MMAD); likelihood: the most probable shown option "
                        "letter from the backend's own probabilities (no parse failures)")
    g.add_argument("--reasoning-effort", help="sent to APIs that take it (e.g. low, medium, high)")
    g = p.add_argument_group("enhancements")
    g.add_argument("--knowledge", nargs="?", const="", metavar="FILE",
                   help="knowledge file (ours or MMAD's domain_knowledge.json); without FILE: the one the question "
                        "file records (generate writes it), else knowledge.json in the data root")
    g.add_argument("--expert", type=expert_kind, default="none", metavar="|".join(EXPERTS) + "|maps:DIR",
                   help="expert hint source; maps:DIR reads your detector's anomaly maps and scores")
    g.add_argument("--hint", choices=HINT_STYLES, default="boxes", help="how the expert hint is drawn")
    g.add_argument("--embedder", default="builtin", help="image embedding for --templates retrieved")
    g = p.add_argument_group("agent mode: the model calls inspection tools before it answers (docs/agent.md)")
    g.add_argument("--agent", type=agent_tools, metavar="TOOLS",
                   help="tools the model may call, comma-separated, e.g. tools=zoom,detector,references,compare")
    g.add_argument("--max-turns", type=int, help="replies per question at most (default 5); the last is the answer")
    g.add_argument("--max-tool-calls", type=int, metavar="N", help="tool calls run per reply at most (default 8, "
                   "1-64); later calls of the reply are answered with an error")
    g.add_argument("--agent-detector", type=expert_kind, metavar="builtin|oracle|maps:DIR",
                   help="the expert behind the detector tool (default builtin)")
    g.add_argument("--tool-call-format", choices=TOOL_CALL_FORMATS,
                   help="in-process models (hf:, vllm:): how the model writes tool calls in its text; hermes: "
                        "<tool_call>{...}</tool_call> (Qwen2.5/Qwen3), json: the reply is the call (a backend "
                        "option, part of the answer keys; a preset may name it)")
    g = p.add_argument_group("backend transport (not part of answer keys)")
    g.add_argument("--concurrency", type=int, help="requests in flight (API backends)")
    g.add_argument("--base-url", action="append", help="server URL; repeat for round robin over replicas")
    g.add_argument("--api-key-env", help="environment variable holding the API key (never written anywhere)")
    g.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE",
                   help="extra backend option (VALUE parsed as JSON when it can be)")
    g = p.add_argument_group("Batch API (OpenAI backend: about half the price, answers within 24 h)")
    g.add_argument("--batch-api", action="store_true",
                   help="send pending requests as Batch API jobs; rerun (or `mmad-eval batch status OUT`) to "
                        "poll them and store the answers; exit code 75 while batches are still running")
    g.add_argument("--wait", action="store_true", help="with --batch-api: poll until every batch has ended")
    g.add_argument("--poll-s", type=float, default=60.0, help="seconds between polls with --wait (default 60)")
    g.add_argument("--wait-max-s", type=float, default=25 * 3600.0,
                   help="with --wait: stop waiting after this many seconds (default 90000 = 25 h; open batches "
                        "keep running, rerun to collect them)")
    g.add_argument("--batch-max-requests", type=int, default=50_000, help="requests per batch file (OpenAI: 50000)")
    g.add_argument("--batch-max-bytes", type=int, default=200 * 1024 * 1024,
                   help="bytes per batch file (OpenAI: 200 MB)")
    g = p.add_argument_group("what to ask")
    g.add_argument("--retry-failed", action="store_true", help="ask again the requests that failed before")
    g.add_argument("--limit", type=int, help="only N of the selected questions: a seeded sample stratified by "
                   "subtask, dataset, category and normal/defective image (see --sample)")
    g.add_argument("--sample", choices=("stratified", "first"), default="stratified",
                   help="how --limit picks: stratified (default, seeded by --sample-seed) or first (file order)")
    g.add_argument("--sample-seed", type=int, default=0, help="seed of the stratified sample (default 0)")
    g.add_argument("--subtasks", nargs="+", default=[], help="e.g. AD DC or 'Anomaly Detection' (DG: Defect "
                   "Grounding)")
    g.add_argument("--datasets", nargs="+", default=[], help="e.g. DS-MVTec VisA")
    g.add_argument("--categories", nargs="+", default=[], help="e.g. bottle candle")
    g.add_argument("--shard", help="i/N: this process answers shard i (0-based) of N, split by image")
    g.add_argument("--subset", help="a paper's named subset (triad, no-visa; see `mmad-eval protocols --subsets`), "
                                    "recorded with the run and shown in reports")
    g.add_argument("--subset-file", help="only the image keys or question ids (key#index) listed in this file "
                                         "(lines or a JSON list); recorded by name and SHA-256")
    g = p.add_argument_group("Ray: data parallel over a cluster (pip install 'mmad-eval[ray]')")
    g.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="answer on Ray workers; ADDRESS of a running cluster (e.g. ray://head:10001), "
                        "or none to start a local Ray instance")
    g.add_argument("--workers", type=int, help="Ray workers, each holding one copy of the model (default 2)")
    g.add_argument("--gpus-per-worker", type=float,
                   help="GPUs per Ray worker (default: what one copy of the backend uses: vLLM's tensor x "
                        "pipeline parallel size, 1 for transformers unless device=cpu, 0 for API backends)")
    p.add_argument("--errata", metavar="FILE", help="errata file (or 'mmad-reported'): the questions are asked as "
                   "in the question file; the run record names the errata file and its SHA-256, and the score "
                   "with errata is printed beside the official one")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def expert_kind(value: str) -> str:
    """--expert: a known kind or maps:DIR (the folder must exist; stored as given)."""
    import argparse
    from pathlib import Path

    from ..settings import EXPERTS, MAPS_PREFIX

    if value in EXPERTS:
        return value
    folder = value[len(MAPS_PREFIX):] if value.startswith(MAPS_PREFIX) else ""
    if folder:
        if not Path(folder).is_dir():
            raise argparse.ArgumentTypeError(f"maps folder not found: {folder}")
        return value
    raise argparse.ArgumentTypeError(f"choose one of {', '.join(EXPERTS)} or maps:DIR")


def agent_tools(value: str) -> tuple[str, ...]:
    """--agent: ``tools=zoom,detector`` or ``zoom,detector``."""
    import argparse

    from ..settings import AGENT_TOOLS

    names = tuple(t.strip() for t in value.removeprefix("tools=").split(",") if t.strip())
    unknown = [t for t in names if t not in AGENT_TOOLS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose tools from {', '.join(AGENT_TOOLS)} (comma-separated)")
    return names


def agent_settings(args):
    """AgentSettings from --agent, --max-turns and --agent-detector (off without --agent)."""
    from ..errors import ConfigError
    from ..settings import AgentSettings

    if not getattr(args, "agent", None):
        given = [flag for flag, value in (("--max-turns", getattr(args, "max_turns", None)),
                                          ("--max-tool-calls", getattr(args, "max_tool_calls", None)),
                                          ("--agent-detector", getattr(args, "agent_detector", None)),
                                          ("--tool-call-format", getattr(args, "tool_call_format", None)))
                 if value is not None]
        if given:
            raise ConfigError("--max-turns, --max-tool-calls, --agent-detector and --tool-call-format need "
                              "--agent", culprit=given[0])
        return AgentSettings()
    if getattr(args, "ray", None) is not None:
        raise ConfigError("agent mode runs its conversations turn by turn in this process: drop --ray",
                          culprit="--ray")
    calls = getattr(args, "max_tool_calls", None)
    return AgentSettings(tools=args.agent, max_turns=5 if args.max_turns is None else args.max_turns,
                         detector=args.agent_detector or "builtin", max_tool_calls=8 if calls is None else calls)


def backend_options(args) -> dict:
    import json
    import os

    from ..errors import ConfigError
    from ..run.protocol_presets import get_preset

    opts: dict = dict(get_preset(args.protocol).backend_options)
    for item in args.backend_option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("backend options look like key=value", culprit=item)
        try:
            opts[key] = json.loads(value)
        except json.JSONDecodeError:
            opts[key] = value
    if getattr(args, "tool_call_format", None):
        opts["tool_call_format"] = args.tool_call_format
    if args.concurrency is not None:
        opts["concurrency"] = args.concurrency
    if args.base_url:
        opts["base_url"] = args.base_url[0] if len(args.base_url) == 1 else list(args.base_url)
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise ConfigError("environment variable is not set or empty", culprit=args.api_key_env)
        opts["api_key"] = key
        opts["api_key_env"] = args.api_key_env
    return opts


# command-line flag -> (settings section, field)
FLAGS = {"prompt": ("protocol", "prompt"), "grounding_prompt": ("protocol", "grounding_prompt"),
         "references": ("protocol", "references"), "shots": ("protocol", "shots"),
         "question_mode": ("protocol", "question_mode"), "option_order": ("protocol", "option_order"),
         "option_seed": ("protocol", "option_seed"), "circular": ("protocol", "circular"),
         "answer_format": ("protocol", "answer_format"), "perturb": ("protocol", "perturb"), "perturb_seed": ("protocol", "perturb_seed"),
         "perturb_references": ("protocol", "perturb_references"),
         "max_side": ("images", "max_side"), "resize": ("images", "resize"), "image_format": ("images", "format"),
         "jpeg_quality": ("images", "jpeg_quality"), "detail": ("images", "detail"),
         "temperature": ("generation", "temperature"), "max_tokens": ("generation", "max_tokens"),
         "seed": ("generation", "seed"), "top_p": ("generation", "top_p"), "logprobs": ("generation", "logprobs"),
         "answer_mode": ("generation", "answer_mode"), "reasoning_effort": ("generation", "reasoning_effort"),
         "draw": ("generation", "draw")}


def settings_from_args(args):
    """Settings: dataclass defaults < the model preset's generation < the protocol preset < explicit flags."""
    from dataclasses import fields

    from ..backends.registry import resolve_model
    from ..run.protocol_presets import get_preset
    from ..settings import EnhancementSettings, GenerationSettings, ImageSettings, ProtocolSettings, RunSettings

    preset = get_preset(args.protocol)
    spec = resolve_model(args.model)
    known = {f.name for f in fields(GenerationSettings)}
    sections = {"generation": {k: v for k, v in spec.generation.items() if k in known},
                "images": {}, "protocol": {}}
    for section in sections:
        sections[section].update(getattr(preset, section))
    fixed = preset.settings()
    if getattr(args, "answer_format", None) == "open" and args.prompt is None:
        sections["protocol"]["prompt"] = "mmad_open"        # the question without options (prompts/mmad_open.j2)
    overrides = []
    for flag, (section, name) in FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if flag == "perturb":                       # repeated --perturb: one list, applied in order
            value = ",".join(value)
        if f"{section}.{name}" in fixed and fixed[f"{section}.{name}"] != value:
            overrides.append(f"{section}.{name}")
        sections[section][name] = value
    return RunSettings(
        model=args.model, generation=GenerationSettings(**sections["generation"]),
        images=ImageSettings(**sections["images"]), protocol=ProtocolSettings(**sections["protocol"]),
        enhancements=EnhancementSettings(knowledge=args.knowledge, expert=args.expert, hint=args.hint,
                                         embedder=args.embedder),
        preset=preset.name, overrides=tuple(overrides), agent=agent_settings(args))


def slice_from_args(args):
    from ..run.slices import Slice, parse_shard

    from ..errors import ConfigError
    from ..run.subsets import named_subset, subset_from_file

    if getattr(args, "subset", None) and getattr(args, "subset_file", None):
        raise ConfigError("choose --subset or --subset-file, not both", culprit="--subset-file")
    subset = (named_subset(args.subset) if getattr(args, "subset", None)
              else subset_from_file(args.subset_file) if getattr(args, "subset_file", None) else None)
    return Slice(subset=subset, limit=args.limit, subtasks=tuple(args.subtasks), datasets=tuple(args.datasets),
                 categories=tuple(args.categories), shard=parse_shard(args.shard) if args.shard else None,
                 sample=getattr(args, "sample", "stratified"), sample_seed=getattr(args, "sample_seed", 0))


def ray_factory(args):
    """A backend factory that wraps the model's backend in a Ray worker pool (None without ``--ray``)."""
    from ..errors import ConfigError

    if args.ray is None:
        if args.workers is not None or args.gpus_per_worker is not None:
            raise ConfigError("--workers and --gpus-per-worker need --ray", culprit="--workers")
        return None
    from ..backends.ray_pool import RayOptions, RayPoolBackend
    from ..backends.registry import backend_class, resolve_model

    spec = resolve_model(args.model)
    options = RayOptions(address=None if args.ray == "local" else args.ray,
                         workers=args.workers if args.workers is not None else 2,
                         gpus_per_worker=args.gpus_per_worker)

    def build(model, generation, images, context=None, **backend_opts):
        inner = backend_class(spec.backend)(model, generation, images, context=context, **backend_opts)
        return RayPoolBackend(inner, options)

    return build


def batch_options(args):
    """BatchOptions for --batch-api, else None."""
    from ..backends.openai_batch import BatchLimits
    from ..errors import ConfigError
    from ..run.batch_mode import BatchOptions

    if not args.batch_api:
        if args.wait:
            raise ConfigError("--wait only applies with --batch-api", culprit="--wait")
        return None
    if args.ray is not None:
        raise ConfigError("the Batch API answers on the provider's side: drop --ray", culprit="--batch-api")
    if args.batch_max_requests < 1 or args.batch_max_bytes < 1 or args.poll_s <= 0 or args.wait_max_s <= 0:
        raise ConfigError("batch limits, --poll-s and --wait-max-s must be positive",
                          culprit="--batch-max-*/--poll-s/--wait-max-s")
    return BatchOptions(wait=args.wait, poll_s=args.poll_s, max_wait_s=args.wait_max_s,
                        limits=BatchLimits(args.batch_max_requests, args.batch_max_bytes))


def recorded_knowledge_of(args):
    """The knowledge file the question file records, else knowledge.json in the data root (one clear error
    when there is none)."""
    from pathlib import Path

    from ..errors import ConfigError
    from ..run.plan import load_questions, recorded_knowledge

    found = recorded_knowledge(load_questions(Path(args.questions)), Path(args.questions),
                               Path(args.data_root) if args.data_root else None)
    if found is None:
        raise ConfigError("--knowledge without a file: the question file records no knowledge file and the data "
                          "root has no knowledge.json; give the file", culprit=args.questions)
    return found


def main(args) -> int:
    if args.ray == "local" and not args.batch_api:    # a local Ray instance that dies ends the run with one line
        from ..run.supervise import run_supervised

        return run_supervised(lambda: evaluate(args))
    return evaluate(args)


def evaluate(args) -> int:
    from pathlib import Path

    from ..run.engine import plural, run_evaluation

    if args.knowledge == "":                            # --knowledge alone: found as audit finds it
        args.knowledge = str(recorded_knowledge_of(args))
    errata = None
    if args.errata:
        from ..errata import resolve_errata

        errata = resolve_errata(args.errata)            # a bad errata file fails before any request
    summary = run_evaluation(settings_from_args(args), Path(args.questions), Path(args.out), name=args.name,
                             data_root=args.data_root, slice=slice_from_args(args),
                             backend_options=backend_options(args), backend_factory=ray_factory(args),
                             retry_failed=args.retry_failed, prompt_dir=args.prompt_dir, progress=not args.quiet,
                             batch=batch_options(args))
    print(summary.line())
    settings = summary.record.get("settings") or {}
    if settings.get("preset"):
        over = settings.get("overrides") or []
        print(f"protocol preset {settings['preset']}" + (f"; overridden by flags: {', '.join(over)}" if over else ""))
    known = (summary.record.get("questions") or {}).get("known_as")
    subset = ((summary.record.get("slice") or {}).get("subset") or {}).get("name")
    if known or subset:
        print("questions: " + " · ".join(x for x in (known, subset and f"subset {subset}") if x))
    if summary.batch and summary.batch.jobs:
        from ..run.batch_mode import job_table

        print("\n".join(job_table(summary.batch.jobs)))
    stats = (summary.record.get("last_invocation") or {}).get("backend_stats") or {}
    if stats.get("token_slots"):
        print(f"batches: {stats['batches']}, padding {100 * stats['padding_fraction']:.1f}% of token slots "
              f"(grouped by {stats['grouped_by']})")
    enh = summary.record.get("enhancements") or {}
    if enh.get("queries_with_fewer_references"):
        shown = (settings.get("protocol") or {})
        n = enh["queries_with_fewer_references"]
        print(f"note: {plural(n, 'query image')} {'has' if n == 1 else 'have'} fewer than {shown.get('shots', 1)} "
              f"'{shown.get('references', 'random')}' reference images in the question file; "
              f"{'it was' if n == 1 else 'they were'} shown the ones there are")
    if enh.get("missing_knowledge"):
        print(f"note: no domain knowledge for {', '.join(enh['missing_knowledge'])}")
    ray = (summary.record.get("last_invocation") or {}).get("ray")
    if ray:
        again = (f", {plural(len(ray['retries']), 'shard')} given again after a worker was lost"
                 if ray["retries"] else "")
        print(f"ray: {plural(len(ray['workers']), 'worker')} started{again}")
    print(f"store: {Path(args.out) / 'mmad-eval.sqlite'}  ({summary.elapsed_s:.1f} s)")
    for note in summary.batch.notes if summary.batch else ():
        print(f"note: {note}")
    if errata is not None:
        record_errata(Path(args.out), summary.record["name"], errata)
    if summary.batch and summary.batch.waiting:
        return 75            # EX_TEMPFAIL: batches still running, rerun later
    held = summary.batch.held if summary.batch else 0      # returned unrun too often: not answered
    return 1 if summary.failed or summary.unanswered or held else 0


def record_errata(out, name: str, errata) -> None:
    """Name the errata file (and its SHA-256) in the run record; print both scores side by side."""
    from ..parse.stage import load_parsed_run
    from ..run.store import Store
    from ..score.with_errata import errata_reference, errata_summary

    with Store(out) as store:
        record = store.run_record(name) or {}
        record["errata"] = errata_reference(errata)
        store.put_run(name, record)
    text, _ = errata_summary(load_parsed_run(out, name).answers, errata)
    print(text)
