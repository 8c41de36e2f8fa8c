"""The multi-process path on a CPU: two real torchrun processes (gloo) running the recipe on this
stack's backend, with the Trainer's own DDP, and its FSDP."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from tests.helpers import torchrun

HERE = Path(__file__).resolve().parent


@pytest.fixture
def wav_manifest(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    lines = []
    for index in range(8):
        t = np.linspace(0, 0.3, 4800, endpoint=False)
        soundfile.write(folder / f"{index}.wav", 0.2 * np.sin(2 * np.pi * (150 + 40 * index) * t), 16000)
        lines.append(f'{{"text": "Line number {index}.", "audio": "{index}.wav", "scene": "A quiet room."}}')
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "manifest.jsonl"


def two_ranks(output, manifest, *extra):
    completed = subprocess.run(
        [str(part) for part in torchrun(HERE / "ddp_worker.py", output, manifest, *extra)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return [torch.load(output / f"rank{r}.pt") for r in (0, 1)]


def test_ddp_trains_identical_weights_encodes_once_and_logs_the_same_parts_on_both_ranks(tmp_path, wav_manifest):
    ranks = two_ranks(tmp_path, wav_manifest)
    assert [r["world_size"] for r in ranks] == [2, 2]
    first, second = ranks[0]["weights"], ranks[1]["weights"]
    assert first.keys() == second.keys() and len(first) > 0
    assert all(torch.equal(first[name], second[name]) for name in first)
    # trained, not just initialised alike: LoRA B matrices start at zero
    assert any(name.endswith("lora_B.default.weight") and first[name].abs().sum() > 0 for name in first)
    assert (tmp_path / "adapter_model.safetensors").is_file()
    # every WAV encoded once, by the main process; the other rank read the cache
    encodings = (tmp_path / "encodings.log").read_text().splitlines()
    assert sorted(line.split()[1] for line in encodings) == [f"{i}.wav" for i in range(8)]
    assert {line.split()[0] for line in encodings} == {"0"}
    # the loss parts are averaged over both ranks before they are logged
    keys = ("text_loss", "audio_loss")
    assert [[e[k] for k in keys] for e in ranks[0]["logs"]] == [[e[k] for k in keys] for e in ranks[1]["logs"]]


def test_fsdp_full_shard_trains_on_two_cpu_processes(tmp_path, wav_manifest):
    # accelerate can sync module states only on an accelerator device: off on a CPU.
    config = tmp_path / "fsdp.json"
    config.write_text('{"sync_module_states": false, "cpu_ram_efficient_loading": false, "use_orig_params": true}')
    ranks = two_ranks(tmp_path, wav_manifest, "--fsdp", "full_shard", "--fsdp_config", str(config))
    losses = [e["loss"] for e in ranks[0]["logs"]]
    assert len(losses) >= 3 and all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert (tmp_path / "adapter_model.safetensors").is_file()
