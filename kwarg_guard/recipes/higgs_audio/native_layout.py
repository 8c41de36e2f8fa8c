"""The native backend's data: transformers' ``HiggsAudioV2Processor`` layout, with the recipe's labels.

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

from .loss import IGNORE_INDEX, LossSums, cross_entropy_sum
from .prompts import Prompt, build_prompt

__all__ = [
    "NativeCollator",
    "NativeDataset",
    "build_delay_pattern",
    "native_loss_sums",
    "native_sample",
    "native_targets",
    "plain_codes",
]


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


class NativeDataset(torch.utils.data.Dataset):
    """Utterances with their codes, as native samples (built fresh on each access)."""

    def __init__(self, utterances: list, codes: list, tokenizer: Any, config: Any):
        if len(utterances) != len(codes):
            raise ValueError("one (target, reference) codes pair per utterance is needed")
        self.utterances, self.codes, self.tokenizer, self.config = utterances, codes, tokenizer, config

    def __len__(self) -> int:
        return len(self.utterances)

    def _prompt(self, index: int) -> tuple[Prompt, list[np.ndarray]]:
        utterance = self.utterances[index]
        target, reference = self.codes[index]
        prompt = build_prompt(self.tokenizer, utterance.text, utterance.scene, utterance.speaker, utterance.ref_text)
        return prompt, ([reference, target] if reference is not None else [target])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return native_sample(*self._prompt(index), self.config)

    @property
    def lengths(self) -> list[int]:
        """Positions the model processes per sample (for ``--group_by_length``)."""
        extra = self.config.num_codebooks  # bos + eos + delay - the placeholder itself
        result = []
        for index in range(len(self)):
            prompt, segments = self._prompt(index)
            result.append(len(prompt.input_ids) + sum(s.shape[1] + extra for s in segments))
        return result


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


def native_loss_sums(outputs: Any, batch: dict[str, torch.Tensor], model: Any) -> LossSums:
    """Summed cross-entropy of the text head and, per codebook, of the audio head; each position
    predicts the next.

    The model's ``logits`` are its audio head at every position, (B, L, K x codebook_size); the
    frame labels are placed at their placeholders, then shifted by one position, as the model's
    own loss does (but the model sums the codebooks' means; this counts every target once). The
    text head is applied to the last hidden state only at the few labelled positions, instead of
    a vocabulary-sized projection of every position.
    """
    config = model.config
    text, text_targets = _text_sums(outputs.hidden_states[-1], batch["labels"], model.text_lm_head)
    logits = outputs.logits
    rows, length, _ = logits.shape
    num_codebooks, codebook_size = config.num_codebooks, config.codebook_size
    input_ids = batch["input_ids"].to(logits.device)
    placeholders = (input_ids == config.audio_token_id) | (input_ids == config.audio_delay_token_id)
    positional = torch.full((rows, length, num_codebooks), IGNORE_INDEX, dtype=torch.long, device=logits.device)
    positional[placeholders] = batch["audio_labels"].to(logits.device)[batch["audio_input_ids_mask"].to(logits.device)]
    predictions = logits[:, :-1].reshape(rows, length - 1, num_codebooks, codebook_size)
    targets = positional[:, 1:]
    per_codebook, counts = [], []
    for codebook in range(num_codebooks):
        loss, count = cross_entropy_sum(
            predictions[:, :, codebook].reshape(-1, codebook_size), targets[:, :, codebook].reshape(-1)
        )
        per_codebook.append(loss)
        counts.append(count)
    return LossSums(text, text_targets, torch.stack(per_codebook).sum(), sum(counts), per_codebook, counts)


def _text_sums(hidden: torch.Tensor, labels: torch.Tensor, head: Any) -> tuple[torch.Tensor, int]:
    targets = labels[:, 1:].to(hidden.device)
    selected = targets != IGNORE_INDEX
    if head is None or not bool(selected.any()):
        return hidden.sum() * 0.0, 0  # no text head, or nothing to predict: a graph-connected zero
    return cross_entropy_sum(head(hidden[:, :-1][selected]), targets[selected])


def native_targets(batch: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(text, audio) targets of a native batch: every labelled position is predicted by the one before."""
    audio = batch["audio_labels"][batch["audio_input_ids_mask"]]
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum()), int((audio != IGNORE_INDEX).sum())


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
