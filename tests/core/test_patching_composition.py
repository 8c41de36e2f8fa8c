"""How guard layers compose: class and instance guards, presets installed and guards added, and
copies taken inside a patched block."""

import copy
import importlib
import io
import pickle
import textwrap

import pytest
import torch

from kwarg_guard import (
    NotGuardedError,
    Preset,
    guard,
    install,
    kwarg_guard,
    patched,
    register_preset,
    unguard,
    uninstall,
)
from kwarg_guard._patching import layers_of
from tests.helpers import Labeled, plain_attributes


def fresh_class():
    class Net(Labeled):
        pass

    return Net


def zero_mask():
    return torch.zeros(2, 4)


def mask_dropped(out) -> bool:
    """A zero attention mask zeroes the output unless something dropped it."""
    tensor = out[0] if isinstance(out, tuple) else out
    return bool(tensor.abs().sum() > 0)


class TestClassAndInstanceGuards:
    @pytest.mark.parametrize("class_first", [True, False], ids=["class-first", "instance-first"])
    def test_both_rule_sets_apply_and_each_unguard_removes_its_own(self, x, class_first):
        Net = fresh_class()
        net = Net()
        if class_first:
            kwarg_guard(Net, remap={"labels": "label_ids"})
            guard(net, drop=["attention_mask"])
        else:
            guard(net, drop=["attention_mask"])
            kwarg_guard(Net, remap={"labels": "label_ids"})
        out = net(x, labels=3, attention_mask=zero_mask())
        assert out[1] == 3 and mask_dropped(out)

        unguard(Net)  # the class's remap goes; the instance's drop stays
        out = net(x, label_ids=4, attention_mask=zero_mask())
        assert out[1] == 4 and mask_dropped(out)
        with pytest.raises(TypeError, match="labels"):
            guard(net, on_unknown="raise")  # stacked raise proves labels is no longer remapped
            net(x, labels=5)

    def test_unguard_of_the_instance_keeps_the_class_guard(self, x):
        Net = fresh_class()
        kwarg_guard(Net, remap={"labels": "label_ids"})
        try:
            net = Net()
            guard(net, drop=["attention_mask"])
            unguard(net)
            assert "forward" not in vars(net)
            out = net(x, labels=6, attention_mask=zero_mask())
            assert out[1] == 6 and not mask_dropped(out)
        finally:
            unguard(Net)

    def test_instances_created_after_the_class_guard_went_away(self, x):
        Net = fresh_class()
        kwarg_guard(Net, remap={"labels": "label_ids"})
        unguard(Net)
        with pytest.raises(TypeError, match="labels"):
            Net()(x, labels=1)

    def test_a_subclass_guard_follows_its_base_guard(self, x):
        Base = fresh_class()

        class Leaf(Base):
            pass

        kwarg_guard(Base, remap={"labels": "label_ids"})
        kwarg_guard(Leaf, drop=["attention_mask"])
        out = Leaf()(x, labels=2, attention_mask=zero_mask())
        assert out[1] == 2 and mask_dropped(out)
        unguard(Base)
        out = Leaf()(x, label_ids=3, attention_mask=zero_mask())
        assert out[1] == 3 and mask_dropped(out)
        with pytest.raises(TypeError, match="labels"):
            kwarg_guard(Leaf, on_unknown="raise")
            Leaf()(x, labels=1)

    def test_installed_preset_and_a_guard_on_the_same_model(self, x, tmp_path, monkeypatch):
        (tmp_path / "installed_lib.py").write_text(
            textwrap.dedent("""
            import torch
            class Model(torch.nn.Module):
                def forward(self, x, attention_mask=None, label_ids=None):
                    out = x * (attention_mask if attention_mask is not None else 1)
                    return out, label_ids
        """)
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        register_preset(
            Preset(
                name="test_installed_lib", description="t", remap={"labels": "label_ids"}, target="installed_lib.Model"
            ),
            replace=True,
        )
        install("test_installed_lib")
        try:
            model = importlib.import_module("installed_lib").Model()
            guard(model, drop=["attention_mask"])
            out, label = model(x, labels=7, attention_mask=zero_mask())
            assert label == 7 and out.abs().sum() > 0
        finally:
            uninstall("test_installed_lib")
        out, label = model(x, label_ids=8, attention_mask=zero_mask())
        assert label == 8 and out.abs().sum() > 0  # the instance guard outlives the preset


class TestCopiesInsidePatched:
    """A patched layer exists only while its block is active: on the module and on any copy."""

    def test_a_deep_copy_is_patched_during_the_block_and_plain_after(self, labeled, x):
        before = plain_attributes(labeled)
        with patched(labeled, remap={"labels": "label_ids"}):
            twin = copy.deepcopy(labeled)
            assert twin(x, labels=2)[1] == 2
        assert layers_of(twin) == () and "forward" not in vars(twin)
        with pytest.raises(TypeError, match="labels"):
            twin(x, labels=2)
        with pytest.raises(NotGuardedError):
            unguard(twin)
        assert plain_attributes(labeled) == before

    def test_a_copy_keeps_its_own_guard_and_loses_only_the_block(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}):
            twin = guard(copy.deepcopy(labeled), drop=["attention_mask"])
        assert [layer.kind for layer in layers_of(twin)] == ["guard"]
        out = twin(x, label_ids=1, attention_mask=zero_mask())
        assert mask_dropped(out)
        unguard(twin)
        assert "forward" not in vars(twin)

    @pytest.mark.parametrize("save", ["pickle", "torch.save"])
    def test_a_copy_saved_inside_and_loaded_after_behaves_plain(self, labeled, x, save):
        with patched(labeled, remap={"labels": "label_ids"}):
            if save == "pickle":
                blob = pickle.dumps(labeled)
            else:
                buffer = io.BytesIO()
                torch.save(labeled, buffer)
        loaded = (
            pickle.loads(blob) if save == "pickle" else torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
        )
        assert layers_of(loaded) == ()
        with pytest.raises(TypeError, match="labels"):
            loaded(x, labels=1)
        guard(loaded, remap={"labels": "label_ids"})
        assert loaded(x, labels=3)[1] == 3
        unguard(loaded)
        assert "forward" not in vars(loaded)

    def test_a_copy_saved_inside_and_loaded_inside_keeps_the_block(self, labeled, x):
        with patched(labeled, remap={"labels": "label_ids"}):
            loaded = pickle.loads(pickle.dumps(labeled))
            assert loaded(x, labels=4)[1] == 4
        with pytest.raises(TypeError, match="labels"):
            loaded(x, labels=4)
