"""The Trainer internals the recipe overrides: a transformers release that changes them makes the
recipe fail loudly, never mis-scale the loss silently."""

from pathlib import Path

import pytest
from transformers import Trainer

from kwarg_guard.recipes.higgs_audio.trainer import HiggsAudioTrainer, TrainerContractError, check_trainer_contract
from tests.helpers import cpu_training_args
from tests.helpers.higgs_audio import BACKEND, demo_dataset, lora


def _trainer(folder: Path, trainer_class=HiggsAudioTrainer) -> HiggsAudioTrainer:
    config, _, dataset = demo_dataset(folder / "data", count=2)
    args = cpu_training_args(
        str(folder / "out"),
        per_device_train_batch_size=1,
        gradient_accumulation_steps=2,
        max_steps=1,
        remove_unused_columns=False,
    )
    return trainer_class(
        model=lora(), args=args, train_dataset=dataset, data_collator=BACKEND.collator(config), backend=BACKEND
    )


def test_the_installed_trainer_keeps_the_contract():
    check_trainer_contract()


def test_a_release_without_an_overridden_method_is_refused_by_name():
    class Renamed(Trainer):
        get_batch_samples = None

    with pytest.raises(TrainerContractError, match=r"has no get_batch_samples\(\)"):
        check_trainer_contract(Renamed)


def test_a_release_that_moves_a_positional_argument_is_refused():
    class Moved(Trainer):
        def evaluation_loop(self, dataloader, description, metric_key_prefix="eval", prediction_loss_only=None):
            pass

    with pytest.raises(TrainerContractError, match=r"evaluation_loop"):
        check_trainer_contract(Moved)


def test_a_training_step_without_the_window_targets_raises_instead_of_mis_scaling(tmp_path):
    class ForgetsTheTargets(HiggsAudioTrainer):
        # What a release that stopped handing get_batch_samples' count to compute_loss would do.
        def get_batch_samples(self, *args, **kwargs):
            batches, _ = super().get_batch_samples(*args, **kwargs)
            return batches, None

    with pytest.raises(TrainerContractError, match="num_items_in_batch=NoneType"):
        _trainer(tmp_path, ForgetsTheTargets).train()
