"""The multi-process path on a CPU: two real torchrun processes, gloo, the Trainer's own DDP."""

import socket
import subprocess
import sys
from pathlib import Path

import torch

from conftest import needs_boson

pytestmark = needs_boson
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_process_torchrun_ends_with_identical_weights_on_both_ranks(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), str(HERE / "higgs_ddp_worker.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    first, second = ranks[0]["weights"], ranks[1]["weights"]
    assert first.keys() == second.keys() and len(first) > 0
    assert all(torch.equal(first[name], second[name]) for name in first)
    # trained, not just initialised alike: LoRA B matrices start at zero
    assert any(name.endswith("lora_B.default.weight") and first[name].abs().sum() > 0 for name in first)
    assert (tmp_path / "adapter_model.safetensors").is_file()
