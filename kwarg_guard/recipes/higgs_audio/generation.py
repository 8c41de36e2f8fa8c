"""A short generation with the fine-tuned model, the way the official serve engine does it.

The prompt ends with ``<|audio_out_bos|>`` so the model generates audio; the collator prepares the
one-sample batch (``round_to=1``, no audio-in tokens); KV caches are ``StaticCache`` buckets sized
for ``num_hidden_layers + len(audio_dual_ffn_layers)``. The returned audio segments carry the delay
pattern and the stream bos/eos, which are removed before decoding.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .batching import HiggsAudioBatcher, make_collator
from .samples import build_sample, chatml_messages

__all__ = ["GenerationResult", "generate_audio_codes", "save_generation"]

ASSISTANT_AUDIO_PREFIX = "<|start_header_id|>assistant<|end_header_id|>\n\n<|audio_out_bos|>"


@dataclass
class GenerationResult:
    codes: np.ndarray | None  # (codebooks, frames), delay pattern and stream bos/eos removed
    text: str
    raw_segments: list


def _kv_caches(config, device, dtype, lengths=(256, 1024)):
    from transformers.cache_utils import StaticCache

    cache_config = copy.deepcopy(config.text_config)
    cache_config.num_hidden_layers = config.text_config.num_hidden_layers + len(config.audio_dual_ffn_layers or [])
    return {
        length: StaticCache(config=cache_config, max_batch_size=1, max_cache_len=length, device=device, dtype=dtype)
        for length in sorted(lengths)
    }


@torch.no_grad()
def generate_audio_codes(
    model, tokenizer, text: str, scene=None, speaker=None, ref_text=None, ref_codes=None,
    max_new_tokens: int = 64, temperature: float = 0.0, seed: int = 0,
) -> GenerationResult:
    """Generate audio codes for ``text`` with ``model`` (a HiggsAudioModel, LoRA layers included)."""
    config = model.config
    messages, _ = chatml_messages(text, scene, speaker, ref_text, with_target=False)
    segments = [ref_codes] if ref_codes is not None else []
    sample = build_sample(tokenizer, messages, None, segments, with_labels=False)
    prefix = tokenizer.encode(ASSISTANT_AUDIO_PREFIX, add_special_tokens=False)
    sample.input_ids = torch.cat([sample.input_ids, torch.tensor(prefix, dtype=torch.long)])
    batch = HiggsAudioBatcher(make_collator(config, for_generation=True))([sample])
    device = next(model.parameters()).device
    batch = {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}
    model.set_audio_special_tokens(tokenizer)
    was_training = model.training
    model.eval()
    try:
        outputs = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            use_cache=True,
            stop_strings=["<|end_of_text|>", "<|eot_id|>"],
            tokenizer=tokenizer,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else None,
            past_key_values_buckets=_kv_caches(config, device, next(model.parameters()).dtype),
            seed=seed,
        )
    finally:
        model.train(was_training)
    text_ids, audio_segments = outputs[0], outputs[1]
    generated_text = tokenizer.decode(text_ids[0, batch["input_ids"].shape[1]:])
    codes = [_plain_codes(segment, config.audio_codebook_size) for segment in audio_segments]
    codes = [c for c in codes if c.shape[1] > 0]
    return GenerationResult(np.concatenate(codes, axis=1) if codes else None, generated_text, list(audio_segments))


def _plain_codes(segment: torch.Tensor, codebook_size: int) -> np.ndarray:
    from boson_multimodal.model.higgs_audio.utils import revert_delay_pattern

    return revert_delay_pattern(segment.cpu()).clip(0, codebook_size - 1)[:, 1:-1].numpy()


def save_generation(result: GenerationResult, folder, decoder=None) -> list:
    """Write ``generated_codes.npy`` and, when an audio decoder is available, ``generated.wav``."""
    folder = Path(folder)
    written = []
    if result.codes is None:
        return written
    np.save(folder / "generated_codes.npy", result.codes)
    written.append(folder / "generated_codes.npy")
    if decoder is not None:
        import soundfile

        waveform = decoder.decode(result.codes)
        soundfile.write(folder / "generated.wav", np.asarray(waveform, dtype=np.float32), decoder.sampling_rate)
        written.append(folder / "generated.wav")
    return written
