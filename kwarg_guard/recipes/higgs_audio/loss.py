"""The next-token loss, as sums over targets, normalised by how many targets a whole
gradient-accumulation window holds.

* Text: cross-entropy of the logits at position ``p`` against the text label at ``p + 1``.
* Audio: per codebook, the audio logits of frame ``f`` against the code of frame ``f + 1``. One
  shift over the concatenated segments is right because every segment's first label is -100
  (the stream bos and the delay pattern's padding), so no target crosses into the next segment.
* Each part is its summed cross-entropy divided by its number of targets over the window
  (text and audio counted separately, the approach transformers >= 4.46 takes for its own
  losses). So batch 4 x accumulation 1 and batch 1 x accumulation 4 make the same update, and
  the audio part is the mean over every codebook's targets, whatever the split.

An unshifted audio loss asks each position to predict its own input: it falls to ~0 and the model
learns nothing useful (upstream issue #94). A part with no target contributes 0 with a gradient of
0, never NaN. Only the labelled rows of the logits are upcast to fp32, never the whole
batch x length x vocabulary tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "IGNORE_INDEX",
    "LossParts",
    "LossSums",
    "Targets",
    "cross_entropy_sum",
    "higgs_audio_loss",
    "legacy_loss_sums",
    "legacy_targets",
    "normalized_loss",
]

IGNORE_INDEX = -100


@dataclass
class LossSums:
    """Summed cross-entropy and target counts of one micro-batch, per part and per codebook."""

    text: torch.Tensor
    text_targets: int
    audio: torch.Tensor
    audio_targets: int
    per_codebook: list[torch.Tensor] = field(default_factory=list)
    per_codebook_targets: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Targets:
    """Targets over what one update normalises by: a micro-batch, or a whole accumulation window.

    ``ranks`` is how many processes' batches were counted: DDP averages the gradients of the
    ranks, so a loss normalised by every rank's targets is multiplied back by their number.
    """

    text: int
    audio: int
    ranks: int = 1


def cross_entropy_sum(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the rows whose target is not -100, and how many there were.

    ``logits`` is (rows, classes) and ``targets`` (rows,); only the selected rows are upcast.
    """
    selected = targets != IGNORE_INDEX
    count = int(selected.sum())
    if count == 0:
        return logits.sum() * 0.0, 0  # a graph-connected zero: backward works, nothing moves
    return F.cross_entropy(logits[selected].float(), targets[selected], reduction="sum"), count


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


def normalized_loss(
    sums: LossSums, targets: Targets, text_weight: float = 1.0, audio_weight: float = 1.0
) -> torch.Tensor:
    """The loss to backpropagate: each part's sum over its targets in ``targets``."""
    loss = text_weight * sums.text / max(targets.text, 1) + audio_weight * sums.audio / max(targets.audio, 1)
    return loss * targets.ranks


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
