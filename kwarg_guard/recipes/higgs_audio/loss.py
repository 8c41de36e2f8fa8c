"""The next-token loss, as sums over targets, normalised by how many targets a whole
gradient-accumulation window holds: the part both ports share. Each port computes its sums in
``legacy/loss.py`` or ``native/loss.py``; the weighting of the text and audio parts is here
(``normalized_loss``).

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

import torch
import torch.nn.functional as F

__all__ = ["IGNORE_INDEX", "LossSums", "TargetCounts", "cross_entropy_sum", "normalized_loss"]

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
class TargetCounts:
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


def normalized_loss(
    sums: LossSums, targets: TargetCounts, text_weight: float = 1.0, audio_weight: float = 1.0
) -> torch.Tensor:
    """The loss to backpropagate: each part's sum over its targets in ``targets``."""
    loss = text_weight * sums.text / max(targets.text, 1) + audio_weight * sums.audio / max(targets.audio, 1)
    return loss * targets.ranks
