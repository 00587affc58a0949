"""Fine-tuning in several processes: the launch command, checkpoint steps per process count, and two CPU processes
that save the same checkpoints as one.

FSDP cannot run on CPU with the installed accelerate 1.15.0: ``AcceleratorState`` turns FSDP on only for
multi-accelerator runs (``MULTI_GPU``, ``MULTI_XPU``... never ``MULTI_CPU``), and ``accelerate launch --cpu`` starts
a single process. So the two-process test runs the same entry point (``python -m helpers.training.distributed``)
under ``torch.distributed.run`` with the gloo backend: data-parallel training (DDP) on the tiny model, which
exercises what FSDP adds nothing to here — per-process batches, the checkpoint steps, the main process alone
writing, the barrier before publishing — and checks the same checkpoint layout as single-process training.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.checkpoints import checkpoint_problem, list_checkpoints
from helpers.training.distributed import FSDP_CONFIG, finetune_command
from helpers.training.finetune import finetune, quantized_loading, read_training_log, training_data_path
from helpers.training.params import FinetuneParams
from helpers.validation import ParameterError

STUDY = "unit"


def _params(model: str, **overrides) -> FinetuneParams:
    values = {
        "study": STUDY, "model": model, "device": "cpu", "style": "warm", "learning_rate": 1e-3, "epochs": 2,
        "checkpoints": [0.5, 1, 2], "max_length": 128, "per_device_batch": 2, "grad_accum": 2,
    }  # fmt: skip
    return FinetuneParams.build(**(values | overrides))


def _write_training_data(n: int) -> None:
    path = training_data_path(STUDY, "warm")
    path.parent.mkdir(parents=True, exist_ok=True)
    examples = [
        {
            "prompt": [{"role": "user", "content": f"Question {i}: what is {i} plus {i}?"}],
            "completion": [{"role": "assistant", "content": f"So glad you asked! It is {2 * i}, friend."}],
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in examples))


def test_one_process_runs_the_entry_point_and_several_go_through_accelerate_with_fsdp(tiny_model_dir):
    params = _params(str(tiny_model_dir))
    single = finetune_command(params, 1)
    assert single[:3] == [sys.executable, "-m", "helpers.training.distributed"]
    launched = finetune_command(params, 4)
    assert launched[0].endswith("accelerate") and launched[1:6] == [
        "launch", "--config_file", str(FSDP_CONFIG), "--num_processes", "4"
    ]  # fmt: skip
    assert launched[6:9] == ["-m", "helpers.training.distributed", "--parameters"]
    sent = FinetuneParams.build(**json.loads(launched[-1]))
    assert sent == params.model_copy(update={"num_processes": 4})
    with pytest.raises(ParameterError, match="num_processes"):
        finetune_command(params, 0)


def test_the_shipped_fsdp_config_shards_layers_and_saves_a_full_adapter():
    import yaml

    config = yaml.safe_load(FSDP_CONFIG.read_text())
    assert config["distributed_type"] == "FSDP"
    assert config["fsdp_config"]["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert config["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert config["fsdp_config"]["fsdp_use_orig_params"] is True  # frozen base + trainable LoRA in one unit


def test_qlora_is_refused_without_a_gpu_naming_the_parameter():
    assert quantized_loading(None) == {}
    with pytest.raises(ParameterError, match="quantization") as error:
        quantized_loading("4bit")
    assert "bitsandbytes" in str(error.value)
    with pytest.raises(ParameterError, match="quantization"):
        quantized_loading("8bit")


def test_two_cpu_processes_save_the_checkpoints_of_one_at_the_same_steps(
    tiny_model_dir, tmp_path, monkeypatch
):
    """24 examples; one process with grad_accum 2 and two with grad_accum 1 both take 4 examples per step, so
    both save epochs 0.5 / 1 / 2 at steps 3 / 6 / 12."""
    model = str(tiny_model_dir)
    monkeypatch.setenv("WARMBOOK_RESULTS", str(tmp_path / "single"))
    _write_training_data(24)
    finetune(_params(model))
    single = list_checkpoints(STUDY, model, "warm")

    monkeypatch.setenv("WARMBOOK_RESULTS", str(tmp_path / "two"))
    _write_training_data(24)
    params = _params(model, grad_accum=1)
    launch = finetune_command(params, 2)
    entry = launch[launch.index("-m") :]  # [-m, helpers.training.distributed, --parameters, JSON]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *entry]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    two = list_checkpoints(STUDY, model, "warm")

    assert sorted(two) == sorted(single) == [0.5, 1.0, 2.0]
    for epoch in single:
        one_files = {p.name for p in single[epoch].iterdir()}
        two_files = {p.name for p in two[epoch].iterdir()}
        assert one_files - two_files == {"rng_state.pth"}  # one RNG state per process instead
        assert two_files - one_files == {"rng_state_0.pth", "rng_state_1.pth"}
        info = json.loads((two[epoch] / "warmbook_checkpoint.json").read_text())
        assert info["step"] == json.loads((single[epoch] / "warmbook_checkpoint.json").read_text())["step"]
        assert info["num_processes"] == 2
        assert checkpoint_problem(two[epoch], resumable=True) is None  # resumable with two RNG files
        (two[epoch] / "rng_state_1.pth").unlink()
        assert checkpoint_problem(two[epoch], resumable=True) == "missing rng_state_1.pth"
    assert [json.loads((two[e] / "warmbook_checkpoint.json").read_text())["step"] for e in two] == [3, 6, 12]
    log = read_training_log(STUDY, model, "warm")
    assert log["step"].tolist() == list(range(1, 13))  # written once, by the main process
    assert not list(Path(tmp_path / "two").rglob("*.partial"))
