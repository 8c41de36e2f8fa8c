"""@kwarg_guard on functions and methods, and kwarg_guard(SomeClass) for every instance."""

import inspect
import pickle

import pytest
import torch

from kwarg_guard import NotGuardedError, kwarg_guard, report, unguard
from kwarg_guard._guarded import state_of


@kwarg_guard(remap={"labels": "label_ids"})
def module_level(input_ids, label_ids=None):
    return input_ids, label_ids


class TestFunctionDecorator:
    def test_bare_decorator_drops_unknown_keywords(self):
        @kwarg_guard
        def forward(input_ids, label_ids=None):
            return input_ids, label_ids

        assert forward(1, label_ids=2, labels=3, token_type_ids=4) == (1, 2)

    def test_options_remap_and_raise(self):
        @kwarg_guard(remap={"labels": "label_ids"}, on_unknown="raise")
        def forward(input_ids, label_ids=None):
            return label_ids

        assert forward(1, labels=5) == 5
        with pytest.raises(TypeError, match="'junk'"):
            forward(1, junk=0)

    def test_signature_name_and_doc_are_the_original(self):
        def forward(self, input_ids, *, label_ids=None):
            """Docs."""

        guarded = kwarg_guard(forward)
        assert inspect.signature(guarded) == inspect.signature(forward)
        assert guarded.__name__ == "forward" and guarded.__doc__ == "Docs."

    def test_method_binds_like_a_function(self):
        class Model:
            @kwarg_guard
            def forward(self, x, label_ids=None):
                return self, x, label_ids

        model = Model()
        assert model.forward(1, label_ids=2, labels=3) == (model, 1, 2)
        assert list(inspect.signature(model.forward).parameters) == ["x", "label_ids"]

    def test_module_level_function_pickles_by_reference(self):
        assert pickle.loads(pickle.dumps(module_level)) is module_level
        assert module_level(1, labels=2) == (1, 2)

    def test_remap_target_checked_at_decoration_time(self):
        with pytest.raises(ValueError, match="does not accept 'label_id'"):
            kwarg_guard(lambda input_ids, label_ids=None: None, remap={"labels": "label_id"})

    def test_report_of_a_guarded_function(self):
        @kwarg_guard
        def forward(x):
            return x

        forward(1, junk=2)
        forward(1, junk=3)
        (record,) = report(forward)
        assert (record.keyword, record.action, record.count) == ("junk", "dropped", 2)

    def test_target_makes_no_sense_for_a_function(self):
        with pytest.raises(TypeError, match="target selects modules"):
            kwarg_guard(lambda x: x, target=torch.nn.Linear)


class Base(torch.nn.Module):
    def forward(self, x, label_ids=None):
        return x, label_ids


class Child(Base):
    pass


class TestClassDoor:
    def test_guards_every_instance_including_existing_ones(self):
        class Net(Base):
            def forward(self, x, label_ids=None):
                return x, label_ids

        before = Net()
        assert kwarg_guard(Net, remap={"labels": "label_ids"}) is Net
        after = Net()
        assert before(1, labels=2) == (1, 2)
        assert after.forward(1, labels=3, junk=4) == (1, 3)

    def test_unguard_restores_an_own_forward_exactly(self):
        class Net(Base):
            def forward(self, x, label_ids=None):
                return x

        original = Net.__dict__["forward"]
        kwarg_guard(Net)
        assert state_of(Net.__dict__["forward"]).owner is Net
        unguard(Net)
        assert Net.__dict__["forward"] is original

    def test_unguard_restores_an_inherited_forward_by_removing_the_override(self):
        class Leaf(Child):
            pass

        kwarg_guard(Leaf)
        assert Leaf()(1, junk=0) == (1, None)
        unguard(Leaf)
        assert "forward" not in Leaf.__dict__
        assert Leaf.forward is Base.forward

    def test_same_options_twice_is_a_no_op(self):
        class Net(Base):
            pass

        kwarg_guard(Net, drop=["junk"])
        first = Net.__dict__["forward"]
        kwarg_guard(Net, drop=["junk"])
        assert Net.__dict__["forward"] is first

    def test_unguard_of_an_unguarded_class_is_a_clear_error(self):
        class Net(Base):
            pass

        with pytest.raises(NotGuardedError, match="not guarded"):
            unguard(Net)

    def test_class_without_forward_is_refused(self):
        class NoForward:
            pass

        with pytest.raises(TypeError, match="has no forward"):
            kwarg_guard(NoForward)


class StaticForward(torch.nn.Module):
    @staticmethod
    def forward(x, label_ids=None):
        return x, label_ids


class TestStaticmethodForward:
    """A staticmethod forward is not given the module: guarded, it behaves exactly as unguarded."""

    def test_instance_guard(self):
        import inspect

        from kwarg_guard import guard

        model = StaticForward()
        before = inspect.signature(model.forward)
        guard(model, remap={"labels": "label_ids"})
        assert model(1, label_ids=2) == (1, 2)
        assert model(1, labels=3) == (1, 3)
        assert model.forward(1, labels=4) == (1, 4)
        assert inspect.signature(model.forward) == before
        unguard(model)
        assert "forward" not in vars(model)

    def test_class_guard_keeps_it_a_staticmethod(self):
        class Net(StaticForward):
            @staticmethod
            def forward(x, label_ids=None):
                return x, label_ids

        original = Net.__dict__["forward"]
        kwarg_guard(Net, remap={"labels": "label_ids"})
        assert isinstance(Net.__dict__["forward"], staticmethod)
        assert Net()(1, labels=5) == (1, 5) and Net.forward(1, labels=6) == (1, 6)
        unguard(Net)
        assert Net.__dict__["forward"] is original

    def test_an_inherited_staticmethod_forward(self):
        class Leaf(StaticForward):
            pass

        kwarg_guard(Leaf, remap={"labels": "label_ids"})
        try:
            assert Leaf()(1, labels=7) == (1, 7)
        finally:
            unguard(Leaf)
