"""The native backend's model: transformers' ``HiggsAudioV2ForConditionalGeneration`` (transformers 5).

* Loaded with its text head (``use_text_head=True``; transformers' default drops it silently).
  The native ``generate()`` does not use it: it derives the text tokens (audio, delay, end) from
  the audio stream. The recipe trains it anyway, on the legacy model's text targets, so both ports
  train one loss and a checkpoint converted to the legacy format (whose serve engine does predict
  text tokens with that head) keeps a head trained with the rest. It costs the head's projection
  at a few labelled positions per sample, not at every position.
* LoRA goes on the same groups as on the legacy model, by the native module names.
* Activation checkpointing is the model's own switch (its decoder layers are checkpointable).
* Generation is the model's ``generate()`` with the serve engine's sampling defaults; its
  repetition-aware sampling reads its window from the generation config.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import torch

from .generation import GenerationRequest, GenerationResult
from .model import resolve_dtype
from .native_layout import native_sample, plain_codes
from .prompts import build_prompt

__all__ = ["NATIVE_LORA_TARGETS", "enable_native_checkpointing", "generate_native", "load_native_model"]

LOGGER = logging.getLogger(__name__)

NATIVE_LORA_TARGETS = {
    "attention": r"model\.layers\.\d+\.self_attn\.(q_proj|k_proj|v_proj|o_proj)",
    "mlp": r"model\.layers\.\d+\.mlp\.(gate_proj|up_proj|down_proj)",
    "audio_ffn": r"model\.layers\.\d+\.audio_mlp\.(gate_proj|up_proj|down_proj)",
    "heads": r"(audio|text)_lm_head",
}


def load_native_model(model_args: Any, demo_seed: int | None = None, full_finetune: bool = False) -> Any:
    """The tiny random native model for the demo, else ``from_pretrained`` at the given revision."""
    if demo_seed is not None:
        from .tiny import tiny_native_model

        return tiny_native_model(demo_seed)
    from transformers import HiggsAudioV2ForConditionalGeneration

    dtype = resolve_dtype(model_args.torch_dtype, full_finetune)
    LOGGER.info("loading %s@%s in %s", model_args.model_name_or_path, model_args.model_revision or "main", dtype)
    return HiggsAudioV2ForConditionalGeneration.from_pretrained(
        model_args.model_name_or_path, revision=model_args.model_revision, dtype=dtype, use_text_head=True
    )


def enable_native_checkpointing(model: Any) -> int:
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return len(model.model.layers)


@torch.no_grad()
def generate_native(model: Any, tokenizer: Any, request: GenerationRequest) -> GenerationResult:
    """Generate audio codes with a ``HiggsAudioV2ForConditionalGeneration`` (LoRA layers included)."""
    config = model.config
    prompt = build_prompt(
        tokenizer, request.text, request.scene, request.speaker, request.ref_text, for_generation=True
    )
    segments = [request.ref_codes] if request.ref_codes is not None and request.ref_text else []
    sample = native_sample(prompt, segments, config)
    device = next(model.parameters()).device
    inputs = {"input_ids": sample["input_ids"][None].to(device)}
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    if segments:
        inputs["audio_input_ids"] = sample["audio_input_ids"][None].to(device)
        inputs["audio_input_ids_mask"] = torch.ones(
            inputs["audio_input_ids"].shape[:2], dtype=torch.bool, device=device
        )
    generation_config = copy.deepcopy(model.generation_config)
    sampling = request.temperature > 0
    generation_config.do_sample = sampling
    generation_config.temperature = request.temperature if sampling else None
    generation_config.top_p = request.top_p if sampling else None
    generation_config.top_k = request.top_k if sampling else None
    generation_config.max_new_tokens = request.frames(config.num_codebooks)
    generation_config.ras_win_len = request.ras_window or None
    generation_config.ras_win_max_num_repeat = request.ras_max_repeat
    if request.seed is not None:
        torch.manual_seed(request.seed)
    was_training = model.training
    model.eval()
    try:
        frames = model.generate(**inputs, generation_config=generation_config)
    finally:
        model.train(was_training)
    codes = plain_codes(frames[0], config.audio_stream_bos_id, config.audio_stream_eos_id)
    return GenerationResult(codes if codes.shape[1] else None, "", [frames[0].cpu()])
