"""The next-token loss HiggsAudioModel does not compute itself.

* Text: cross-entropy of ``logits[:, :-1]`` against ``expanded_labels[:, 1:]`` (the model merges
  ``label_ids`` with the audio positions, which are -100, but does not shift them).
* Audio: per codebook, ``audio_logits[:-1]`` against ``label_audio_ids[:, 1:]``. One shift over the
  concatenated segments is right because every segment's first label is -100 (the stream bos and
  the delay pattern's padding), so no target crosses from one segment into the next.

An unshifted audio loss asks each position to predict its own input: it falls to ~0 and the model
learns nothing useful (upstream issue #94). A part with no valid target contributes 0 with a
gradient of 0, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["LossParts", "higgs_audio_loss", "IGNORE_INDEX"]

IGNORE_INDEX = -100


@dataclass
class LossParts:
    total: torch.Tensor
    text: torch.Tensor
    audio: torch.Tensor
    per_codebook: list
    text_targets: int
    audio_targets: int


def _mean_ce(logits: torch.Tensor, targets: torch.Tensor) -> tuple:
    """Mean cross-entropy over targets != -100, and how many there were (0 -> a graph-connected 0)."""
    valid = int((targets != IGNORE_INDEX).sum())
    if valid == 0:
        return logits.sum() * 0.0, 0
    loss = F.cross_entropy(logits.float(), targets, ignore_index=IGNORE_INDEX, reduction="sum")
    return loss / valid, valid


def higgs_audio_loss(outputs, label_audio_ids, text_weight: float = 1.0, audio_weight: float = 1.0) -> LossParts:
    """Shifted text and audio cross-entropy from a HiggsAudioModel output.

    Args:
        outputs: the model output (``logits``, ``expanded_labels``, ``audio_logits``).
        label_audio_ids: (codebooks, audio_out_frames) from the collator, or ``None`` when the
            batch has no audio-out segment.
    """
    logits, labels = outputs.logits, outputs.expanded_labels
    if labels is None:
        raise ValueError("the model returned no expanded_labels: the batch needs labels (or label_ids)")
    text, text_targets = _mean_ce(
        logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1).to(logits.device)
    )
    audio_logits = outputs.audio_logits
    per_codebook, audio_targets = [], 0
    if audio_logits is not None and label_audio_ids is not None and label_audio_ids.numel() > 0:
        targets = label_audio_ids.to(audio_logits.device)
        for codebook in range(targets.shape[0]):
            loss, count = _mean_ce(audio_logits[:-1, codebook], targets[codebook, 1:])
            per_codebook.append(loss)
            audio_targets += count
        audio = torch.stack(per_codebook).mean() if audio_targets else per_codebook[0]
    else:
        audio = logits.sum() * 0.0
    return LossParts(text_weight * text + audio_weight * audio, text, audio, per_codebook, text_targets, audio_targets)
