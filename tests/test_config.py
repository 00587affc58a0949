"""Study configs: the shipped ones load; bad keys, models, variants and contexts fail naming the culprit."""

from pathlib import Path

import pytest
import yaml

from helpers.study.config import load_config
from helpers.validation import ParameterError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["demo.yaml", "paper.yaml"])
def test_shipped_configs_load(name):
    config = load_config(REPO / "configs" / name)
    assert config.models
    assert config.selected_checkpoint in config.finetune.checkpoints


def test_paper_config_keeps_the_paper_hyperparameters():
    config = load_config(REPO / "configs" / "paper.yaml")
    ft = config.finetune
    assert (ft.lora_r, ft.lora_alpha, ft.lora_dropout, ft.learning_rate) == (8, 16, 0.1, 1e-5)
    assert ft.per_device_batch * ft.grad_accum == 16
    assert ft.checkpoints == [0.5, 1, 1.5, 2, 4, 6, 8, 10] and ft.epochs == 10
    assert (config.evaluate.temperature, config.evaluate.max_new_tokens) == (0.8, 300)


def _write(tmp_path, change):
    raw = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    change(raw)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda raw: raw.update(colour="warm"), "'colour'"),
        (lambda raw: raw["finetune"].update(lr=1e-5), "'finetune.lr'"),
        (lambda raw: raw.update(variants=["original", "lukewarm"]), "lukewarm"),
        (lambda raw: raw["evaluate"].update(tasks=["trivia", "jeopardy"]), "jeopardy"),
        (lambda raw: raw["evaluate"].update(amendment_types=["emotion:bored"]), "emotion:bored"),
        (lambda raw: raw.update(models=["./no/such/model"]), "./no/such/model"),
        (lambda raw: raw["evaluate"].update(n_items=0), "'evaluate.n_items'"),
        (lambda raw: raw.update(selected_checkpoint=3), "'selected_checkpoint'"),
        (lambda raw: raw.update(study=".."), "'study'"),
    ],
)
def test_bad_config_fails_naming_the_problem(tmp_path, change, expected):
    with pytest.raises(ParameterError) as error:
        load_config(_write(tmp_path, change))
    assert expected in str(error.value)
    assert "study.yaml" in str(error.value)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ParameterError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_a_config_can_be_run_as_another_study_with_one_value_overridden():
    config = load_config("configs/demo.yaml", study="demo-t0", settings=["evaluate.temperature=0", "seed=3"])
    assert config.study == "demo-t0" and config.evaluate.temperature == 0 and config.seed == 3
    assert load_config("configs/demo.yaml").study == "demo"  # the file itself is unchanged


@pytest.mark.parametrize(
    ("setting", "named"),
    [("evaluate.temperature=-1", "evaluate.temperature"), ("nosuch.x=1", "--set"), ("temperature", "--set")],
)
def test_a_bad_override_names_the_setting_before_any_run(setting, named):
    with pytest.raises(ParameterError) as error:
        load_config("configs/demo.yaml", settings=[setting])
    assert f"'{named}'" in str(error.value)
