"""The public doors: guard / unguard are permanent, idempotent, and carried through deepcopy, pickle
and torch.save; a door given what it does not take says which door does."""

import copy
import io
import pickle

import pytest
import torch

from kwarg_guard import NotGuardedError, guard, kwarg_guard, patched, unguard
from tests.helpers import Labeled, Outer, guard_state, plain_attributes


class TestGuard:
    def test_returns_the_model_and_stays_until_unguard(self, labeled, x):
        assert guard(labeled, remap={"labels": "label_ids"}) is labeled
        assert labeled(x, labels=1)[1] == 1
        unguard(labeled)
        with pytest.raises(TypeError):
            labeled(x, labels=1)

    def test_same_options_twice_is_a_no_op(self, labeled):
        guard(labeled, drop=["junk"])
        first = vars(labeled)["forward"]
        guard(labeled, drop=["junk"])
        assert vars(labeled)["forward"] is first
        assert len(guard_state(labeled).layers) == 1

    def test_unguard_undoes_only_the_most_recent_guard(self, labeled, x):
        guard(labeled, remap={"labels": "label_ids"})
        guard(labeled, drop=["attention_mask"])
        zero_mask = torch.zeros(2, 4)
        assert labeled(x, labels=1, attention_mask=zero_mask)[0].abs().sum() > 0  # mask dropped
        unguard(labeled)
        out, label = labeled(x, labels=1, attention_mask=zero_mask)
        assert label == 1  # the first guard's remap is still there
        assert out.abs().sum() == 0  # the drop is gone: the zero mask reached forward

    def test_unguard_restores_the_dict_exactly(self, labeled):
        before = plain_attributes(labeled)
        guard(labeled)
        unguard(labeled)
        assert plain_attributes(labeled) == before

    def test_unguard_through_a_wrapper_removes_every_module_one_guard_patched(self, x):
        first, second = Labeled(), Labeled()
        outer = torch.nn.ModuleList([Outer(first), Outer(second)])
        guard(outer, target=Labeled, remap={"labels": "label_ids"})
        assert outer[0](x, labels=2)[1] == 2 and outer[1](x, labels=3)[1] == 3
        unguard(outer)
        assert "forward" not in vars(first) and "forward" not in vars(second)

    def test_unguard_leaves_patched_blocks_alone(self, labeled, x):
        guard(labeled, drop=["junk"])
        with patched(labeled, remap={"labels": "label_ids"}, on_unknown="raise"):
            unguard(labeled)
            assert labeled(x, labels=5)[1] == 5
            with pytest.raises(TypeError):
                labeled(x, junk=1)

    def test_unguard_on_an_unguarded_model_is_a_clear_error(self, labeled):
        with pytest.raises(NotGuardedError, match="no guard"):
            unguard(labeled)


class TestCopies:
    def _trained_copy_differs(self, original, copied, x):
        with torch.no_grad():
            copied.linear.weight.add_(1.0)
        assert not torch.equal(original(x, labels=None), copied(x, labels=None))
        assert torch.equal(copied(x, labels=None), copied.linear(x))

    def test_deepcopy_stays_guarded_and_calls_its_own_parameters(self, labeled, x):
        guard(labeled, remap={"labels": "label_ids"})
        twin = copy.deepcopy(labeled)
        assert guard_state(twin).module is twin
        assert guard_state(twin) is not guard_state(labeled)
        assert twin(x, labels=3)[1] == 3
        self._trained_copy_differs(labeled, twin, x)

    def test_pickle_round_trip_stays_guarded(self, labeled, x):
        guard(labeled, remap={"labels": "label_ids"})
        loaded = pickle.loads(pickle.dumps(labeled))
        assert guard_state(loaded).module is loaded
        assert loaded(x, labels=3)[1] == 3
        self._trained_copy_differs(labeled, loaded, x)

    def test_torch_save_and_load_stay_guarded(self, labeled, x):
        guard(labeled, remap={"labels": "label_ids"})
        buffer = io.BytesIO()
        torch.save(labeled, buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
        assert loaded(x, labels=3)[1] == 3
        self._trained_copy_differs(labeled, loaded, x)

    def test_state_dict_keys_never_change(self, labeled):
        keys = list(labeled.state_dict())
        guard(labeled, remap={"labels": "label_ids"})
        assert list(labeled.state_dict()) == keys
        with patched(labeled, drop=["junk"]):
            assert list(labeled.state_dict()) == keys

    def test_unguard_works_on_a_copy(self, labeled):
        guard(labeled)
        twin = copy.deepcopy(labeled)
        unguard(twin)
        assert "forward" not in vars(twin)
        assert "forward" in vars(labeled)

    def test_shallow_copy_rebinds_when_guarded_again(self, labeled, x):
        guard(labeled, remap={"labels": "label_ids"})
        twin = copy.copy(labeled)
        twin.linear = torch.nn.Linear(4, 4)
        guard(twin, drop=["junk"])
        assert guard_state(twin).module is twin
        assert torch.equal(twin(x, labels=None, junk=1), twin.linear(x))


class TestNotAModule:
    @pytest.mark.parametrize("door", [patched, guard])
    def test_non_module_is_a_type_error_that_points_to_the_right_door(self, door):
        with pytest.raises(TypeError, match=r"takes a torch.nn.Module, got function.*@kwarg_guard"):
            door(lambda x: x)

    def test_unguard_says_what_it_takes_not_how_to_guard(self):
        with pytest.raises(TypeError) as caught:
            unguard("x")
        assert "got str; unguard takes a model guarded with guard(...)" in str(caught.value)
        assert "@kwarg_guard or" not in str(caught.value)

    def test_kwarg_guard_on_a_non_callable(self):
        with pytest.raises(TypeError, match="takes a function, a class or a module"):
            kwarg_guard(42)
