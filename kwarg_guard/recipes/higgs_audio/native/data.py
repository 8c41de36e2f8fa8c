"""The native port's data: transformers' ``HiggsAudioV2Processor`` layout, with the recipe's labels.

The layout is the processor's, reproduced without its audio tokenizer (codes go in, not
waveforms): each audio segment's codes get a stream bos and eos and the delay pattern the
release uses (codebook ``k`` starts ``k`` frames late), giving ``T + K + 1`` frames; the segment's
``<|AUDIO_OUT|>`` in the prompt becomes ``T + 2`` audio placeholders and ``K - 1`` delay
placeholders; ``audio_input_ids`` is (frames, K).

The labels are the recipe's, where the processor's are wrong for training:

* each codebook's own stream eos stays a target (the processor sets every eos to -100, so a model
  trained on its labels never learns to stop);
* a voice-cloning reference segment is embedded but not trained (the processor trains it);
* the text labels are the legacy model's: the target turn's ``<|audio_out_bos|>``,
  ``<|audio_eos|>`` and ``<|eot_id|>`` (the processor's would also train the prompt and the delay
  placeholders), so both ports train one loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data import UtteranceDataset
from ..loss import IGNORE_INDEX
from ..prompts import Prompt

__all__ = ["NativeCollator", "NativeDataset", "build_delay_pattern", "native_sample", "plain_codes"]


def build_delay_pattern(codes: torch.Tensor, bos: int, eos: int) -> torch.Tensor:
    """(K, T) codes -> (T + K + 1, K) frames: stream bos and eos added, codebook ``k`` delayed ``k``."""
    num_codebooks, frames = codes.shape
    stream = torch.cat([codes.new_full((num_codebooks, 1), bos), codes, codes.new_full((num_codebooks, 1), eos)], dim=1)
    length = frames + 2
    pattern = torch.full((num_codebooks, length + num_codebooks - 1), eos, dtype=torch.long)
    for codebook in range(num_codebooks):
        pattern[codebook, :codebook] = bos
        pattern[codebook, codebook : codebook + length] = stream[codebook]
    return pattern.T.contiguous()


def _segment_labels(pattern: torch.Tensor, frames: int, bos: int) -> torch.Tensor:
    labels = pattern.clone()
    labels[labels == bos] = IGNORE_INDEX
    for codebook in range(pattern.shape[1]):
        labels[codebook + frames + 2 :, codebook] = IGNORE_INDEX  # padding after the codebook's own eos
    return labels


def native_sample(prompt: Prompt, code_segments: list[np.ndarray], config: Any) -> dict[str, torch.Tensor]:
    """One sample: ``input_ids`` with placeholders, ``audio_input_ids`` (frames, K), ``audio_labels``."""
    if len(prompt.trained_segments) != len(code_segments):
        raise ValueError(
            f"{len(prompt.trained_segments)} audio placeholder(s) but {len(code_segments)} code segment(s)"
        )
    delays = config.num_codebooks - 1
    bos, eos = config.audio_stream_bos_id, config.audio_stream_eos_id
    segments = iter(zip(code_segments, prompt.trained_segments, strict=False))
    text_labels = prompt.label_ids if prompt.label_ids is not None else [IGNORE_INDEX] * len(prompt.input_ids)
    ids: list[int] = []
    label_ids: list[int] = []
    frames, labels = [], []
    for token, label in zip(prompt.input_ids, text_labels, strict=False):
        if token != config.audio_token_id:
            ids.append(token)
            label_ids.append(label)
            continue
        codes, trained = next(segments)
        pattern = build_delay_pattern(torch.as_tensor(np.asarray(codes), dtype=torch.long), bos, eos)
        ids += [config.audio_token_id] * (pattern.shape[0] - delays) + [config.audio_delay_token_id] * delays
        label_ids += [IGNORE_INDEX] * pattern.shape[0]  # audio positions are the audio head's
        frames.append(pattern)
        labels.append(
            _segment_labels(pattern, codes.shape[1], bos) if trained else torch.full_like(pattern, IGNORE_INDEX)
        )
    empty = torch.zeros((0, config.num_codebooks), dtype=torch.long)
    return {
        "input_ids": torch.tensor(ids, dtype=torch.long),
        "labels": torch.tensor(label_ids, dtype=torch.long),
        "audio_input_ids": torch.cat(frames) if frames else empty,
        "audio_labels": torch.cat(labels) if labels else empty,
    }


class NativeDataset(UtteranceDataset):
    """Utterances with their codes, as native samples (built fresh on each access)."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return native_sample(*self.prompt_and_codes(index), self.config)

    def positions(self, prompt: Prompt, segments: list[np.ndarray]) -> int:
        extra = self.config.num_codebooks  # bos + eos + delay - the placeholder itself
        return len(prompt.input_ids) + sum(s.shape[1] + extra for s in segments)


class NativeCollator:
    """Samples -> a batch: text right-padded with the pad token, frames with the stream eos."""

    def __init__(self, config: Any):
        self.config = config

    def __call__(self, samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        config = self.config
        batch = len(samples)
        text = max(len(s["input_ids"]) for s in samples)
        frames = max(len(s["audio_input_ids"]) for s in samples)
        num_codebooks = config.num_codebooks
        input_ids = torch.full((batch, text), config.pad_token_id, dtype=torch.long)
        labels = torch.full((batch, text), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((batch, text), dtype=torch.long)
        audio_input_ids = torch.full((batch, frames, num_codebooks), config.audio_stream_eos_id, dtype=torch.long)
        audio_input_ids_mask = torch.zeros((batch, frames), dtype=torch.bool)
        audio_labels = torch.full((batch, frames, num_codebooks), IGNORE_INDEX, dtype=torch.long)
        for row, sample in enumerate(samples):
            length, count = len(sample["input_ids"]), len(sample["audio_input_ids"])
            input_ids[row, :length] = sample["input_ids"]
            labels[row, :length] = sample["labels"]
            attention_mask[row, :length] = 1
            audio_input_ids[row, :count] = sample["audio_input_ids"]
            audio_input_ids_mask[row, :count] = True
            audio_labels[row, :count] = sample["audio_labels"]
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "audio_input_ids": audio_input_ids,
            "audio_input_ids_mask": audio_input_ids_mask,
            "audio_labels": audio_labels,
        }


def plain_codes(frames: torch.Tensor, bos: int, eos: int) -> np.ndarray:
    """Generated frames (n, K), delay-patterned, perhaps after a reference clip -> codes (K, T)."""
    num_codebooks = frames.shape[-1]
    starts = (frames == bos).all(-1).nonzero().flatten()
    frames = frames[int(starts[-1]) if len(starts) else 0 :]  # from the last all-bos frame: the new audio
    ends = (frames == eos).all(-1).nonzero().flatten()
    frames = frames[1 : int(ends[0]) if len(ends) else len(frames)]
    if frames.shape[0] < num_codebooks:
        return np.zeros((num_codebooks, 0), dtype=np.int64)
    width = frames.shape[0] - num_codebooks + 1
    codes = torch.stack([frames[k : k + width, k] for k in range(num_codebooks)])
    return codes.clamp(0, bos - 1).cpu().numpy().astype(np.int64)
