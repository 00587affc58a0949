"""The course module's graded exercises (book/teaching.md): what each one runs, what it checks, against what.

A teacher adopting the book needs three things per exercise before class: how long it takes, what an honest
rerun should give, and a check a grader can run without reading a notebook. Each :class:`Exercise` here is
- a copy of the demo config (``configs/demo.yaml``) with a few changes, under its own study name (``demo-ex1``...),
  so a rerun never overwrites the demo's results; ``python -m helpers exercise N`` writes it to
  ``configs/<study>.yaml`` and executes only the runs the exercise needs;
- one quantity read from the student's results (a row of ``analysis/glm_ames.csv``, a column of an evaluation
  CSV, a SocioT mean), compared by ``python -m helpers check-exercise N`` with
- an expected value and a tolerance computed from the committed snapshot of the demo (``snapshots/demo/``), never
  typed in: an exercise whose snapshot changes gets new expected values with it. Each tolerance says why it is
  what an honest rerun meets (``tolerance_basis``).

The demo is deterministic on one machine: every answer's random stream is seeded by its prompt, batches are
planned from the prompts alone and float32 answers do not depend on the batch (docs/design.md, "Known pitfalls"),
so a rerun of the same runs on the same kind of CPU reproduces the snapshot's numbers exactly (the snapshot's
commit records all 53 summary fields identical across fresh-clone runs). Another CPU may round differently and
flip a sampled token here and there; a tolerance of the quantity's own 95% interval half-width covers that.

The run times come from the runner's records (``results/<study>/runs/<run>.json``, ``seconds``) of the study
whose analysis notebook glues them, scaled by the work each exercise run does relative to the recorded one
(prompts answered, checkpoints scored): :func:`exercise_table`, :func:`exercise_glue`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from helpers.paths import REPO_ROOT, model_slug, study_dir
from helpers.study.config import StudyConfig, load_config
from helpers.study.snapshot import snapshot_dir
from helpers.validation import ParameterError

DEMO_CONFIG = REPO_ROOT / "configs" / "demo.yaml"
"""The config every exercise copies, and whose committed snapshot gives the expected values."""


class NotCheckable(FileNotFoundError):
    """Something a check compares is not there; reported by the command line as one line, exit status 2."""


class MissingRun(NotCheckable):
    """The results an exercise checks are not there yet; the message names the command that produces them."""


class StaleSnapshot(NotCheckable):
    """The committed snapshot was made with other parameters than ``configs/demo.yaml`` now has, so its numbers
    are not what a rerun of the current config should give."""


def _committed_snapshot() -> Path:
    """``snapshots/demo``: what the grader compares with."""
    folder = snapshot_dir(load_config(DEMO_CONFIG).study)
    if not (folder / "runs").is_dir():
        raise MissingRun(
            f"{folder} holds no snapshot of the demo study: the expected values come from it "
            "(it is committed; `python -m helpers snapshot configs/demo.yaml` writes one)"
        )
    return folder


def reference_folder(study: str) -> Path | None:
    """Where the book reads the expected values: the demo's own results while the demo's analysis glues them
    (``make snapshot`` commits exactly those files, so the book and the grader agree once it is taken, and the
    snapshot's analysis page was not computed from the snapshot before it), else the committed snapshot;
    None when there is neither."""
    own = study_dir(study)
    if study == load_config(DEMO_CONFIG).study and (own / "runs").is_dir():
        return own
    try:
        return _committed_snapshot()
    except MissingRun:
        return None


def snapshot_differences(exercise: Exercise, snapshot: Path) -> list[str]:
    """Parameters of the exercise's runs that ``configs/demo.yaml`` sets otherwise than the snapshot recorded.

    The expected values are what the snapshot's runs gave; they are what a rerun should give only while the
    demo's config still describes those runs. A field the snapshot's record lacks (added to the code since) is
    compared with its default, which is what the older code did.
    """
    from helpers.study.config import STAGES
    from helpers.study.runner import plan_runs

    demo = {run.name: run for run in plan_runs(load_config(DEMO_CONFIG))}
    differences = []
    for name in exercise.run_names():
        run, path = demo[name], snapshot / "runs" / f"{name}.params.yaml"
        if not path.is_file():
            if run.stage != "analysis":  # the analysis gluing these values has no record until it ends
                differences.append(f"{name}: not in the snapshot")
            continue
        recorded = yaml.safe_load(path.read_text())
        fields = STAGES[run.stage].model_fields
        for key, value in run.parameters.items():
            then = recorded[key] if key in recorded else fields[key].get_default(call_default_factory=True)
            if then != value:
                differences.append(f"{name} {key}: {then!r} in the snapshot, {value!r} in configs/demo.yaml")
    return differences


# ------------------------------------------------------------------------------------------------ quantities


def _glm_row(analysis: Path, variant: str) -> pd.Series | None:
    """Model 1's fine-tuning row (the variant's average marginal effect on the error rate) of ``glm_ames.csv``."""
    path = analysis / "glm_ames.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    rows = table[
        table["glm"].eq("model_1_main_effects")
        & table["variant"].eq(variant)
        & table["effect"].eq("fine_tuning")
        & table["condition"].eq("unmodified")
    ]
    return rows.iloc[0] if len(rows) else None


def _half_width(row: pd.Series | None) -> float:
    return float("nan") if row is None else (row["ci_upper_pp"] - row["ci_lower_pp"]) / 2


def _ame(row: pd.Series | None) -> float:
    return float("nan") if row is None else float(row["ame_pp"])


def _evaluation_csv(results: Path, config: StudyConfig) -> Path:
    """The one evaluation CSV the scorer exercise reruns: its only variant on its only task."""
    [variant], [task] = config.variants, config.evaluate.tasks
    return results / model_slug(config.models[0]) / variant / f"{task}.csv"


def _joined_with_snapshot(results: Path, snapshot: Path, config: StudyConfig) -> pd.DataFrame:
    """The rerun's rows next to the snapshot's answer and rule verdict to the same prompt (``answers.csv``)."""
    from helpers.analysis.paired import PAIR_KEY

    [variant] = config.variants
    rerun = pd.read_csv(_evaluation_csv(results, config), keep_default_na=False)
    demo = pd.read_csv(snapshot / "figures" / "answers.csv", keep_default_na=False)
    demo = demo[[*PAIR_KEY, f"{variant}_answer", f"{variant}_verdict"]]
    return rerun.merge(demo, on=PAIR_KEY, how="left", validate="one_to_one")


def _sociot_mean(table_path: Path, variant: str, epoch: float) -> float:
    if not table_path.is_file():
        return float("nan")
    table = pd.read_csv(table_path)
    rows = table[table["variant"].eq(variant) & table["epoch"].eq(epoch)]
    return float(rows["mean"].iloc[0]) if len(rows) else float("nan")


def _warm_prompt_ame(results: Path, snapshot: Path, config: StudyConfig) -> float:
    return _ame(_glm_row(results / "analysis", "warm_prompt"))


def _warm_prompt_ame_reference(snapshot: Path, config: StudyConfig) -> tuple[float, float]:
    row = _glm_row(snapshot / "analysis", "warm_prompt")
    return _ame(row), _half_width(row)


def _warm_prompt_half_width(results: Path, snapshot: Path, config: StudyConfig) -> float:
    return _half_width(_glm_row(results / "analysis", "warm_prompt"))


def _half_width_reference(snapshot: Path, config: StudyConfig) -> tuple[float, float]:
    """The demo's half-width divided by sqrt(ITEM_FACTOR) (an interval narrows as one over the square root of
    the sample); the tolerance is half the distance between that prediction and no narrowing at all, so the
    check tells the two apart."""
    demo_width = _half_width(_glm_row(snapshot / "analysis", "warm_prompt"))
    predicted = demo_width / math.sqrt(ITEM_FACTOR)
    return predicted, abs(demo_width - predicted) / 2


def _identical_answer_share(results: Path, snapshot: Path, config: StudyConfig) -> float:
    [variant] = config.variants
    joined = _joined_with_snapshot(results, snapshot, config)
    return float((joined["output"] == joined[f"{variant}_answer"]).mean())


def _every_answer_identical(snapshot: Path, config: StudyConfig) -> tuple[float, float]:
    """All of them, exactly: the rerun regenerates the demo's answers (same prompts, seeds and batches), so
    the judge grades the very answers the rule scorer graded."""
    return 1.0, 0.0


def _judge_agreement(results: Path, snapshot: Path, config: StudyConfig) -> str:
    [variant] = config.variants
    joined = _joined_with_snapshot(results, snapshot, config)
    same = joined[joined["output"] == joined[f"{variant}_answer"]]
    agree = int((same["evaluation"] == same[f"{variant}_verdict"]).sum())
    return (
        f"your scorer ({same['scorer'].iloc[0] if len(same) else 'none'}) agrees with the demo's rule scorer on "
        f"{agree} of {len(same)} identical answers"
    )


def _warm_sociot(results: Path, snapshot: Path, config: StudyConfig) -> float:
    slug = model_slug(config.models[0])
    return _sociot_mean(results / slug / "warmth" / "sociot.csv", "warm", config.selected_checkpoint)


def _original_sociot_reference(snapshot: Path, config: StudyConfig) -> tuple[float, float]:
    """The original model's SocioT mean in the demo; the tolerance is the half-width of the demo's paired
    warm − original interval, the smallest difference its manipulation check resolves."""
    slug = model_slug(config.models[0])
    original = _sociot_mean(snapshot / "figures" / f"warmth-{slug}-sociot.csv", "original", 0.0)
    warm = json.loads((snapshot / "analysis" / "summary.json").read_text())["manipulation"]["warm"]
    return original, (warm["ci_high"] - warm["ci_low"]) / 2


# ------------------------------------------------------------------------------------------------ exercises


@dataclass(frozen=True)
class Exercise:
    """One graded exercise: its config (the demo's plus ``overrides``), its runs and its check.

    ``item_factor`` multiplies the demo's item counts (``evaluate.n_items`` and, where the demo screens items,
    ``evaluate.screen_pool``), so "twice the items" stays twice the demo's whatever the demo's size is.
    """

    id: str
    label: str
    title: str
    overrides: Mapping[str, Any]
    runs: tuple[str, ...]
    quantity: str
    measure: Callable[[Path, Path, StudyConfig], float]
    reference: Callable[[Path, StudyConfig], tuple[float, float]]
    tolerance_basis: str
    finding: Callable[[Path, Path, StudyConfig], str] | None = None
    item_factor: int = 1

    @property
    def study(self) -> str:
        """``demo-ex<id>``: its own results folder, so the rerun never touches the demo's."""
        return f"demo-ex{self.id}"

    @property
    def config_path(self) -> Path:
        """Where ``python -m helpers exercise`` writes the config, next to the demo's, for the student to read."""
        return REPO_ROOT / "configs" / f"{self.study}.yaml"

    def config(self) -> StudyConfig:
        """The demo config with this exercise's changes and study name, validated as any config is."""
        return StudyConfig.model_validate(self.raw_config())

    def raw_config(self) -> dict[str, Any]:
        """The demo's YAML with the overrides merged in (a section's keys one by one), as written to disk."""
        raw = yaml.safe_load(DEMO_CONFIG.read_text())
        for key, value in self.overrides.items():
            if isinstance(value, Mapping):
                raw[key] = {**(raw.get(key) or {}), **value}
            else:
                raw[key] = value
        evaluate = raw.setdefault("evaluate", {})
        for key in ("n_items", "screen_pool"):
            if isinstance(evaluate.get(key), int):
                evaluate[key] *= self.item_factor
        raw["study"] = self.study
        raw["description"] = (
            f"Exercise {self.id} of book/teaching.md ({self.title}): the demo with {dict(self.overrides)}"
        )
        return raw

    def run_names(self, config: StudyConfig | None = None) -> list[str]:
        """The runner's names of the runs this exercise executes (and the check requires)."""
        slug = model_slug((config or self.config()).models[0])
        return [name.format(slug=slug) for name in self.runs]


ITEM_FACTOR = 2
"""How many times the demo's items the power exercise evaluates."""

_NO_FINE_TUNES = {"styles": [], "capability_variants": []}
_WARM_PROMPT_RUNS = (
    "training_data", "warmth-{slug}", "evaluate-{slug}-original", "evaluate-{slug}-warm_prompt", "analysis",
)  # fmt: skip
#: Exercises 1 and 2 run the same study shape: the original and the warm system prompt, no fine-tune.
_WARM_PROMPT_STUDY = {
    "overrides": {**_NO_FINE_TUNES, "variants": ["original", "warm_prompt"]},
    "runs": _WARM_PROMPT_RUNS,
}

EXERCISES: dict[str, Exercise] = {
    exercise.id: exercise
    for exercise in (
        Exercise(
            id="1",
            label="ex-warm-prompt",
            title="Warmth without training",
            **_WARM_PROMPT_STUDY,
            quantity="model 1 average marginal effect of the warm system prompt on the error rate (pp)",
            measure=_warm_prompt_ame,
            reference=_warm_prompt_ame_reference,
            tolerance_basis="the demo's 95% interval half-width of the same effect",
        ),
        Exercise(
            id="2",
            label="ex-power",
            title="How many items would you need?",
            **_WARM_PROMPT_STUDY,
            item_factor=ITEM_FACTOR,
            quantity="half-width of that effect's 95% interval with twice the items (pp)",
            measure=_warm_prompt_half_width,
            reference=_half_width_reference,
            tolerance_basis="half the distance between the 1/sqrt(n) prediction and the demo's own half-width",
        ),
        Exercise(
            id="3",
            label="ex-scorer",
            title="Change the scorer",
            overrides={
                **_NO_FINE_TUNES,
                "variants": ["original"],
                "evaluate": {
                    "tasks": ["truthfulqa"],
                    "judge_base_url": "http://127.0.0.1:8000/v1",
                    "judge_model": "embedded:SmolLM2-135M-Instruct",
                },
            },
            runs=("evaluate-{slug}-original",),
            quantity="share of the rerun's answers identical to the demo's (so both scorers graded the same answers)",
            measure=_identical_answer_share,
            reference=_every_answer_identical,
            tolerance_basis="exact: the rerun regenerates the demo's answers",
            finding=_judge_agreement,
        ),
        Exercise(
            id="4",
            label="ex-learning-rate",
            title="Learning rate",
            overrides={
                "styles": ["warm"],
                "variants": ["original"],
                "capability_variants": [],
                "finetune": {"learning_rate": 1.0e-5, "lr_sweep": []},
            },
            runs=("training_data", "finetune-{slug}-warm", "warmth-{slug}"),
            quantity="SocioT warmth of the warm model at the selected checkpoint, trained at the paper's 1e-5",
            measure=_warm_sociot,
            reference=_original_sociot_reference,
            tolerance_basis="the half-width of the demo's paired warm − original SocioT interval",
        ),
    )
}


def get_exercise(number: str | int) -> Exercise:
    key = str(number)
    if key not in EXERCISES:
        raise ParameterError("exercise", number, f"one of {', '.join(EXERCISES)} (book/teaching.md)")
    return EXERCISES[key]


# ------------------------------------------------------------------------------------------------ running


def write_exercise_config(exercise: Exercise) -> Path:
    """Write ``configs/<study>.yaml`` (validated first), so the student can read, rerun and vary it."""
    exercise.config()
    header = (
        f"# Exercise {exercise.id} of book/teaching.md: configs/demo.yaml with its own study name and these\n"
        f"# changes: {json.dumps(dict(exercise.overrides))}. Written by `python -m helpers exercise "
        f"{exercise.id}`.\n"
    )
    exercise.config_path.write_text(header + yaml.safe_dump(exercise.raw_config(), sort_keys=False))
    return exercise.config_path


def _require_endpoint(base_url: str) -> None:
    """Refuse to start when the judge's endpoint does not answer: the judge would otherwise retry every
    answer against a closed port (minutes of back-off) before the run fails."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}/models", timeout=5):
            return
    except (urllib.error.URLError, OSError):
        raise ParameterError(
            "evaluate.judge_base_url",
            base_url,
            "an endpoint that answers: start `python -m helpers serve --model embedded:SmolLM2-135M-Instruct "
            "--port 8000` in another terminal first",
        ) from None


def run_exercise(number: str | int) -> dict[str, str]:
    """Write the exercise's config and execute only the runs it needs; ``{run: outcome}`` as the runner gives."""
    from helpers.study.runner import execute_study

    exercise = get_exercise(number)
    config = load_config(write_exercise_config(exercise))
    if config.evaluate.judge_base_url and any(run.startswith("evaluate-") for run in exercise.runs):
        _require_endpoint(config.evaluate.judge_base_url)
    print(f"Exercise {exercise.id}: {exercise.config_path.relative_to(REPO_ROOT)} -> results/{config.study}/")
    return execute_study(config, only=set(exercise.run_names(config)))


# ------------------------------------------------------------------------------------------------ checking


@dataclass(frozen=True)
class CheckResult:
    """A student's value against the snapshot's expected value and the tolerance an honest rerun meets."""

    exercise: Exercise
    study: str
    value: float
    expected: float
    tolerance: float
    finding: str | None = None

    @property
    def passed(self) -> bool:
        return abs(self.value - self.expected) <= self.tolerance  # False for NaN: nothing to compare

    def report(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [
            f"{verdict} exercise {self.exercise.id} ({self.exercise.title}), study {self.study}",
            f"  {self.exercise.quantity}",
            f"  yours: {self.value:.4g}   expected: {self.expected:.4g} ± {self.tolerance:.4g} "
            f"(from snapshots/demo; tolerance: {self.exercise.tolerance_basis})",
        ]
        if math.isnan(self.value):
            lines.append(
                "  your results hold no value for it: its file is missing, or the run could not estimate it (see its page)"
            )
        if self.finding:
            lines.append(f"  finding: {self.finding}")
        return "\n".join(lines)


def _missing_runs(exercise: Exercise, study: str, config: StudyConfig) -> list[str]:
    runs = study_dir(study) / "runs"
    missing = []
    for name in exercise.run_names(config):
        path = runs / f"{name}.json"
        if not path.is_file() or json.loads(path.read_text()).get("status") != "done":
            missing.append(name)
    return missing


def check_exercise(number: str | int, study: str | None = None) -> CheckResult:
    """Compare the student's value with the snapshot's; :class:`MissingRun` names the command that is missing."""
    exercise = get_exercise(number)
    config = exercise.config()
    study = study or exercise.study
    missing = _missing_runs(exercise, study, config)
    if missing:
        command = (
            f"python -m helpers exercise {exercise.id}"
            if study == exercise.study
            else f"python -m helpers run configs/{exercise.study}.yaml --study {study} --only {' '.join(missing)}"
            " --set ... (the values your study changes)"
        )
        raise MissingRun(
            f"exercise {exercise.id}: results/{study} has no finished run {', '.join(missing)}; "
            f"produce it with `{command}`"
        )
    snapshot = _committed_snapshot()
    differences = snapshot_differences(exercise, snapshot)
    if differences:
        raise StaleSnapshot(
            f"exercise {exercise.id}: the committed snapshot's runs were made with other parameters than "
            f"configs/demo.yaml has now ({'; '.join(differences[:3])}), so its values are not what this rerun "
            "should give: retake it (`make book && make snapshot`) before grading"
        )
    results = study_dir(study)
    expected, tolerance = exercise.reference(snapshot, config)
    finding = exercise.finding(results, snapshot, config) if exercise.finding else None
    return CheckResult(
        exercise, study, exercise.measure(results, snapshot, config), expected, tolerance, finding
    )


# ------------------------------------------------------------------------------------------------ the book


def _work(stage: str, parameters: Mapping[str, Any]) -> float:
    """How much a run of ``stage`` has to do, in units that its time grows with."""
    if stage == "evaluate":
        tasks = len(parameters["tasks"])
        prompts = (
            tasks * parameters["n_items"] * len(parameters["amendment_types"]) * len(parameters["templates"])
        )
        screening = tasks * (parameters.get("screen_pool") or 0) * parameters.get("screen_samples", 1)
        return prompts + screening  # the kept items are at most n_items, so this is an upper bound
    if stage == "warmth":
        # the original model, then every checkpoint of every style
        return 1 + len(parameters["styles"]) * len(parameters["checkpoints"])
    return 1.0


def _run_record(name: str, study: str, snapshot: Path | None) -> dict[str, Any] | None:
    """The study's record of a run, else the snapshot's (the analysis run has none while it is running)."""
    for folder in (study_dir(study) / "runs", snapshot / "runs" if snapshot else None):
        if folder is not None and (folder / f"{name}.json").is_file():
            return json.loads((folder / f"{name}.json").read_text())
    return None


def exercise_minutes(exercise: Exercise, study: str, snapshot: Path | None = None) -> float:
    """Minutes of the exercise's runs: each run's recorded time, scaled by its work here over the recorded
    run's (an exercise evaluating twice the items takes about twice as long); NaN when a run has no record."""
    from helpers.study.runner import plan_runs

    config = exercise.config()
    planned = {run.name: run for run in plan_runs(config)}
    seconds = 0.0
    for name in exercise.run_names(config):
        record = _run_record(name, study, snapshot)
        if record is None or "seconds" not in record:
            return float("nan")
        run = planned[name]
        seconds += (
            record["seconds"] * _work(run.stage, run.parameters) / _work(run.stage, record["parameters"])
        )
    return seconds / 60


def exercise_table(study: str) -> pd.DataFrame:
    """One row per exercise: its study, runs, minutes (from ``study``'s run records), the quantity checked,
    the expected value and tolerance (from :func:`reference_folder`; NaN where there is none or it was made with
    other parameters than the demo's config has now: :func:`snapshot_differences`) and both commands."""
    reference = reference_folder(study)
    committed = snapshot_dir(load_config(DEMO_CONFIG).study)
    rows = []
    for exercise in EXERCISES.values():
        config = exercise.config()
        expected, tolerance = math.nan, math.nan
        if reference is not None and not snapshot_differences(exercise, reference):
            try:
                expected, tolerance = exercise.reference(reference, config)
            except FileNotFoundError:  # a stage the reference study has not run yet: no value to quote
                pass
        rows.append(
            {
                "exercise": exercise.id,
                "title": exercise.title,
                "label": exercise.label,
                "study": exercise.study,
                "runs": ", ".join(exercise.run_names(config)),
                "minutes": exercise_minutes(exercise, study, committed),
                "quantity": exercise.quantity,
                "expected": expected,
                "tolerance": tolerance,
                "tolerance basis": exercise.tolerance_basis,
                "run": f"python -m helpers exercise {exercise.id}",
                "check": f"python -m helpers check-exercise {exercise.id}",
            }
        )
    return pd.DataFrame(rows)


def exercise_glue(study: str) -> dict[str, float]:
    """``exercise_<id>_minutes`` / ``_expected`` / ``_tolerance`` for every exercise, the numbers
    book/teaching.md quotes (glued by the analysis notebook)."""
    table = exercise_table(study)
    return {
        f"exercise_{row.exercise}_{column}": float(getattr(row, column))
        for row in table.itertuples()
        for column in ("minutes", "expected", "tolerance")
    }
