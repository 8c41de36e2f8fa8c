"""The legacy port's data: ChatML prompts (``prompts.py``) and codes, as the
``ChatMLDatasetSample`` objects boson_multimodal's collator takes, and that official
``HiggsAudioSampleCollator`` as the Trainer's data collator.

``start_index`` semantics are those of the official ``prepare_chatml_sample``: only the last
turn is labelled, and the collator turns an unlabelled ``<|AUDIO_OUT|>`` into a segment with no
audio labels, which keeps a voice-cloning reference out of the loss.

The collator's ``HiggsAudioBatchInput`` dataclass becomes a dict of tensors (``None`` fields
dropped). Text labels are handed out as ``labels``, the name a Trainer-style batch uses; the
``higgs_audio`` preset remaps them to the model's ``label_ids`` (that rename is what PEFT's
CAUSAL_LM wrapper needs to be guarded against, so the recipe exercises it on every step).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data import UtteranceDataset
from ..prompts import Prompt

__all__ = [
    "HiggsAudioBatcher",
    "HiggsAudioDataset",
    "legacy_length",
    "make_collator",
    "sample_from_prompt",
]


def sample_from_prompt(prompt: Prompt, code_segments: list[np.ndarray]) -> Any:
    """A fresh ``ChatMLDatasetSample``; ``code_segments`` are (codebooks, frames) arrays, one per
    audio placeholder in order."""
    from boson_multimodal.dataset.chatml_dataset import ChatMLDatasetSample

    if len(prompt.trained_segments) != len(code_segments):
        raise ValueError(
            f"{len(prompt.trained_segments)} audio placeholder(s) but {len(code_segments)} code segment(s)"
        )
    if code_segments:
        lengths = [segment.shape[1] for segment in code_segments]
        audio_ids_concat = torch.from_numpy(np.concatenate(code_segments, axis=1)).long()
        audio_ids_start = torch.tensor(np.cumsum([0, *lengths[:-1]]), dtype=torch.long)
    else:
        audio_ids_concat = torch.zeros((0, 0), dtype=torch.long)
        audio_ids_start = torch.zeros(0, dtype=torch.long)
    return ChatMLDatasetSample(
        input_ids=torch.tensor(prompt.input_ids, dtype=torch.long),
        label_ids=torch.tensor(prompt.label_ids, dtype=torch.long) if prompt.label_ids is not None else None,
        audio_ids_concat=audio_ids_concat,
        audio_ids_start=audio_ids_start,
        audio_waveforms_concat=torch.zeros(0),
        audio_waveforms_start=torch.zeros(0, dtype=torch.long),
        audio_sample_rate=torch.zeros(0),
        audio_speaker_indices=torch.zeros(0, dtype=torch.long),
    )


def legacy_length(prompt_tokens: int, segment_frames: list[int], num_codebooks: int, delay: bool) -> int:
    """Positions the legacy model processes: each placeholder becomes bos + frames + eos (plus the
    delay pattern's columns)."""
    extra = 2 + (num_codebooks - 1 if delay else 0)
    return prompt_tokens - len(segment_frames) + sum(frames + extra for frames in segment_frames)


class HiggsAudioDataset(UtteranceDataset):
    """Utterances with their codes, turned into samples *fresh on every access*.

    The official collator writes -100 into ``label_ids`` at ``<|AUDIO_OUT|>`` in place; a
    dataset that handed out the same sample objects again would lose every audio label from the
    second epoch on (the audio loss turns NaN and a stock Trainer log shows 0.0).
    """

    def __getitem__(self, index: int) -> Any:
        return sample_from_prompt(*self.prompt_and_codes(index))

    def positions(self, prompt: Prompt, segments: list[np.ndarray]) -> int:
        config = self.config
        num_codebooks = getattr(config, "audio_num_codebooks", 8)
        delay = getattr(config, "use_delay_pattern", True)
        return legacy_length(len(prompt.input_ids), [s.shape[1] for s in segments], num_codebooks, delay)


def make_collator(config, *, for_generation: bool = False):
    """The collator configured from the model config, as the serve engine does for inference."""
    from boson_multimodal.data_collator.higgs_audio_collator import HiggsAudioSampleCollator

    if config.encode_whisper_embed:
        raise ValueError(
            "this recipe trains with encode_whisper_embed=False (audio-in as codes); the released "
            "checkpoint's config already has it off"
        )
    return HiggsAudioSampleCollator(
        whisper_processor=None,
        encode_whisper_embed=False,
        audio_in_token_id=config.audio_in_token_idx,
        audio_out_token_id=config.audio_out_token_idx,
        audio_stream_bos_id=config.audio_stream_bos_id,
        audio_stream_eos_id=config.audio_stream_eos_id,
        pad_token_id=config.pad_token_id,
        return_audio_in_tokens=not for_generation,
        use_delay_pattern=config.use_delay_pattern,
        audio_num_codebooks=config.audio_num_codebooks,
        round_to=1 if for_generation else 8,
    )


class HiggsAudioBatcher:
    """Callable collator: samples -> dict for ``model(**batch)``."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, samples: list) -> dict:
        batch = {key: value for key, value in vars(self.collator(samples)).items() if value is not None}
        if "label_ids" in batch:
            batch["labels"] = batch.pop("label_ids")
        reward = batch.get("reward")
        if reward is not None and reward.numel() == 0:
            del batch["reward"]
        return batch
