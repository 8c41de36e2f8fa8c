"""No keyword a forward can take collides with the guard's own machinery, and a guard's own
errors are never blamed on the model's forward."""

import traceback

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kwarg_guard import UnexpectedKeywordError, guard, kwarg_guard, unguard

# The names the per-call code, its helpers and Python's own call machinery use ("self" only
# where the forward is not a method, since a method cannot take it twice).
INTERNAL = ["state", "owner", "_kwarg_guard_owner", "args", "kwargs", "active", "plan", "fn", "call", "name"]


def module_taking(name):
    namespace = {}
    exec(f"def forward(self, x, {name}=None):\n    return x, {name}\n", namespace)
    return type("Takes", (torch.nn.Module,), {"forward": namespace["forward"]})


class TestNoCollision:
    @pytest.mark.parametrize("name", INTERNAL)
    def test_instance_guard(self, name):
        model = guard(module_taking(name)())
        assert model(1, **{name: "value"}, junk=0) == (1, "value")
        assert model.forward(1, **{name: "value"}) == (1, "value")

    @pytest.mark.parametrize("name", INTERNAL)
    def test_class_guard(self, name):
        cls = kwarg_guard(module_taking(name))
        try:
            assert cls()(1, **{name: "value"}, junk=0) == (1, "value")
        finally:
            unguard(cls)

    @pytest.mark.parametrize("name", [*INTERNAL, "self"])
    def test_decorated_function(self, name):
        namespace = {}
        exec(f"def forward(x, {name}=None):\n    return x, {name}\n", namespace)
        assert kwarg_guard(namespace["forward"])(1, **{name: "value"}) == (1, "value")

    def test_rwkv_style_state_passes_through_a_remap_guard(self):
        class Cell(torch.nn.Module):
            def forward(self, x, state=None, label_ids=None):
                return state, label_ids

        cell = guard(Cell(), remap={"labels": "label_ids"})
        assert cell(1, state="s", labels="l") == ("s", "l")

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.sampled_from([*INTERNAL, "x_", "hidden", "mask"]), unique=True, min_size=1, max_size=5))
    def test_any_parameter_names(self, names):
        namespace = {}
        exec(f"def forward(self, {', '.join(n + '=None' for n in names)}):\n    return dict(locals())\n", namespace)
        model = guard(type("M", (torch.nn.Module,), {"forward": namespace["forward"]})(), on_unknown="drop")
        values = {name: object() for name in names}
        received = model(**values, stray=1)
        assert all(received[name] is value for name, value in values.items())


class TestBlame:
    def test_a_refusal_is_raised_by_the_guard_before_the_forward_runs(self):
        ran = []

        class Net(torch.nn.Module):
            def forward(self, x):
                ran.append(x)
                return x

        net = guard(Net(), on_unknown="raise")
        with pytest.raises(UnexpectedKeywordError) as caught:
            net(1, state=2)
        assert ran == []
        frames = [frame.filename for frame in traceback.extract_tb(caught.value.__traceback__)]
        assert any("kwarg_guard" in f for f in frames)
        assert "Net.forward" not in [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]

    def test_the_models_own_type_error_comes_through_unchanged(self):
        error = TypeError("the model's own complaint")

        class Net(torch.nn.Module):
            def forward(self, x, state=None):
                raise error

        with pytest.raises(TypeError) as caught:
            guard(Net())(1, state=0)
        assert caught.value is error
