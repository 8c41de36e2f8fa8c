"""The stock Trainer, told how to compute Higgs Audio's loss and to log its parts.

HiggsAudioModel returns logits but no loss, so ``compute_loss`` is the one method overridden;
``log`` adds the averaged ``text_loss``, ``audio_loss`` and per-codebook losses since the last log
to the entry the Trainer writes (and so to ``trainer_state.json``'s log history). Everything
else — the loop, DDP/FSDP/DeepSpeed, checkpoints, resume, progress bars, TensorBoard — is the
Trainer's own.
"""

from __future__ import annotations

from collections import defaultdict

from transformers import Trainer

from .loss import higgs_audio_loss

__all__ = ["HiggsAudioTrainer"]


class HiggsAudioTrainer(Trainer):
    def __init__(self, *args, text_loss_weight: float = 1.0, audio_loss_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.text_loss_weight = text_loss_weight
        self.audio_loss_weight = audio_loss_weight
        self._part_sums: dict = defaultdict(float)
        self._part_counts: dict = defaultdict(int)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        outputs = model(**inputs)
        parts = higgs_audio_loss(
            outputs, inputs.get("label_audio_ids"), text_weight=self.text_loss_weight, audio_weight=self.audio_loss_weight
        )
        if model.training:
            self._remember("text_loss", parts.text, parts.text_targets)
            self._remember("audio_loss", parts.audio, parts.audio_targets)
            for index, loss in enumerate(parts.per_codebook):
                self._remember(f"audio_loss_codebook_{index}", loss, parts.audio_targets)
        return (parts.total, outputs) if return_outputs else parts.total

    def _remember(self, name, value, targets):
        if targets:  # a part with no targets this step says nothing about the model
            self._part_sums[name] += float(value.detach())
            self._part_counts[name] += 1

    def log(self, logs, *args, **kwargs):
        if "loss" in logs:
            for name, total in self._part_sums.items():
                logs[name] = round(total / self._part_counts[name], 6)
            self._part_sums.clear()
            self._part_counts.clear()
        super().log(logs, *args, **kwargs)
