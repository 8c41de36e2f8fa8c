"""torch.compile of a guarded model: zero graph breaks, same results."""

import pytest
import torch

from kwarg_guard import guard, patched
from tests.helpers import Labeled


def explain(fn, *args):
    return torch._dynamo.explain(fn)(*args)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("eager_first", [False, True], ids=["compile-first", "eager-first"])
def test_guarded_model_compiles_without_graph_breaks(labeled, x, eager_first):
    guard(labeled, remap={"labels": "label_ids"}, drop=["attention_mask"])
    labels = torch.full((2, 4), 3.0)

    def step(x, labels):
        return labeled(x, labels=labels, attention_mask=None, junk=1)

    if eager_first:
        step(x, labels)  # first sight happens eagerly: the cached plan is what gets traced
    result = explain(step, x, labels)
    assert result.graph_break_count == 0, result.break_reasons
    assert result.graph_count == 1


def test_compiled_guarded_model_gives_the_eager_result(labeled, x):
    guard(labeled, remap={"labels": "label_ids"})
    labels = torch.full((2, 4), 2.0)
    eager_out, eager_label = labeled(x, labels=labels, junk=0)
    compiled_out, compiled_label = torch.compile(labeled, backend="eager")(x, labels=labels, junk=0)
    assert torch.equal(eager_out, compiled_out) and torch.equal(eager_label, compiled_label)


def test_patched_compiled_module_without_graph_breaks(x):
    model = Labeled()
    compiled = torch.compile(model, backend="eager")
    with patched(compiled, remap={"labels": "label_ids"}):
        result = explain(lambda x: compiled(x, labels=x), x)
    assert result.graph_break_count == 0, result.break_reasons


def test_compiled_remap_onto_a_positional_target_gives_the_eager_result(labeled, x):
    guard(labeled, remap={"labels": "label_ids"})
    labels, given = torch.full((2, 4), 2.0), torch.full((2, 4), 5.0)
    for args in ((x, None, given), (x, None, None)):
        eager = labeled(*args, labels=labels)
        compiled = torch.compile(labeled, backend="eager")(*args, labels=labels)
        assert torch.equal(eager[1], compiled[1])
