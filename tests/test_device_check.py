"""tools/device_check.sh: the parts that run without a GPU (its GPU checks are tests/test_cuda.py)."""

import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "device_check.sh"


def test_the_script_names_its_two_commands_and_refuses_to_run_unprepared(tmp_path):
    usage = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True)
    assert usage.returncode == 2 and "prepare|run" in usage.stderr
    (tmp_path / "tools").mkdir()
    shutil.copy(SCRIPT, tmp_path / "tools")  # a checkout where `prepare` never ran: no .device/
    unprepared = subprocess.run(
        ["bash", str(tmp_path / "tools" / SCRIPT.name), "run"], capture_output=True, text=True
    )
    assert unprepared.returncode == 2 and "no .device/wheels" in unprepared.stderr
