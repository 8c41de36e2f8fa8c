"""One rank of the 2-process test: run the recipe under torchrun, then save this rank's LoRA weights."""

import sys

import torch
import torch.distributed as dist

from kwarg_guard.recipes.higgs_audio import _finish_distributed, main

if __name__ == "__main__":
    output = sys.argv[1]
    result = main([
        "--demo", "--output_dir", output, "--ddp_backend", "gloo", "--num_train_epochs", "3",
        "--per_device_train_batch_size", "2", "--generate_text", "",
    ])
    weights = {name: p.detach().cpu() for name, p in result.model.named_parameters() if "lora_" in name}
    torch.save({"world_size": dist.get_world_size(), "weights": weights}, f"{output}/rank{dist.get_rank()}.pt")
    _finish_distributed()
