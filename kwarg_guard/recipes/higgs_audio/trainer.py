"""The stock Trainer, told how to compute Higgs Audio's loss, normalise it over the accumulation
window, log its parts, and group samples by length.

* ``get_batch_samples`` counts the text and audio targets of every micro-batch of an update (and,
  under DDP, of every rank) before the first forward; ``compute_loss`` divides each part's summed
  cross-entropy by those counts. The Trainer is told the loss is already normalised, so it does
  not divide by the accumulation steps again (see ``loss.py``).
* ``log`` adds ``text_loss``, ``audio_loss`` and ``audio_loss_codebook_N``, averaged over the
  targets of every step since the last log and over every rank; evaluation adds
  ``eval_text_loss`` and ``eval_audio_loss``, and with ``--eval_generate`` ``eval_wer``, ``eval_cer``
  and ``eval_speaker_similarity`` (``eval_generation.py``), and TensorBoard gains the generated clips
  (``tensorboard_audio.py``).
* ``--group_by_length`` uses the dataset's ``lengths`` (positions the model processes), read from
  the manifest without building the samples.

Everything else (the loop, DDP/FSDP/DeepSpeed, checkpoints, resume, progress bars, evaluation,
``load_best_model_at_end``) is the Trainer's own.

Upgrade risk: four of the methods overridden here are the Trainer's internals, not its documented
extension points (``get_batch_samples``, ``_get_num_items_in_batch``, ``_get_train_sampler``, and
``evaluation_loop``'s positional arguments), and the object this Trainer passes through
``num_items_in_batch`` is its own ``TargetCounts``. A transformers release that renames one of them,
or stops handing ``get_batch_samples``'s second value to ``compute_loss``, would not fail: the
loss would silently be normalised per micro-batch again. So the contract is checked: each
overridden method must exist on the Trainer (``check_trainer_contract``, at construction), and a
training step whose ``num_items_in_batch`` is not a ``TargetCounts`` raises.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler

from .loss import LossSums, TargetCounts, normalized_loss
from .tensorboard_audio import add_tensorboard_audio

__all__ = ["HiggsAudioTrainer", "TrainerContractError", "check_trainer_contract"]

# Trainer internals overridden below, and the parameters this class relies on (by name, in order
# for the positional ones); transformers 4.46 and 5.x both have them.
_OVERRIDDEN = {
    "get_batch_samples": ("epoch_iterator", "num_batches"),
    "evaluation_loop": ("dataloader", "description", "prediction_loss_only", "ignore_keys", "metric_key_prefix"),
    "_get_train_sampler": (),
    "compute_loss": ("model", "inputs", "return_outputs", "num_items_in_batch"),
}
# Position of ``metric_key_prefix`` among evaluation_loop's arguments after ``self``.
_METRIC_KEY_PREFIX = _OVERRIDDEN["evaluation_loop"].index("metric_key_prefix")


class TrainerContractError(RuntimeError):
    """The installed transformers' Trainer no longer calls this recipe's overrides as it expects."""


def check_trainer_contract(trainer_class: type = Trainer) -> None:
    """Fail loudly when a Trainer internal this recipe overrides is gone or takes other arguments.

    Raises:
        TrainerContractError: naming the method and what changed.
    """
    import inspect

    import transformers

    for name, expected in _OVERRIDDEN.items():
        method = getattr(trainer_class, name, None)
        if method is None:
            raise TrainerContractError(
                f"transformers {transformers.__version__}'s Trainer has no {name}(); HiggsAudioTrainer overrides it "
                "to normalise the loss over the accumulation window: update the recipe's trainer.py for this release"
            )
        parameters = [p for p in inspect.signature(method).parameters if p != "self"]
        if parameters[: len(expected)] != list(expected):
            raise TrainerContractError(
                f"transformers {transformers.__version__}'s Trainer.{name}{tuple(parameters)} no longer starts with "
                f"{expected}: update the recipe's trainer.py for this release"
            )


class _PartSums:
    """Summed losses and targets per part since the last log."""

    def __init__(self) -> None:
        self.totals: dict[str, list[float]] = {}

    def add(self, sums: LossSums) -> None:
        pieces = {"text_loss": (sums.text, sums.text_targets), "audio_loss": (sums.audio, sums.audio_targets)}
        for index, (loss, count) in enumerate(zip(sums.per_codebook, sums.per_codebook_targets, strict=False)):
            pieces[f"audio_loss_codebook_{index}"] = (loss, count)
        for name, (loss, count) in pieces.items():
            total = self.totals.setdefault(name, [0.0, 0.0])
            total[0] += float(loss.detach())
            total[1] += count

    def averages(self, reduce: Any, prefix: str = "") -> dict[str, float]:
        """Per-part means over every target seen (on every rank: ``reduce`` sums across them)."""
        names = sorted(self.totals)
        if not names:
            return {}
        summed = reduce(torch.tensor([self.totals[name] for name in names], dtype=torch.float64))
        return {
            f"{prefix}{name}": round(float(loss / count), 6)
            for name, (loss, count) in zip(names, summed.tolist(), strict=False)
            if count
        }


class HiggsAudioTrainer(Trainer):
    def __init__(
        self,
        *args: Any,
        backend: Any,
        text_loss_weight: float = 1.0,
        audio_loss_weight: float = 1.0,
        eval_generation: Any = None,
        **kwargs: Any,
    ):
        check_trainer_contract()
        super().__init__(*args, **kwargs)
        self.backend = backend
        # --eval_generate's hook (eval_generation.EvalGeneration): model -> generated-speech metrics.
        self.eval_generation = eval_generation
        add_tensorboard_audio(self, eval_generation)
        self.text_loss_weight = text_loss_weight
        self.audio_loss_weight = audio_loss_weight
        # compute_loss normalises over the whole window itself: the Trainer must not divide by the
        # accumulation steps again (it does unless it believes the loss takes num_items_in_batch).
        self.model_accepts_loss_kwargs = True
        self._train_parts = _PartSums()
        self._eval_parts = _PartSums()

    # transformers 5 types the second value as a count (4.46 leaves it untyped); the Trainer passes
    # it on to compute_loss, reading it only to see that it is not None, so a TargetCounts fits.
    def get_batch_samples(  # type: ignore[override]
        self, epoch_iterator: Any, num_batches: int, *args: Any, **kwargs: Any
    ) -> tuple[list, TargetCounts]:
        """The micro-batches of one update, and the targets they hold on every rank.

        Overrides a Trainer internal (4.46: ``(epoch_iterator, num_batches)``, 5.x adds
        ``device``); the Trainer hands the second value to every ``compute_loss`` of the update.
        """
        batches = []
        for _ in range(num_batches):
            try:
                batches.append(next(epoch_iterator))
            except StopIteration:
                break
        counts = torch.tensor([self.backend.count_targets(batch) for batch in batches] or [(0, 0)]).sum(0)
        ranks = self.args.world_size
        if ranks > 1:
            counts = self.accelerator.reduce(counts.to(self.args.device), "sum").cpu()
        return batches, TargetCounts(int(counts[0]), int(counts[1]), ranks)

    def _get_num_items_in_batch(self, batch_samples: list, device: Any) -> None:
        # A Trainer internal (transformers 5): asked of every evaluation batch, whose loss
        # compute_loss normalises by the batch's own targets. 4.46 has no such method.
        return None

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        if model.training and not isinstance(num_items_in_batch, TargetCounts):
            # Training steps get the TargetCounts that get_batch_samples returned; anything else means
            # the Trainer no longer calls it, and the loss would be mis-scaled without a word.
            raise TrainerContractError(
                f"a training step got num_items_in_batch={type(num_items_in_batch).__name__}, not the TargetCounts "
                "HiggsAudioTrainer.get_batch_samples returns: this transformers release no longer calls it; "
                "update the recipe's trainer.py"
            )
        sums, outputs = self.backend.loss_sums(model, inputs)
        targets = (
            num_items_in_batch
            if isinstance(num_items_in_batch, TargetCounts)
            else TargetCounts(sums.text_targets, sums.audio_targets)
        )
        loss = normalized_loss(sums, targets, self.text_loss_weight, self.audio_loss_weight)
        (self._train_parts if model.training else self._eval_parts).add(sums)
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:
            logs.update(self._train_parts.averages(self._sum_over_ranks))
            self._train_parts = _PartSums()
        super().log(logs, *args, **kwargs)

    def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
        # A Trainer internal; the Trainer passes metric_key_prefix by position or by keyword
        # depending on the release, hence the position checked in check_trainer_contract.
        self._eval_parts = _PartSums()
        output = super().evaluation_loop(*args, **kwargs)
        prefix = kwargs.get("metric_key_prefix", args[_METRIC_KEY_PREFIX] if len(args) > _METRIC_KEY_PREFIX else "eval")
        if output.metrics is not None:
            output.metrics.update(self._eval_parts.averages(self._sum_over_ranks, prefix=f"{prefix}_"))
            if self.eval_generation is not None:
                scores = self.eval_generation(self.model)
                output.metrics.update({f"{prefix}_{name}": value for name, value in scores.items()})
        return output

    def _sum_over_ranks(self, values: torch.Tensor) -> torch.Tensor:
        if self.args.world_size > 1:
            return self.accelerator.reduce(values.to(self.args.device), "sum").cpu()
        return values

    def _get_train_sampler(self, *args: Any, **kwargs: Any) -> Any:
        # A Trainer internal (4.46: no argument; 5.x: the dataset): the one place to choose the
        # sampler, so --group_by_length can use the dataset's own lengths.
        lengths = getattr(self.train_dataset, "lengths", None)
        grouping = (
            getattr(self.args, "group_by_length", False)
            or getattr(self.args, "train_sampling_strategy", None) == "group_by_length"
        )
        if grouping and lengths is not None:
            return LengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=list(lengths)
            )
        return super()._get_train_sampler(*args, **kwargs)
