"""Fine-tune Higgs Audio v2 (boson_multimodal's HiggsAudioModel) with LoRA, the stock Trainer and the
``higgs_audio`` preset.

    python -m kwarg_guard.recipes.higgs_audio --demo --output_dir DIR
    python -m kwarg_guard.recipes.higgs_audio config.yaml
    torchrun --nproc_per_node 8 -m kwarg_guard.recipes.higgs_audio config.yaml

Modules, one idea each: ``arguments`` (the options), ``manifest`` (reading and checking a JSONL
manifest), ``codes`` (audio to codes, cached), ``samples`` (ChatML prompts and the dataset),
``batching`` (the official collator, as the Trainer's data collator), ``loss`` (shifted text and
audio cross-entropy), ``checkpointing`` (activation checkpointing of the LLM layers), ``model``
(loading, LoRA, the preset), ``trainer`` (the Trainer, logging the loss parts), ``generation``,
``plots``, ``benchmark``, ``tiny`` (the CPU demo's model, tokenizer and data) and ``train`` (main).
"""


def main(argv=None):
    """Run the recipe in this process; returns a ``RunResult`` (trainer, model, output folder)."""
    from .train import main as _main

    return _main(argv)


def cli(argv=None) -> int:
    """The command-line entry point: ``main``, then a clean exit of a torchrun/accelerate process."""
    result = main(argv)
    _finish_distributed()
    return 0 if result is not None else 1


def _finish_distributed():
    # Leaving the interpreter with a live gloo/NCCL group can abort one rank while another is still
    # saving ("terminate called without an active exception"): wait for all, then tear it down.
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
