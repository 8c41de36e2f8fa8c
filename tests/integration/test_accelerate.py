"""What accelerate and the Trainer do to a guarded forward: mixed precision rebinds
``model.forward.__func__`` to the module, ``unwrap_model`` unwinds it again; in either order
the guard keeps working, and unguarding steps aside."""

import os
import types

import pytest
import torch
from accelerate import Accelerator
from accelerate.utils import extract_model_from_parallel

from kwarg_guard import guard, unguard
from kwarg_guard._patching import layers_of
from tests.helpers import Labeled


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    # accelerate keeps its mixed-precision choice in a process-wide singleton, and
    # TrainingArguments(bf16=True) exports ACCELERATE_MIXED_PRECISION: without both undone, every
    # later Trainer in this process would run under bf16 autocast.
    from accelerate.state import AcceleratorState

    environment = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(environment)
    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.fixture
def bf16():
    # bf16 autocast runs on a CPU, and takes the same code path in accelerate as on a GPU.
    accelerator = Accelerator(mixed_precision="bf16", cpu=True)
    assert accelerator.native_amp
    return accelerator


def autocast_wrapped(model) -> bool:
    return hasattr(model.forward, "__wrapped__") and "_original_forward" in vars(model)


class TestMixedPrecision:
    def test_guard_then_prepare(self, bf16, x):
        model = bf16.prepare(guard(Labeled(), remap={"labels": "label_ids"}))
        assert autocast_wrapped(model)
        out, label = model(x, labels=3)
        assert label == 3 and out.dtype == torch.float32  # accelerate's fp32 outputs still apply
        assert model.forward(x, labels=4)[1] == 4

    def test_prepare_then_guard(self, bf16, x):
        model = guard(bf16.prepare(Labeled()), remap={"labels": "label_ids"})
        out, label = model(x, labels=3)
        assert label == 3 and out.dtype == torch.float32

    @pytest.mark.parametrize("guard_first", [True, False], ids=["guard-then-prepare", "prepare-then-guard"])
    def test_unwrap_model_without_the_fp32_wrapper_keeps_the_guard(self, bf16, x, guard_first):
        model = Labeled()
        model = (
            bf16.prepare(guard(model, remap={"labels": "label_ids"}))
            if guard_first
            else guard(bf16.prepare(model), remap={"labels": "label_ids"})
        )
        unwrapped = extract_model_from_parallel(model, keep_fp32_wrapper=False)
        assert unwrapped(x, labels=5)[1] == 5
        assert len(layers_of(unwrapped)) == 1

    def test_unguard_under_the_wrapper_steps_aside(self, bf16, x):
        model = bf16.prepare(guard(Labeled(), remap={"labels": "label_ids"}))
        unguard(model)
        assert layers_of(model) == ()
        with pytest.raises(TypeError, match=r"^Labeled\.forward\(\) got an unexpected keyword argument 'labels'$"):
            model(x, labels=1)
        assert model(x, label_ids=2)[1] == 2
        guard(model, remap={"labels": "label_ids"})  # and it can be guarded again
        assert model(x, labels=6)[1] == 6


class TestRebinding:
    def test_user_binds_the_function_to_the_module(self, x):
        model = guard(Labeled(), remap={"labels": "label_ids"})
        model.forward = types.MethodType(model.forward.__func__, model)
        assert model(x, labels=7)[1] == 7

    def test_autocast_decorator_around_the_function(self, x):
        model = guard(Labeled(), remap={"labels": "label_ids"})
        model.forward = types.MethodType(torch.autocast("cpu", dtype=torch.bfloat16)(model.forward.__func__), model)
        out, label = model(x, labels=8)
        assert label == 8 and out.dtype == torch.bfloat16

    def test_rules_added_later_reach_a_rebound_forward(self, x):
        model = guard(Labeled(), remap={"labels": "label_ids"})
        model.forward = types.MethodType(model.forward.__func__, model)
        guard(model, drop=["attention_mask"])
        out, label = model(x, labels=1, attention_mask=torch.zeros(2, 4))
        assert label == 1 and out.abs().sum() > 0  # the zero mask was dropped


class Regressor(torch.nn.Module):
    """Takes ``label_ids``, computes its own loss: a full fine-tune with no PEFT in between."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x, label_ids=None):
        prediction = self.linear(x).squeeze(-1)
        return {"loss": torch.nn.functional.mse_loss(prediction.float(), label_ids.float()), "prediction": prediction}


class Pairs(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return {"x": torch.full((4,), float(index)), "labels": torch.tensor(float(index))}


def test_trainer_bf16_trains_a_guarded_model(tmp_path):
    from transformers import Trainer, TrainingArguments

    model = guard(Regressor(), remap={"labels": "label_ids"})
    before = model.linear.weight.detach().clone()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        bf16=True,
        use_cpu=True,
        max_steps=3,
        per_device_train_batch_size=4,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        remove_unused_columns=False,
    )
    trainer = Trainer(model=model, args=args, train_dataset=Pairs())
    trainer.train()
    assert not torch.equal(before, model.linear.weight)
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
