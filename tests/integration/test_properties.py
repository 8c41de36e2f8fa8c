"""Properties over generated signatures and keyword sets, through the decorator and through
a patched module: the guarded call passes exactly the accepted subset, never raises for an
unknown keyword unless strict, and remapped values arrive as the very same objects."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kwarg_guard import UnexpectedKeywordError, kwarg_guard, patched

NAMES = ["alpha", "beta", "gamma", "delta", "eps"]
STRANGERS = ["labels", "token_type_ids", "num_items_in_batch", "junk"]
KINDS = ["positional_only", "positional_or_keyword", "keyword_only"]


@st.composite
def signatures(draw):
    """(params as [(name, kind)], has *args, has **kwargs)."""
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=5))
    kinds = sorted((draw(st.sampled_from(KINDS)) for _ in names), key=KINDS.index)
    return list(zip(names, kinds, strict=False)), draw(st.booleans()), draw(st.booleans())


def build(params, varargs, varkw, as_method=False):
    """`def forward(...): return its arguments` with every parameter defaulted."""

    def group(kind):
        return [f"{name}=None" for name, k in params if k == kind]

    positional_only = group("positional_only")
    keyword_only = group("keyword_only")
    parts = (["self"] if as_method else []) + positional_only
    if positional_only:
        parts.append("/")
    parts += group("positional_or_keyword")
    parts += ["*args"] if varargs else (["*"] if keyword_only else [])
    parts += keyword_only + (["**kwargs"] if varkw else [])
    source = f"def forward({', '.join(parts)}):\n    received = dict(locals())\n    received.pop('self', None)\n    return received\n"
    namespace = {}
    exec(source, namespace)
    return namespace["forward"], source


@st.composite
def calls(draw):
    params, varargs, varkw = draw(signatures())
    positional_slots = [n for n, k in params if k != "keyword_only"]
    n_positional = draw(st.integers(0, len(positional_slots)))
    filled = set(positional_slots[:n_positional])
    candidates = [n for n, _ in params if n not in filled] + STRANGERS
    keywords = draw(st.lists(st.sampled_from(candidates), unique=True))
    return params, varargs, varkw, n_positional, keywords


def accepted_names(params, varkw):
    return {n for n, k in params if k != "positional_only"}


def check_received(received, params, varkw, kwargs, dropped_ok=True):
    accepted = accepted_names(params, varkw)
    for name, value in kwargs.items():
        if name in accepted:
            assert received[name] is value
        elif varkw:
            assert received["kwargs"][name] is value
        else:
            assert name not in received or received[name] is None
    if varkw:
        assert set(received["kwargs"]) == {n for n in kwargs if n not in accepted}
        assert not (set(received["kwargs"]) & (accepted - {n for n, k in params if k == "positional_only"}))


@settings(max_examples=300, deadline=None)
@given(calls())
def test_decorated_call_passes_exactly_the_accepted_subset(case):
    params, varargs, varkw, n_positional, keywords = case
    forward, source = build(params, varargs, varkw)
    kwargs = {name: object() for name in keywords}
    positional = [object() for _ in range(n_positional)]
    received = kwarg_guard(forward)(*positional, **kwargs)
    check_received(received, params, varkw, kwargs)
    positional_names = [n for n, k in params if k != "keyword_only"][:n_positional]
    for name, value in zip(positional_names, positional, strict=False):
        assert received[name] is value, source


@settings(max_examples=200, deadline=None)
@given(calls())
def test_strict_mode_raises_exactly_when_an_unknown_keyword_arrives(case):
    params, varargs, varkw, n_positional, keywords = case
    forward, _ = build(params, varargs, varkw)
    kwargs = {name: object() for name in keywords}
    unknown = [n for n in keywords if n not in accepted_names(params, varkw)] if not varkw else []
    guarded = kwarg_guard(forward, on_unknown="raise")
    if unknown:
        with pytest.raises(UnexpectedKeywordError, match=repr(unknown[0])):
            guarded(*range(n_positional), **kwargs)
    else:
        guarded(*range(n_positional), **kwargs)


@settings(max_examples=200, deadline=None)
@given(calls(), st.data())
def test_patched_module_behaves_like_the_decorator_and_remaps_the_same_object(case, data):
    params, varargs, varkw, n_positional, keywords = case
    forward, _source = build(params, varargs, varkw, as_method=True)
    module_class = type("Generated", (torch.nn.Module,), {"forward": forward})
    module = module_class()
    free_targets = [n for n, k in params if k != "positional_only" and n not in keywords][n_positional:]
    remap = {}
    if free_targets:
        remap = {"labels": data.draw(st.sampled_from(free_targets))}
    kwargs = {name: object() for name in keywords}
    with patched(module, remap=remap):
        received = module(*range(n_positional), **kwargs)
        direct = module.forward(*range(n_positional), **kwargs)
    assert received.keys() == direct.keys()
    if remap and "labels" in kwargs:
        assert received[remap["labels"]] is kwargs.pop("labels")
        received.pop(remap["labels"])
    elif remap:
        kwargs.pop("labels", None)
    else:
        check_received(received, params, varkw, kwargs)


class Three(torch.nn.Module):
    def forward(self, a=None, b=None, label_ids=None):
        return {"a": a, "b": b, "label_ids": label_ids}


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["a", "b", "label_ids", "labels", "junk"]), st.sampled_from([None, "value"])),
    st.sets(st.sampled_from(["a", "junk"])),
    st.sampled_from(["drop", "warn"]),
)
def test_explain_says_exactly_what_the_call_does(keywords, drop, on_unknown):
    # One decision serves explain() and the call: what the dry run predicts is what arrives.
    import warnings

    from kwarg_guard import explain, guard

    kwargs = {name: (object() if value else None) for name, value in keywords.items()}
    model = guard(Three(), remap={"labels": "label_ids"}, drop=sorted(drop), on_unknown=on_unknown)
    predicted = {row.keyword: row.guarded for row in explain(model, **kwargs)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        received = model(**kwargs)
    expected = {}
    for name, value in kwargs.items():
        outcome = predicted[name]
        if outcome == "passes":
            expected.setdefault(name, value)
        elif outcome.startswith("remapped"):
            expected["label_ids"] = value  # a remap fills a target given as None
        else:
            assert outcome.startswith("dropped"), outcome
    for name in ("a", "b", "label_ids"):
        assert received[name] is expected.get(name), (name, predicted)
