"""explain(model, **inputs): a dry call that computes nothing and says, per forward reached, what
arrived, from whom, and what happens to it with and without the guard."""

import ast
import textwrap

import pytest
import torch

from kwarg_guard import explain, guard, report
from tests.helpers import Labeled, Outer, plain_attributes


class Exploding(torch.nn.Module):
    """A forward that must never run during explain()."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x, label_ids=None):
        raise AssertionError("the dry run computed")


class KwargsWrapper(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        return self.inner(*args, labels=None, **kwargs)


class FailingWrapper(torch.nn.Module):
    def __init__(self, error):
        super().__init__()
        self.error = error
        self.inner = Exploding()

    def forward(self, *args, **kwargs):
        raise self.error


class TestDryRun:
    def test_stops_before_the_first_forward_that_names_its_parameters(self, x):
        model = KwargsWrapper(Exploding())
        explanation = explain(model, x, token_type_ids=torch.zeros(1))
        assert explanation.stopped_at == "Exploding.forward"
        labels = explanation.find("Exploding.forward", "labels")
        assert (labels.unguarded, labels.guarded, labels.has_guard) == ("raises TypeError", "dropped", False)
        assert labels.origin.where.endswith("KwargsWrapper.forward")
        token = explanation.find("Exploding.forward", "token_type_ids")
        assert token.origin.where.endswith("test_stops_before_the_first_forward_that_names_its_parameters")
        assert [v.split()[-1] for v in token.origin.via] == ["KwargsWrapper.forward"]

    def test_reports_what_the_installed_guard_does(self, x):
        inner = Exploding()
        model = KwargsWrapper(inner)
        guard(model, target=Exploding, remap={"labels": "label_ids"}, on_unknown="raise")
        explanation = explain(model, x, label_ids=torch.ones(1), junk=1)
        rows = {r.keyword: r for r in explanation.at("Exploding.forward")}
        assert rows["labels"].guarded == "dropped (None)" and rows["labels"].has_guard
        assert rows["junk"].guarded == "raises TypeError"
        assert rows["label_ids"].guarded == "passes"

    def test_finds_a_guard_that_sits_under_an_accelerate_hook(self, x):
        from accelerate.hooks import ModelHook, add_hook_to_module

        inner = Exploding()
        add_hook_to_module(inner, ModelHook())
        guard(inner, remap={"labels": "label_ids"})
        row = explain(KwargsWrapper(inner), x).find("Exploding.forward", "labels")
        assert (row.guarded, row.has_guard) == ("dropped (None)", True)

    def test_changes_no_parameter_no_dict_and_no_guard_counter(self, x):
        model = KwargsWrapper(Exploding())
        guard(model, target=Exploding)
        weights = {n: p.clone() for n, p in model.named_parameters()}
        attributes = [plain_attributes(m) for m in model.modules()]
        before = list(report(model))
        explain(model, x, junk=1)
        assert all(torch.equal(weights[n], p) for n, p in model.named_parameters())
        assert [plain_attributes(m) for m in model.modules()] == attributes
        assert list(report(model)) == before

    def test_an_error_from_the_model_is_re_raised_unchanged(self, x):
        error = ValueError("the batch is malformed for a reason of its own")
        model = FailingWrapper(error)
        attributes = [plain_attributes(m) for m in model.modules()]
        with pytest.raises(ValueError) as caught:
            explain(model, x)
        assert caught.value is error
        assert [plain_attributes(m) for m in model.modules()] == attributes

    def test_table_lists_notable_keywords_and_the_rest_on_one_line(self, x):
        table = str(explain(Outer(Labeled()), x, attention_mask=torch.ones(2, 4)))
        assert "Labeled.forward [inner] (the dry run stopped before it ran)" in table
        assert "labels" in table and "raises TypeError" in table and "dropped (with a default guard)" in table
        assert "  unchanged with or without a guard: attention_mask" in table

    def test_refuses_what_is_not_a_module_and_says_how_to_call_it(self):
        with pytest.raises(TypeError) as caught:
            explain("x")
        message = str(caught.value)
        assert message.startswith("explain() takes a torch.nn.Module, got str;")
        assert "explain(model, *args, **inputs)" in message and "@kwarg_guard" not in message


def test_explain_names_peft_on_a_real_peft_model():
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(Labeled(), LoraConfig(target_modules=["linear"], r=2))
    explanation = explain(peft_model, torch.ones(2, 4), labels=torch.ones(1))
    row = explanation.find("Labeled.forward", "labels")
    assert row.unguarded == "raises TypeError"
    assert explanation.stopped_at == "Labeled.forward"


class TestThreads:
    def test_other_threads_call_the_model_normally_while_explain_runs(self, x):
        import threading

        inside, done = threading.Event(), threading.Event()
        explaining = []

        class Pausing(torch.nn.Module):
            """A wrapper that holds the dry run inside the model until another thread has called."""

            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, *args, **kwargs):
                if threading.current_thread() in explaining:
                    inside.set()
                    assert done.wait(10), "the other thread never finished its call"
                return self.inner(*args, **kwargs)

        model = Pausing(Labeled())
        results, errors = [], []

        def other():
            inside.wait(10)
            try:
                results.append(model(x, attention_mask=torch.ones(2, 4), label_ids=torch.ones(1)))
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        thread = threading.Thread(target=other)
        thread.start()
        explaining.append(threading.current_thread())
        explanation = explain(model, x, labels=None)
        thread.join(10)
        assert not errors, errors
        assert len(results) == 1 and results[0][1] == 1
        assert {row.keyword for row in explanation} == {"labels"}  # nothing of the other call
        assert explanation.stopped_at == "Labeled.forward"


class TestFix:
    def test_names_the_class_and_remaps_a_close_name(self, x):
        explanation = explain(Outer(Labeled()), x, labels=torch.ones(1), token_type_ids=torch.zeros(1))
        assert explanation.fixes == (
            "guard(model, target='Labeled', remap={'labels': 'label_ids'}, drop=['token_type_ids'])",
        )

    def test_drops_a_none_rather_than_remapping_it(self, x):
        explanation = explain(Outer(Labeled()), x, token_type_ids=torch.zeros(1))
        assert explanation.fixes == ("guard(model, target='Labeled', drop=['labels', 'token_type_ids'])",)
        assert str(explanation).endswith("fix:\n  " + explanation.fixes[0])

    def test_the_fix_makes_the_call_work(self, x):
        model = Outer(Labeled())
        (fix,) = explain(model, x, labels=torch.ones(1), token_type_ids=torch.zeros(1)).fixes
        exec(fix, {"guard": guard, "model": model})
        assert model(x, labels=torch.ones(1), token_type_ids=torch.zeros(1))[1] == 1

    def test_nothing_to_fix_is_said_on_the_last_line(self, x):
        explanation = explain(Labeled(), x, attention_mask=torch.ones(2, 4))
        assert explanation.fixes == ()
        lines = str(explanation).splitlines()
        assert lines[-1] == "nothing to fix: every forward reached takes every keyword it was given"
        assert lines[-2] == "  unchanged with or without a guard: attention_mask"

    def test_a_long_fix_is_wrapped_into_a_call_that_still_pastes(self, x):
        class AVeryLongModelClassNameOfTheKindLibrariesGenerateForConditionalGeneration(Labeled):
            pass

        strays = {f"an_injected_keyword_number_{i}": torch.ones(1) for i in range(5)}
        model = Outer(AVeryLongModelClassNameOfTheKindLibrariesGenerateForConditionalGeneration())
        explanation = explain(model, x, labels=torch.ones(1), **strays)
        (fix,) = explanation.fixes
        assert len(fix) > 100
        text = str(explanation)
        assert max(len(line) for line in text.splitlines()) <= 100, text
        pasted = text.split("\nfix:\n", 1)[1]
        assert ast.dump(ast.parse(textwrap.dedent(pasted))) == ast.dump(ast.parse(fix))

    def test_fits_a_100_column_terminal_with_peft_in_the_way(self):
        from tests.helpers import Headless, peft_causal_lm

        model = peft_causal_lm(Headless())
        ids = torch.randint(0, 16, (2, 3))
        text = str(explain(model, input_ids=ids, token_type_ids=torch.zeros_like(ids), labels=ids))
        assert max(len(line) for line in text.splitlines()) <= 100, text
        assert "PeftModelForCausalLM.forward" in text and "guard(model, target='Headless'" in text
