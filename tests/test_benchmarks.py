"""The GPU benchmark script stays runnable as the code changes: its CPU dry run (the command in
its header) on a tiny architecture."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_script_dry_run_on_the_cpu(tmp_path):
    env = {
        **os.environ,
        # The script calls python3, which on the GPU machine has torch; here that is this interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DEVICE": "cpu",
        "DTYPE": "float32",
        "ARCHS": "tiny-llama",
        "SHARED": "tiny-llama",
        "N": "32",
        "BASE": "4",
        "D_MODEL": "64",
        "GEN": "tiny-llama",
        "GEN_N": "8",
        "GEN_BATCH": "4",
        "OUT": str(tmp_path),
    }
    run = subprocess.run(["bash", "benchmarks/gpu.sh"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    rows = [
        json.loads(line) for line in (tmp_path / "gpu.jsonl").read_text().splitlines() if line.startswith("{")
    ]
    assert len(rows) >= 3  # the unique-prompt and shared-prefix throughput runs and generation at least
    (generation,) = [row for row in rows if row.get("benchmark") == "generation"]
    assert generation["batches_generating_the_same_tokens"] == 1.0
