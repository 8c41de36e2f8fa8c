"""One rank of the 2-process tests: run the recipe under torchrun on this stack's backend, with a
manifest of WAVs encoded by a counting stand-in encoder, then save what the test compares.

    ddp_worker.py OUTPUT MANIFEST [extra recipe options]
"""

import sys
from pathlib import Path

import numpy as np
import soundfile
import torch
import torch.distributed as dist

from kwarg_guard.recipes.higgs_audio import _finish_distributed, main
from kwarg_guard.recipes.higgs_audio.legacy import LEGACY
from kwarg_guard.recipes.higgs_audio.native import NATIVE


class CountingEncoder:
    """Stands in for the audio tokenizer (its weights need the hub): codes from frame energies,
    and one line per encoding appended to a file every rank can see."""

    identity = "counting-stand-in"

    def __init__(self, log: Path):
        self.log = log

    def encode(self, wav):
        with self.log.open("a") as handle:
            handle.write(f"{dist.get_rank()} {wav.name}\n")
        audio, _ = soundfile.read(wav)
        energy = np.array([int(np.abs(f).mean() * 1000) % 32 for f in np.array_split(audio, 6)])
        return np.stack([(energy + c) % 32 for c in range(4)]).astype(np.int64)


if __name__ == "__main__":
    output, manifest, extra = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    encoder = CountingEncoder(output / "encodings.log")
    for backend in (LEGACY, NATIVE):
        object.__setattr__(backend, "audio_encoder", lambda model_args: encoder)
    result = main(
        [
            "--demo",
            "--output_dir",
            str(output),
            "--train_manifest",
            manifest,
            "--ddp_backend",
            "gloo",
            "--num_train_epochs",
            "3",
            "--per_device_train_batch_size",
            "2",
            "--generate_text",
            "",
            *extra,
        ]
    )
    weights = {name: p.detach().cpu() for name, p in result.model.named_parameters() if "lora_" in name}
    logs = [entry for entry in result.trainer.state.log_history if "loss" in entry]
    torch.save(
        {"world_size": dist.get_world_size(), "weights": weights, "logs": logs}, output / f"rank{dist.get_rank()}.pt"
    )
    _finish_distributed()
