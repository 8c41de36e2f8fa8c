"""The legacy backend's training dataset: ChatML prompts (``prompts.py``) and codes, as the
``ChatMLDatasetSample`` objects boson_multimodal's collator takes.

``start_index`` semantics are those of the official ``prepare_chatml_sample``: only the last
turn is labelled, and the collator turns an unlabelled ``<|AUDIO_OUT|>`` into a segment with no
audio labels, which keeps a voice-cloning reference out of the loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .prompts import Prompt, build_prompt, system_prompt

__all__ = ["HiggsAudioDataset", "build_sample", "legacy_length", "sample_from_prompt", "system_prompt"]


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


def build_sample(
    tokenizer: Any,
    text: str,
    code_segments: list[np.ndarray],
    scene: str | None = None,
    speaker: str | None = None,
    ref_text: str | None = None,
) -> Any:
    """The training sample of one utterance (reference codes first when there is one)."""
    return sample_from_prompt(build_prompt(tokenizer, text, scene, speaker, ref_text), code_segments)


def legacy_length(prompt_tokens: int, segment_frames: list[int], num_codebooks: int, delay: bool) -> int:
    """Positions the legacy model processes: each placeholder becomes bos + frames + eos (plus the
    delay pattern's columns)."""
    extra = 2 + (num_codebooks - 1 if delay else 0)
    return prompt_tokens - len(segment_frames) + sum(frames + extra for frames in segment_frames)


class HiggsAudioDataset(torch.utils.data.Dataset):
    """Utterances with their codes, turned into samples *fresh on every access*.

    The official collator writes -100 into ``label_ids`` at ``<|AUDIO_OUT|>`` in place; a
    dataset that handed out the same sample objects again would lose every audio label from the
    second epoch on (the audio loss turns NaN and a stock Trainer log shows 0.0).
    """

    def __init__(self, utterances: list, codes: list, tokenizer: Any, config: Any = None):
        if len(utterances) != len(codes):
            raise ValueError("one (target, reference) codes pair per utterance is needed")
        self.utterances = utterances
        self.codes = codes
        self.tokenizer = tokenizer
        self.config = config

    def __len__(self) -> int:
        return len(self.utterances)

    def _prompt(self, index: int) -> tuple[Prompt, list[np.ndarray]]:
        utterance = self.utterances[index]
        target, reference = self.codes[index]
        prompt = build_prompt(self.tokenizer, utterance.text, utterance.scene, utterance.speaker, utterance.ref_text)
        return prompt, ([reference, target] if reference is not None else [target])

    def __getitem__(self, index: int) -> Any:
        return sample_from_prompt(*self._prompt(index))

    @property
    def lengths(self) -> list[int]:
        """Positions the model processes per sample (for ``--group_by_length``)."""
        config = self.config
        num_codebooks = getattr(config, "audio_num_codebooks", 8)
        delay = getattr(config, "use_delay_pattern", True)
        result = []
        for index in range(len(self)):
            prompt, segments = self._prompt(index)
            result.append(legacy_length(len(prompt.input_ids), [s.shape[1] for s in segments], num_codebooks, delay))
        return result
