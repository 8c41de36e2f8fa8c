"""The legacy port's generation, the way the official serve engine generates:

* the prompt is the training prompt without the target, ending with ``<|audio_out_bos|>``; a
  reference clip goes in as an assistant turn, as in the serve engine's voice cloning;
* sampling defaults are the serve engine's: temperature 0.7, top-p 0.95, no top-k,
  repetition-aware sampling over a 7-frame window with at most 2 repeats;
* KV caches are ``StaticCache`` buckets like the serve engine's (1024, 4096), plus one that holds
  the whole prompt (reference audio included) and every new frame, so a long reference cannot
  run past the last bucket;
* the returned audio carries the delay pattern and the stream bos/eos, removed before saving.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch

from ..generation import GenerationRequest, GenerationResult
from ..prompts import build_prompt
from .data import HiggsAudioBatcher, make_collator, sample_from_prompt

__all__ = ["SERVE_ENGINE_BUCKETS", "generate_audio_codes"]

SERVE_ENGINE_BUCKETS = (1024, 4096, 8192)
_BUCKET_STEP = 256


def _buckets(needed: int) -> list[int]:
    last = math.ceil(needed / _BUCKET_STEP) * _BUCKET_STEP
    return [size for size in SERVE_ENGINE_BUCKETS if size < last] + [last]


def _kv_caches(config: Any, device: Any, dtype: torch.dtype, needed: int) -> dict[int, Any]:
    from transformers.cache_utils import StaticCache

    cache_config = copy.deepcopy(config.text_config)
    cache_config.num_hidden_layers = config.text_config.num_hidden_layers + len(config.audio_dual_ffn_layers or [])
    return {
        length: StaticCache(config=cache_config, batch_size=1, max_cache_len=length, device=device, dtype=dtype)
        for length in _buckets(needed)
    }


@torch.no_grad()
def generate_audio_codes(
    model: Any, tokenizer: Any, request: GenerationRequest | str, **legacy_options: Any
) -> GenerationResult:
    """Generate audio codes with a boson_multimodal ``HiggsAudioModel`` (LoRA layers included).

    ``request`` may be the text alone; keyword options then fill a ``GenerationRequest``.
    """
    if isinstance(request, str):
        request = GenerationRequest(request, **legacy_options)
    config = model.config
    prompt = build_prompt(
        tokenizer, request.text, request.scene, request.speaker, request.ref_text, for_generation=True
    )
    segments = [request.ref_codes] if request.ref_codes is not None and request.ref_text else []
    sample = sample_from_prompt(prompt, segments)
    batch = HiggsAudioBatcher(make_collator(config, for_generation=True))([sample])
    device = next(model.parameters()).device
    batch = {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}
    frames = request.frames(config.audio_num_codebooks)
    audio_positions = batch["audio_out_ids"].shape[1] if "audio_out_ids" in batch else 0
    needed = batch["input_ids"].shape[1] - len(segments) + audio_positions + frames
    model.set_audio_special_tokens(tokenizer)
    sampling = request.temperature > 0
    was_training = model.training
    model.eval()
    try:
        outputs = model.generate(
            **batch,
            max_new_tokens=frames,
            use_cache=True,
            stop_strings=["<|end_of_text|>", "<|eot_id|>"],
            tokenizer=tokenizer,
            do_sample=sampling,
            temperature=request.temperature if sampling else None,
            top_p=request.top_p if sampling else None,
            top_k=request.top_k if sampling else None,
            ras_win_len=request.ras_window or None,
            ras_win_max_num_repeat=request.ras_max_repeat,
            past_key_values_buckets=_kv_caches(config, device, next(model.parameters()).dtype, needed),
            seed=request.seed,
        )
    finally:
        model.train(was_training)
    text_ids, audio_segments = outputs[0], outputs[1]
    generated_text = tokenizer.decode(text_ids[0, batch["input_ids"].shape[1] :])
    # The reference is given back first; the new audio is the last segment.
    new_segments = list(audio_segments)[len(segments) :]
    codes = [_plain_codes(segment, config.audio_codebook_size) for segment in new_segments]
    codes = [c for c in codes if c.shape[1] > 0]
    return GenerationResult(np.concatenate(codes, axis=1) if codes else None, generated_text, new_segments)


def _plain_codes(segment: torch.Tensor, codebook_size: int) -> np.ndarray:
    from boson_multimodal.model.higgs_audio.utils import revert_delay_pattern

    return revert_delay_pattern(segment.cpu()).clip(0, codebook_size - 1)[:, 1:-1].numpy()
