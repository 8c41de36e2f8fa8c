"""Defaults that protect the user: a bare guard lands where the keyword fails, and a keyword
that carried a value never vanishes without a word."""

import warnings

import pytest
import torch
from conftest import Headless, Labeled, Outer, peft_causal_lm

from kwarg_guard import UnexpectedKeywordWarning, guard, kwarg_guard, patched, report, unguard
from kwarg_guard._patching import layers_of


def kwarg_guard_warnings(record):
    return [str(w.message) for w in record if issubclass(w.category, UnexpectedKeywordWarning)]


class Passing(torch.nn.Module):
    """A pure pass-through wrapper: forward(*args, **kwargs) and nothing else."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        return self.inner(*args, **kwargs)


class TestBareGuardLandsWhereTheKeywordFails:
    @pytest.fixture
    def peft_model(self):
        torch.manual_seed(0)
        return peft_causal_lm(Headless())

    def test_unguarded_peft_causal_lm_fails_on_labels(self, peft_model):
        with pytest.raises(TypeError, match=r"^Headless\.forward\(\) got an unexpected keyword argument 'labels'$"):
            peft_model(input_ids=torch.randint(0, 16, (2, 3)))

    @pytest.mark.parametrize("door", ["guard", "patched"])
    def test_a_bare_door_on_the_peft_model_fixes_it(self, peft_model, door):
        ids = torch.randint(0, 16, (2, 3))
        base = peft_model.get_base_model()
        if door == "guard":
            guard(peft_model)
            out = peft_model(input_ids=ids)
            assert len(layers_of(base)) == 1
        else:
            with patched(peft_model):
                out = peft_model(input_ids=ids)
                assert len(layers_of(base)) == 1
        assert torch.equal(out, base(input_ids=ids))
        assert report(peft_model).find("labels", "dropped").forward == "Headless.forward"
        assert not any(layers_of(m) for m in peft_model.modules() if m is not base)

    def test_a_bare_remap_on_the_peft_model_moves_real_labels(self, peft_model):
        ids = torch.randint(0, 16, (2, 3))
        guard(peft_model, remap={"labels": "label_ids"})
        assert torch.equal(peft_model(input_ids=ids, labels=ids)[1], ids)
        unguard(peft_model)
        assert "forward" not in vars(peft_model.get_base_model())

    def test_a_bare_guard_on_a_pure_pass_through_is_refused_with_the_target_to_pass(self, labeled):
        wrapper = Passing(labeled)
        before = vars(labeled).copy()
        with pytest.raises(ValueError, match=r"guard\(Passing\) would change nothing.*target='Labeled'"):
            guard(wrapper)
        with pytest.raises(ValueError, match=r"patched\(Passing\) would change nothing.*target='Labeled'"):
            patched(wrapper).__enter__()
        assert vars(labeled) == before and "forward" not in vars(wrapper)

    def test_a_forward_with_named_parameters_beside_its_kwargs_is_guarded_not_refused(self, labeled):
        # A causal LM's forward(input_ids, ..., **loss_kwargs) is a model, not a pass-through.
        wrapper = Outer(labeled)
        with patched(wrapper):
            assert "forward" in vars(wrapper) and "forward" not in vars(labeled)
        guard(wrapper, on_unknown="raise")
        assert "forward" in vars(wrapper) and "forward" not in vars(labeled)

    def test_a_remap_or_drop_on_a_wrapper_is_not_refused(self, labeled, x):
        wrapper = guard(Passing(labeled), drop=["junk"])
        assert torch.equal(wrapper(x, junk=1), labeled.linear(x))


class TestDefaultWarnsAboutValues:
    def test_a_dropped_value_warns_once_per_forward_and_keyword_with_a_hint(self, labeled, x):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with patched(labeled):
                labeled(x, labels=torch.ones(1))
                labeled(x, labels=torch.ones(1))
                labeled(x, labels=torch.ones(1), attention_mask=None)  # another keyword set
            with patched(labeled):  # a new guard on the same forward
                labeled(x, labels=torch.ones(1))
        (message,) = kwarg_guard_warnings(record)
        assert "'labels' carried a Tensor(float32) value and was dropped before Labeled.forward()" in message
        assert "did you mean 'label_ids'?" in message

    def test_the_warning_points_at_the_callers_line(self, labeled, x):
        with pytest.warns(UnexpectedKeywordWarning) as record, patched(labeled):
            labeled(x, token_type_ids=torch.zeros(1))
        assert record[0].filename == __file__

    def test_none_values_stay_quiet(self, labeled, x):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with patched(Outer(labeled), target=Labeled) as model:
                model(x)  # Outer injects labels=None
        assert kwarg_guard_warnings(record) == []
        assert report(labeled).find("labels").action == "dropped"

    def test_every_door_warns_by_default(self, x):
        @kwarg_guard
        def forward(x, label_ids=None):
            return x

        with pytest.warns(UnexpectedKeywordWarning, match="'labels'"):
            forward(x, labels=1)

    def test_drop_is_the_way_to_be_silent(self, labeled, x):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            with patched(labeled, on_unknown="drop"):
                labeled(x, labels=torch.ones(1))
            with patched(labeled, drop=["token_type_ids"]):
                labeled(x, token_type_ids=torch.ones(1))
        assert kwarg_guard_warnings(record) == []


class TestFastPath:
    """Calls whose keywords all pass never reach the rewrite, also for a plain **kwargs forward."""

    @pytest.fixture
    def rewrites(self, monkeypatch):
        from kwarg_guard._rewrite import Rewrite

        calls = []
        real = Rewrite.__call__
        monkeypatch.setattr(Rewrite, "__call__", lambda self, *a: calls.append(a) or real(self, *a))
        return calls

    def test_named_forward(self, labeled, x, rewrites):
        guard(labeled, remap={"labels": "label_ids"})
        for _ in range(5):
            labeled(x, attention_mask=None, label_ids=None)
        assert rewrites == []

    def test_plain_kwargs_forward(self, x, rewrites):
        class Open(torch.nn.Module):
            def forward(self, x, **kwargs):
                return kwargs

        model = guard(Open(), drop=["junk"])
        for _ in range(5):
            assert model(x, a=1, b=2) == {"a": 1, "b": 2}
        assert rewrites == []
        assert model(x, a=1, junk=2) == {"a": 1}
        assert len(rewrites) == 1
