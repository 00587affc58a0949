"""Fine-tuning the 32B and 70B models: LoRA across GPUs with accelerate + FSDP, or QLoRA on one GPU.

The paper fine-tuned Qwen-2.5-32B and Llama-3.1-70B with LoRA on 2-3 H100s per model (docs/study.md section 2);
in bf16 a 70B model alone is 140 GB, more than one GPU holds. Two ways to fit it, both through the field's tools:

- **FSDP** (the paper's setting, several GPUs): ``accelerate launch`` with ``configs/accelerate/fsdp.yaml`` starts
  one process per GPU; FSDP shards the frozen base weights over them, and the same :func:`finetune` runs in
  every process. Each process takes its own batches, so an optimizer step sees per_device_batch x grad_accum x
  num_processes examples: ``finetune`` places the paper's checkpoints by that effective batch (keep it 16, e.g.
  4 x 1 x 4 GPUs). The Trainer gathers the adapter to the main process, which alone publishes the checkpoint:
  the same folder layout as a single-process run (plus one RNG state file per process).
- **QLoRA** (``quantization: "4bit"``, one GPU): the base model loaded in 4-bit NF4 with bitsandbytes, LoRA on
  top (``helpers.training.finetune.quantized_loading``, where the trainer loads the model). A deviation from
  the paper, which trained on bf16 weights: the book must say so when it is used.

:func:`finetune_command` builds the exact launch command; :func:`launch_finetune` is what a notebook calls: in
process for one process, through that command for several. ``python -m helpers.training.distributed
--parameters JSON`` is the entry point ``accelerate launch -m`` runs in each process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

from helpers.paths import REPO_ROOT
from helpers.training.finetune import finetune
from helpers.training.params import FinetuneParams
from helpers.validation import ParameterError

FSDP_CONFIG = REPO_ROOT / "configs" / "accelerate" / "fsdp.yaml"
"""The shipped accelerate config: FSDP FULL_SHARD, one unit per decoder layer, full adapter state on rank 0."""


def finetune_command(params: FinetuneParams, num_processes: int) -> list[str]:
    """The command that fine-tunes with ``num_processes`` processes (one per GPU): accelerate + FSDP if > 1.

    The parameters travel as one JSON argument, so the launched processes rebuild exactly this object.
    """
    payload = json.dumps(params.updated(num_processes=num_processes).model_dump(mode="json"))
    entry = ["-m", "helpers.training.distributed", "--parameters", payload]
    if num_processes == 1:
        return [sys.executable, *entry]
    accelerate = shutil.which("accelerate", path=str(REPO_ROOT / ".venv" / "bin")) or "accelerate"
    launch = [accelerate, "launch", "--config_file", str(FSDP_CONFIG), "--num_processes", str(num_processes)]
    return [*launch, *entry]


def launch_finetune(params: FinetuneParams):
    """Fine-tune as ``params.num_processes`` asks: in this process for one, through accelerate for several.

    After a launch the checkpoints are on disk, so the in-process call that follows only reads them back (and
    returns the same :class:`~helpers.training.finetune.FinetuneResult` as a single-process run).
    """
    if params.num_processes > 1:
        command = finetune_command(params, params.num_processes)
        print("Launching:", " ".join(command[:-1]), "'<parameters>'", flush=True)
        subprocess.run(command, check=True, cwd=REPO_ROOT)
    return finetune(params)


def main(argv: list[str] | None = None) -> int:
    """Entry point of each launched process: rebuild the parameters and fine-tune."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.training.distributed", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--parameters", required=True, help="the FinetuneParams as a JSON object")
    args = parser.parse_args(argv)
    params = FinetuneParams.build(**json.loads(args.parameters))
    launched = int(os.environ.get("WORLD_SIZE", "1"))  # set by accelerate launch and torchrun
    if launched != params.num_processes:
        raise ParameterError(
            "num_processes", params.num_processes, f"the number of processes launched ({launched})"
        )
    finetune(params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
