"""The native port's loss sums: the shifted text and per-codebook audio cross-entropy of a
``HiggsAudioV2ForConditionalGeneration`` output.

The model's own loss is not used: it sums the codebooks' means (the legacy recipe counts every
target once), and it would be normalised by whatever the Trainer passes it as
``num_items_in_batch`` (a text-token count, for the audio too). So the labels stay out of the
forward and the sums are taken here, from the audio head's logits and, at the few labelled
positions only, the text head.
"""

from __future__ import annotations

from typing import Any

import torch

from ..loss import IGNORE_INDEX, LossSums, cross_entropy_sum

__all__ = ["native_loss_sums", "native_targets"]


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
