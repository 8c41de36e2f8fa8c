"""Fine-tune Higgs Audio v2 with LoRA and the stock Trainer, on either model port:

* ``legacy``: boson_multimodal's ``HiggsAudioModel`` (transformers 4.46), guarded by ``higgs_audio``;
* ``native``: transformers 5's ``HiggsAudioV2ForConditionalGeneration``, guarded by ``higgs_audio_v2``.

    python -m kwarg_guard.recipes.higgs_audio --demo --output_dir DIR
    python -m kwarg_guard.recipes.higgs_audio config.yaml [--option value ...]
    torchrun --nproc_per_node 8 -m kwarg_guard.recipes.higgs_audio config.yaml

The layout: one package per model port behind one interface, and what both share beside them.

* ``backend`` — the ``Backend`` interface: everything that differs between the ports.
* ``legacy/`` — boson_multimodal's port: ``data`` (samples, the official collator), ``model``,
  ``checkpointing``, ``loss``, ``generation``, ``audio`` (its audio tokenizer).
* ``native/`` — transformers 5's port: ``data`` (the processor's layout), ``model``, ``loss``,
  ``generation``, ``audio``.
* Shared: ``arguments`` + ``usage`` (the options and their help), ``manifest`` (reading and checking
  a JSONL manifest), ``codes`` (audio to codes, cached), ``prompts`` (the ChatML prompt), ``data``
  (manifests to datasets), ``release`` (the released model's facts), ``hub`` (revisions and
  checkpoint formats), ``loss`` (the normalisation over the accumulation window and the weighting
  of text and audio), ``finetune`` (dtype, LoRA or full fine-tuning, the guard), ``trainer`` (the
  Trainer), ``generation`` (the request and saving its result), ``train`` (the run), ``model_card``,
  ``plots``, ``benchmark``, ``memory``, ``convert`` (checkpoints between the ports), ``tiny`` (the
  CPU demo's models, tokenizer and data), ``wav`` (WAV files in and out of the audio tokenizers),
  ``tiny_audio`` + ``demo_audio`` (the audio demo's tokenizers and clips), ``encode`` (filling the
  code cache before a launch).

Where to change what: the loss weighting is ``loss.normalized_loss`` (and the
``--text_loss_weight`` / ``--audio_loss_weight`` options); a new dataset format is a reader in
``manifest.py`` that yields the same ``Utterance`` records; what one port does differently lives
in its package, behind a ``Backend`` method.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> Any:
    """Run the recipe in this process; returns a ``RunResult`` (trainer, model, output folder)."""
    from .train import main as _main

    return _main(argv)


def cli(argv: list[str] | None = None) -> int:
    """The command-line entry point: a user error is one line and exit code 2; a torchrun or
    accelerate process then leaves its process group cleanly."""
    from .arguments import RecipeError

    try:
        result = main(argv)
    except (RecipeError, ImportError) as exc:
        sys.stderr.write(f"higgs_audio: {exc}\n")
        return 2
    _finish_distributed()
    return 0 if result is not None else 1


def _finish_distributed() -> None:
    # Leaving the interpreter with a live gloo/NCCL group can abort one rank while another is still
    # saving ("terminate called without an active exception"): wait for all, then tear it down.
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
