"""Command-line entry points used by the Makefile and by readers re-running the study.

``python -m helpers prepare-model``          convert the embedded default model once
``python -m helpers run CONFIG``             run every stage of a study with papermill (skips finished runs);
                                             ``--upto RUN`` with what it needs, ``--study``/``--set`` a variant
``python -m helpers status CONFIG``          list done / pending / stale / failed runs
``python -m helpers build-book CONFIG``      assemble the executed notebooks into the HTML book
``python -m helpers snapshot CONFIG``        copy the executed study into ``snapshots/<study>/`` (``make read``)
``python -m helpers plan CONFIG``            generations, tokens, GPU-hours and API cost before running
``python -m helpers benchmark``              measure generation throughput on this machine
``python -m helpers benchmark-finetune``     padding share of the demo's training batches, step time by sampling
``python -m helpers samples FOLDER...``      the rule scorer against the authors' labelled sample outputs
``python -m helpers prompts --task T``       every prompt variant of a task's items, as sent
``python -m helpers serve``                  a local OpenAI-compatible server for the judge and the rewriter
``python -m helpers exercise N``             write an exercise's config and run what it needs (book/teaching.md)
``python -m helpers check-exercise N``       grade an exercise's rerun against the committed snapshot
"""

from __future__ import annotations

import argparse
import json
import sys

import yaml

from helpers.storage import CorruptFileError
from helpers.validation import ParameterError


def _prepare_model(args: argparse.Namespace) -> int:
    from helpers.models import prepare_embedded_model

    print(f"Embedded default model ready in {prepare_embedded_model(force=args.force)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from helpers.study.config import load_config
    from helpers.study.runner import execute_study

    config = load_config(args.config, study=args.study, settings=args.set or ())
    only = set(args.only) if args.only else None
    if args.upto:
        from helpers.study.runner import plan_runs, with_upstream

        only = (only or set()) | with_upstream(plan_runs(config), set(args.upto))
    selection = {"only": only, "force": set(args.force) if args.force else None}
    if config.executor == "ray":
        from helpers.study.ray_executor import execute_study_on_ray

        outcome = execute_study_on_ray(config, address=config.ray_address, **selection)
    else:
        outcome = execute_study(config, **selection)
    failed = sorted(name for name, result in outcome.items() if result in ("failed", "blocked"))
    if failed:
        print(f"Runs not completed: {', '.join(failed)} (see `python -m helpers status {args.config}`)")
    return 1 if failed else 0


def _status(args: argparse.Namespace) -> int:
    from helpers.study.config import load_config
    from helpers.study.runner import run_status
    from helpers.study.snapshot import read_stamp, snapshot_dir, stale_in_snapshot

    config = load_config(args.config)
    rows = run_status(config)
    for run, status, state in rows:
        detail = f"{state.get('seconds', 0):.0f} s" if status == "done" else (state.get("error") or "")
        print(f"{status:8} {run.name:45} {detail}")
    counts = {
        s: sum(1 for _, status, _ in rows if status == s) for s in ("done", "pending", "stale", "failed")
    }
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    stamp = read_stamp(snapshot_dir(config.study))
    if stamp:
        stale = stale_in_snapshot(config)
        age = f"{len(stale)} of {len(rows)} runs are older than the code" if stale else "it matches the code"
        print(
            f"snapshot: code {stamp['code_version']}, {stamp['date']}: {age}"
            + (f" ({', '.join(stale)})" if stale else "")
        )
    return 0


class CommandFailed(Exception):
    """A command failed for a reason in the reader's study, not in the code: reported as one line by :func:`main`.

    ``build-book`` raises it when jupyter-book rejects the book, chained to the :class:`BookBuildError`.
    """


def _build_book(args: argparse.Namespace) -> int:
    from helpers.study.book import BookBuildError, build_book, companion_studies
    from helpers.study.config import load_config
    from helpers.study.snapshot import snapshot_dir

    config = load_config(args.config)
    root, companions = None, []
    if args.from_snapshot:
        root = snapshot_dir(config.study)
        if not root.is_dir():
            raise ParameterError(
                "--from-snapshot", str(root), "a committed snapshot (python -m helpers snapshot CONFIG)"
            )
        # Studies beyond the paper whose config extends this one join its snapshot book (make read).
        companions = companion_studies(config)
    try:
        index = build_book(config, root=root, config_path=args.config, companions=companions)
    except BookBuildError as error:  # the line names the log of jupyter-book's output
        raise CommandFailed(error.summary) from error
    print(f"The book is ready: {index}")
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from helpers.study.config import load_config
    from helpers.study.snapshot import take_snapshot

    print(f"Snapshot written to {take_snapshot(load_config(args.config))}")
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    from helpers.benchmark import benchmark_generation

    names = ("n_prompts", "max_new_tokens", "batch_size", "dtype", "project_dtypes", "reference_prompts")
    benchmark_generation(**{name: getattr(args, name) for name in names})
    return 0


def _benchmark_finetune(args: argparse.Namespace) -> int:
    from helpers.finetune_benchmark import benchmark_finetune

    benchmark_finetune(steps=args.steps)
    return 0


def _samples(args: argparse.Namespace) -> int:
    from helpers.analysis.samples import print_samples_report

    return print_samples_report(args.folders, args.json)


def _plan(args: argparse.Namespace) -> int:
    from helpers.study.config import load_config
    from helpers.study.plan import format_plan, plan_study

    config = load_config(args.config)
    api_models = {config.evaluate.judge_model, config.training_data.rewriter_model} - {None}
    prices = {m: (args.price_in, args.price_out) for m in api_models} if args.price_in is not None else None
    print(format_plan(config, plan_study(config, prices)))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from helpers.serve import serve

    serve(args.model, host=args.host, port=args.port, device=args.device)
    return 0


def _exercise(args: argparse.Namespace) -> int:
    from helpers.study.exercises import get_exercise, run_exercise

    outcome = run_exercise(args.number)
    failed = sorted(name for name, result in outcome.items() if result in ("failed", "blocked"))
    if failed:
        print(f"Runs not completed: {', '.join(failed)}")
        return 1
    print(f"Done: check it with `python -m helpers check-exercise {get_exercise(args.number).id}`")
    return 0


def _check_exercise(args: argparse.Namespace) -> int:
    from helpers.study.exercises import check_exercise

    result = check_exercise(args.number, args.study)
    print(result.report())
    return 0 if result.passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    plan = sub.add_parser(
        "plan", help="print generations, tokens, judge calls, GPU-hours and API cost of a study"
    )
    plan.add_argument("config", help="path of a study config, e.g. configs/paper.yaml")
    plan.add_argument("--price-in", type=float, help="judge/rewriter USD per million input tokens")
    plan.add_argument(
        "--price-out", type=float, default=0.0, help="judge/rewriter USD per million output tokens"
    )
    plan.set_defaults(func=_plan)
    samples = sub.add_parser(
        "samples", help="rule scorer agreement and models 1-4 on model folders of the authors' sample_data/"
    )
    samples.add_argument(
        "folders", nargs="+", metavar="FOLDER", help="e.g. data/reference/sample_outputs/qwen_32b"
    )
    samples.add_argument("--json", action="store_true", help="print one JSON object")
    samples.set_defaults(func=_samples)
    prepare = sub.add_parser(
        "prepare-model", help="convert the embedded SmolLM2 GGUF into a Hugging Face folder"
    )
    prepare.add_argument("--force", action="store_true", help="convert again even if the folder exists")
    prepare.set_defaults(func=_prepare_model)
    run = sub.add_parser("run", help="run a study config's notebooks with papermill, skipping finished runs")
    run.add_argument("config", help="path of a study config, e.g. configs/demo.yaml")
    run.add_argument("--only", nargs="*", help="run only these runs (names as listed by `status`)")
    run.add_argument("--force", nargs="*", help="redo these runs even when done (their dependents follow)")
    run.add_argument(
        "--upto",
        nargs="*",
        metavar="RUN",
        help="run these runs and every run they need (not their dependents)",
    )
    run.add_argument(
        "--study", help="run the config as another study: results go to results/<STUDY>/, this study's stay"
    )
    run.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one value: evaluate.temperature=0 (repeatable)",
    )
    run.set_defaults(func=_run)
    status = sub.add_parser("status", help="list done / pending / stale / failed runs of a study")
    status.add_argument("config")
    status.set_defaults(func=_status)
    book = sub.add_parser("build-book", help="build the HTML book from the study's executed notebooks")
    book.add_argument("config")
    book.add_argument(
        "--from-snapshot", action="store_true", help="build from snapshots/<study>/ (no run needed)"
    )
    book.set_defaults(func=_build_book)
    snap = sub.add_parser(
        "snapshot", help="copy the executed study (not adapters or caches) to snapshots/<study>/"
    )
    snap.add_argument("config")
    snap.set_defaults(func=_snapshot)
    bench_ft = sub.add_parser(
        "benchmark-finetune",
        help="padding share of the demo's training batches and step time, random vs grouped",
    )
    bench_ft.add_argument("--steps", type=int, default=12, help="optimizer steps timed per sampling strategy")
    bench_ft.set_defaults(func=_benchmark_finetune)
    bench = sub.add_parser(
        "benchmark", help="time the project's generation against a plain generate loop on the demo's prompts"
    )
    bench.add_argument(
        "--n-prompts", type=int, default=64, help="demo evaluation prompts, spread over its tasks"
    )
    bench.add_argument("--max-new-tokens", type=int, default=None, help="answer cap (default: the demo's)")
    bench.add_argument("--batch-size", type=int, default=None, help="batch size (default: the demo's)")
    bench.add_argument(
        "--dtype",
        default="bfloat16",
        choices=["bfloat16", "float32"],
        help="the plain loop's precision (default: the model's own)",
    )
    bench.add_argument(
        "--project-dtypes",
        nargs="+",
        default=["auto"],
        choices=["auto", "bfloat16", "float32"],
        help="the project's precisions, each timed with and without refill (default: what the evaluation loads)",
    )
    bench.add_argument(
        "--reference-prompts",
        type=int,
        default=64,
        help="prompts (spread evenly) the float32 batch-1 reference answers, one at a time",
    )
    bench.set_defaults(func=_benchmark)
    prompts = sub.add_parser("prompts", help="print every prompt variant of a task's items as JSON lines")
    prompts.add_argument("--task", required=True, help="trivia, truthfulqa, disinfo or medqa")
    prompts.add_argument("--item", help="one item id, e.g. trivia-0000 (default: every item)")
    prompts.add_argument(
        "--format", default="A", help="A: as the paper's models saw them; B: the eval-data files"
    )
    prompts.add_argument(
        "--statements", choices=["drawn", "all"], default="drawn", help="all: every statement"
    )
    prompts.add_argument("--n-items", type=int, help="the study's n_items (the statement draw depends on it)")
    prompts.add_argument("--seed", type=int, default=0, help="the study's seed")

    def _prompts(args: argparse.Namespace) -> int:
        from helpers.evaluation.prompts import prompt_records

        all_statements = args.statements == "all"
        for record in prompt_records(
            args.task, args.item, args.format, all_statements, args.n_items, args.seed
        ):
            print(json.dumps(record, ensure_ascii=False))
        return 0

    prompts.set_defaults(func=_prompts)
    serve = sub.add_parser(
        "serve", help="answer OpenAI chat requests with a local model (the judge and rewriter, offline)"
    )
    serve.add_argument("--model", default="embedded:SmolLM2-135M-Instruct", help="the model to serve")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: this machine only)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (base URL http://HOST:PORT/v1)")
    serve.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    serve.set_defaults(func=_serve)
    exercise = sub.add_parser(
        "exercise",
        help="write configs/demo-exN.yaml for an exercise of book/teaching.md and run what it needs",
    )
    exercise.add_argument("number", help="the exercise's number in book/teaching.md")
    exercise.set_defaults(func=_exercise)
    check = sub.add_parser(
        "check-exercise", help="PASS/FAIL an exercise's rerun against the demo's committed snapshot"
    )
    check.add_argument("number", help="the exercise's number in book/teaching.md")
    check.add_argument("--study", help="the study holding the rerun (default: the exercise's, demo-exN)")
    check.set_defaults(func=_check_exercise)
    return parser


def _user_error_line(error: Exception, args: argparse.Namespace) -> str:
    """One readable line for an error caused by the input (not a bug): what is wrong and where."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        source = getattr(args, "config", None) or mark.name
        return f"{source}, line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {error.problem}"
    if isinstance(error, yaml.YAMLError):
        return f"{getattr(args, 'config', None) or 'config'}: invalid YAML: {error}"
    return str(error)


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input ends with one line on stderr and exit status 2, never a traceback.

    Refusals (a parameter out of range, a missing or malformed config, a damaged results file) are the
    reader's to fix, so they are reported as argparse reports a bad option: the field, the value and what is
    allowed. So is a :class:`CommandFailed` (``build-book``: jupyter-book rejected the book; the line
    names the log of its output). Anything else is a bug and keeps its traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ParameterError, CorruptFileError, FileNotFoundError, yaml.YAMLError, CommandFailed) as error:
        print(f"{parser.prog}: error: {_user_error_line(error, args)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
