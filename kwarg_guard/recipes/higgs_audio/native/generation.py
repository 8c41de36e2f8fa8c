"""The native port's generation: the model's ``generate()`` with the serve engine's sampling
defaults; its repetition-aware sampling reads its window from the generation config.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from ..generation import GenerationRequest, GenerationResult
from ..prompts import build_prompt
from .data import native_sample, plain_codes

__all__ = ["generate_native"]


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
