"""The legacy port's loss sums: boson_multimodal's ``HiggsAudioModel`` computes no loss, so the
shifted text and per-codebook audio cross-entropy are taken from its output here.

* Text: cross-entropy of the logits at position ``p`` against the text label at ``p + 1``.
* Audio: per codebook, the audio logits of frame ``f`` against the code of frame ``f + 1``. One
  shift over the concatenated segments is right because every segment's first label is -100
  (the stream bos and the delay pattern's padding), so no target crosses into the next segment.

An unshifted audio loss asks each position to predict its own input: it falls to ~0 and the model
learns nothing useful (upstream issue #94).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..loss import IGNORE_INDEX, LossSums, cross_entropy_sum

__all__ = ["LossParts", "higgs_audio_loss", "legacy_loss_sums", "legacy_targets"]


def legacy_loss_sums(outputs: Any, label_audio_ids: torch.Tensor | None) -> LossSums:
    """Loss sums of a boson_multimodal ``HiggsAudioModel`` output.

    Args:
        outputs: the model output (``logits``, ``expanded_labels``, ``audio_logits``).
        label_audio_ids: (codebooks, audio_out_frames) from the collator, or ``None`` when the
            batch has no audio-out segment.
    """
    logits, labels = outputs.logits, outputs.expanded_labels
    if labels is None:
        raise ValueError("the model returned no expanded_labels: the batch needs labels (or label_ids)")
    text, text_targets = cross_entropy_sum(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1).to(logits.device)
    )
    audio_logits = outputs.audio_logits
    per_codebook, per_codebook_targets = [], []
    if audio_logits is not None and label_audio_ids is not None and label_audio_ids.numel() > 0:
        targets = label_audio_ids.to(audio_logits.device)
        for codebook in range(targets.shape[0]):
            loss, count = cross_entropy_sum(audio_logits[:-1, codebook], targets[codebook, 1:])
            per_codebook.append(loss)
            per_codebook_targets.append(count)
    audio = torch.stack(per_codebook).sum() if per_codebook else logits.sum() * 0.0
    return LossSums(text, text_targets, audio, sum(per_codebook_targets), per_codebook, per_codebook_targets)


def legacy_targets(batch: dict[str, Any]) -> tuple[int, int]:
    """(text, audio) targets a legacy batch holds, as the shifted loss counts them, without a forward.

    Position 0 of every text row is -100 (``<|begin_of_text|>``), and the model only adds -100 at
    the audio positions it merges in, so the batch's own labels count the text targets.
    """
    labels = batch.get("labels")
    text = int((labels[:, 1:] != IGNORE_INDEX).sum()) if labels is not None else 0
    audio_labels = batch.get("label_audio_ids")
    audio = int((audio_labels[:, 1:] != IGNORE_INDEX).sum()) if audio_labels is not None and audio_labels.numel() else 0
    return text, audio


@dataclass
class LossParts:
    """One batch's loss and its parts, each a mean over the batch's own targets."""

    total: torch.Tensor
    text: torch.Tensor
    audio: torch.Tensor
    per_codebook: list[torch.Tensor]
    text_targets: int
    audio_targets: int


def higgs_audio_loss(
    outputs: Any, label_audio_ids: torch.Tensor | None, text_weight: float = 1.0, audio_weight: float = 1.0
) -> LossParts:
    """Shifted text and audio cross-entropy of one ``HiggsAudioModel`` output, as means over the
    batch's own targets (for a training loop without accumulation, or for inspection)."""
    sums = legacy_loss_sums(outputs, label_audio_ids)
    text = sums.text / max(sums.text_targets, 1)
    audio = sums.audio / max(sums.audio_targets, 1)
    per_codebook = [s / max(n, 1) for s, n in zip(sums.per_codebook, sums.per_codebook_targets, strict=False)]
    return LossParts(
        text_weight * text + audio_weight * audio, text, audio, per_codebook, sums.text_targets, sums.audio_targets
    )
