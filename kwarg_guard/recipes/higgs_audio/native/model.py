"""The native port's model: transformers' ``HiggsAudioV2ForConditionalGeneration`` (transformers 5).

* Loaded with its text head (``use_text_head=True``; transformers' default drops it silently).
  The native ``generate()`` does not use it: it derives the text tokens (audio, delay, end) from
  the audio stream. The recipe trains it anyway, on the legacy model's text targets, so both ports
  train one loss and a checkpoint converted to the legacy format (whose serve engine does predict
  text tokens with that head) keeps a head trained with the rest. It costs the head's projection
  at a few labelled positions per sample, not at every position.
* LoRA goes on the same groups as on the legacy model, by the native module names.
* Activation checkpointing is the model's own switch (its decoder layers are checkpointable).
"""

from __future__ import annotations

import logging
from typing import Any

from ..finetune import resolve_dtype

__all__ = ["LORA_TARGETS", "enable_checkpointing", "load_model", "model_from_config"]

LOGGER = logging.getLogger(__name__)

LORA_TARGETS = {
    "attention": r"model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    "mlp": r"model\.layers\.\d+\.mlp\.(gate_proj|up_proj|down_proj)",
    "audio_ffn": r"model\.layers\.\d+\.audio_mlp\.(gate_proj|up_proj|down_proj)",
    "heads": r"(audio|text)_lm_head",
}


def load_model(model_args: Any, demo_seed: int | None = None, full_finetune: bool = False) -> Any:
    """The tiny random native model for the demo, else ``from_pretrained`` at the given revision."""
    if demo_seed is not None:
        from ..tiny import tiny_native_model

        return tiny_native_model(demo_seed)
    from transformers import HiggsAudioV2ForConditionalGeneration

    dtype = resolve_dtype(model_args.torch_dtype, full_finetune)
    LOGGER.info("loading %s@%s in %s", model_args.model_name_or_path, model_args.model_revision or "main", dtype)
    return HiggsAudioV2ForConditionalGeneration.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, dtype=dtype, use_text_head=True
    )


def enable_checkpointing(model: Any) -> int:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return len(model.model.layers)


def model_from_config(config: Any) -> Any:
    """A randomly initialised model of ``config`` with its text head (benchmarks and memory estimates)."""
    from transformers import HiggsAudioV2ForConditionalGeneration

    return HiggsAudioV2ForConditionalGeneration(config, use_text_head=True)
