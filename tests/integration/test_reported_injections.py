"""Keywords injected between the user's code and a forward, as users report them, with the real
component on both transformers stacks: each test shows the failure (an error, or a keyword silently
swallowed and a wrong result) and then runs the line docs/troubleshooting.md gives for that kind,
asserting the result equals a clean call that never had the keyword.

tests/integration/test_compatibility.py keeps the matrix of public cases under a hand-written guard; these
tests are about the documented line per kind, renamed keywords, ``generate()`` and ``explain``.
"""

import re
import warnings

import pytest
import torch

from kwarg_guard import UnexpectedKeywordWarning, explain, guard, report
from tests.helpers import ROOT, STACK
from tests.helpers.injection_cases import (
    DOCUMENTED_FIXES,
    CustomAttention,
    ScoringModel,
    apply_documented_fix,
    bert_for_masked_lm,
    bert_tokenizer,
    distilbert_classifier,
    greedy,
    llama_with_custom_attention,
    older_release_llama,
    prompt,
    scoring_rows,
    seeded,
    seq2seq_around_gpt2,
    seq_cls_around_headless_bert,
    text_batch,
    tiny_llama,
    tiny_t5,
    train,
)

TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"


def _batch(length=6):
    ids = torch.randint(1, 64, (2, length), generator=torch.Generator().manual_seed(0))
    return ids, torch.ones_like(ids)


def _unguarded(forward, keyword):
    """What an unguarded call does on this stack: ``("raises", message)`` or ``("runs", output)``."""
    try:
        return "runs", forward()
    except TypeError as exc:
        assert f"'{keyword}'" in str(exc), exc  # noqa: PT017 (the call is compared per stack, not asserted to raise)
        return "raises", str(exc)


def _action(model, keyword):
    record = report(model).find(keyword)
    return None if record is None else str(record.action)


def test_seq_cls_wrapper_around_a_headless_model_gets_labels_dropped():
    """PEFT's SEQ_CLS wrapper always passes ``labels=`` to the model it wraps; around a model with no
    head that is a TypeError on 4.46 and, on transformers 5, a label silently ignored: the user
    trains on an output that has no loss (peft#514, peft#348)."""
    peft_model = seq_cls_around_headless_bert()
    ids, mask = _batch()
    labels = torch.tensor([0, 1])
    outcome, plain = _unguarded(lambda: peft_model(input_ids=ids, attention_mask=mask, labels=labels), "labels")
    if STACK == "4.46":
        assert outcome == "raises"
    else:
        assert outcome == "runs" and getattr(plain, "loss", None) is None
        row = explain(peft_model, input_ids=ids, attention_mask=mask, labels=labels).find("BertModel.forward", "labels")
        assert row.unguarded == "silently ignored by forward"

    apply_documented_fix("task wrapper on a headless model", peft_model=peft_model)
    guarded = peft_model(input_ids=ids, attention_mask=mask, labels=labels)
    clean = peft_model.get_base_model()(input_ids=ids, attention_mask=mask)
    assert torch.allclose(guarded.last_hidden_state, clean.last_hidden_state, atol=1e-6)
    assert _action(peft_model, "labels") == "dropped"


def test_seq2seq_wrapper_around_a_decoder_only_model_gets_decoder_keywords_dropped():
    """PEFT's SEQ_2_SEQ_LM wrapper passes ``decoder_input_ids``, ``decoder_attention_mask`` and
    ``decoder_inputs_embeds`` (``None``) to whatever it wraps; a decoder-only forward without
    ``**kwargs`` raises (peft#1596 with ChatGLM, QwenLM/Qwen#901). transformers 5's GPT-2 takes a
    plain ``**kwargs`` and swallows the three ``None``s, so there it runs unguarded."""
    peft_model = seq2seq_around_gpt2()
    ids, mask = _batch()
    clean = peft_model.get_base_model()(input_ids=ids, attention_mask=mask, labels=ids)
    outcome, plain = _unguarded(lambda: peft_model(input_ids=ids, attention_mask=mask, labels=ids), "decoder_input_ids")
    if STACK == "4.46":
        assert outcome == "raises"
        # The three carry None: explain drops them rather than remap them onto look-alikes
        # (decoder_attention_mask is not GPT-2's encoder_attention_mask).
        (fix,) = explain(peft_model, input_ids=ids, attention_mask=mask, labels=ids).fixes
        assert "remap" not in fix and all(k in fix for k in ("decoder_input_ids", "decoder_attention_mask")), fix
    else:
        assert outcome == "runs" and torch.allclose(plain.loss, clean.loss)

    apply_documented_fix("seq2seq wrapper on a decoder-only model", peft_model=peft_model)
    guarded = peft_model(input_ids=ids, attention_mask=mask, labels=ids)
    assert torch.allclose(guarded.logits, clean.logits, atol=1e-6) and torch.allclose(guarded.loss, clean.loss)
    if STACK == "4.46":
        assert {_action(peft_model, k) for k in ("decoder_input_ids", "decoder_attention_mask")} == {"dropped"}


def test_generate_into_a_forward_written_for_an_older_release():
    """``generate()`` passes what the current release's forwards take: ``cache_position`` on 4.46,
    ``cache`` (the cache's new name) on 5.24. A forward written for an older release, as remote
    code often is, takes neither. With ``renames=True`` the cache reaches ``past_key_values`` and
    the tokens equal the same weights generating as a current model."""
    reference = greedy(tiny_llama(), prompt())
    model = older_release_llama()
    injected = "cache" if STACK == "5" else "cache_position"
    with pytest.raises(TypeError, match=f"'{injected}'"):
        greedy(model, prompt())

    apply_documented_fix("generate() into an older forward", model=model)
    with warnings.catch_warnings():
        # On 4.46 cache_position is dropped with a warning: the model computes it from the cache.
        warnings.simplefilter("ignore", UnexpectedKeywordWarning)
        assert torch.equal(greedy(model, prompt()), reference)
    expected = {"5": ("cache", "remapped"), "4.46": ("cache_position", "dropped")}[STACK]
    assert _action(model, expected[0]) == expected[1]


@pytest.mark.skipif(
    STACK != "5", reason="transformers 4.46's generate() passes the cache as past_key_values: it has no cache keyword"
)
def test_a_default_guard_hints_past_key_values_for_cache_and_shows_why():
    """Without ``renames=True`` the guard can only drop ``cache`` before a forward written for
    ``past_key_values``: generation then runs without its cache and returns other tokens. The
    warning, the error and ``explain``'s fix all name ``past_key_values``."""
    reference = greedy(tiny_llama(), prompt())
    model = guard(older_release_llama())
    with pytest.warns(UnexpectedKeywordWarning, match=r"'cache'.*did you mean 'past_key_values'"):
        assert not torch.equal(greedy(model, prompt()), reference)

    strict = guard(older_release_llama(), on_unknown="raise")
    with pytest.raises(TypeError, match=r"did you mean 'past_key_values'"):
        greedy(strict, prompt())

    from transformers import DynamicCache

    fixes = explain(older_release_llama(), input_ids=prompt(), cache=DynamicCache()).fixes
    assert any("'cache': 'past_key_values'" in fix or "renames=True" in fix for fix in fixes), fixes


def test_renamed_cache_keyword_swallowed_by_an_attentions_kwargs():
    """An attention written for ``past_key_values``, with a ``**kwargs`` for whatever else arrives,
    inside a release whose decoder layer passes the cache under another name (``past_key_value`` on
    4.46, ``cache`` on 5.24): the cache disappears into ``**kwargs`` without an error. On 4.46
    generation then fails on the missing cache; on 5.24 it returns other tokens."""
    reference = greedy(tiny_llama(), prompt())
    model = llama_with_custom_attention()
    if STACK == "4.46":
        with pytest.raises(AttributeError, match="to_legacy_cache"):
            greedy(model, prompt())
    else:
        assert not torch.equal(greedy(model, prompt()), reference)

    apply_documented_fix("renamed keyword swallowed by **kwargs", model=model, CustomAttention=CustomAttention)
    assert torch.equal(greedy(model, prompt()), reference)
    swallowed = "cache" if STACK == "5" else "past_key_value"
    record = report(model).find(swallowed)
    assert record is not None and str(record.action) == "remapped" and record.target == "past_key_values"


def test_renamed_logits_keyword_swallowed_by_a_forwards_kwargs():
    """TRL calls ``model(..., logits_to_keep=n)`` since 0.15 (trl#2770); transformers 4.46 names it
    ``num_logits_to_keep``, and transformers 5 ``logits_to_keep``, so an older TRL or script passes
    the old name. Either way the other name lands in the forward's ``**kwargs``, unused: every
    position's logits come back where one was asked for."""
    model = tiny_llama()
    ids, _ = _batch()
    native, foreign = (
        ("logits_to_keep", "num_logits_to_keep") if STACK == "5" else ("num_logits_to_keep", "logits_to_keep")
    )
    plain = model(input_ids=ids, **{foreign: 1}).logits
    assert plain.shape[1] == ids.shape[1]  # silently ignored: the whole sequence
    row = explain(model, input_ids=ids, **{foreign: 1}).find("LlamaForCausalLM.forward", foreign)
    assert row.unguarded == "silently ignored by forward"
    with pytest.warns(UnexpectedKeywordWarning, match=f"did you mean '{native}'"):
        guard(tiny_llama())(input_ids=ids, **{foreign: 1})

    apply_documented_fix("renamed keyword into a transformers forward", model=model)
    guarded = model(input_ids=ids, **{foreign: 1}).logits
    clean = model(input_ids=ids, **{native: 1}).logits
    assert guarded.shape[1] == 1 and torch.allclose(guarded, clean)


@pytest.mark.parametrize(
    ("build", "plain_on", "reference"),
    [
        (distilbert_classifier, {"4.46": "raises TypeError", "5": "silently ignored by forward"}, "transformers#2702"),
        (tiny_llama, {"4.46": "silently ignored by forward", "5": "silently ignored by forward"}, "transformers#24514"),
    ],
    ids=["distilbert-classifier", "llama-causal-lm"],
)
def test_tokenizer_token_type_ids_into_a_model_without_them(build, plain_on, reference):
    """A BERT tokenizer's output carries ``token_type_ids``; DistilBERT and Llama take none. The
    labels are the ones the model's loss expects, so the loss is compared too."""
    tokenizer = bert_tokenizer()
    encoded = dict(text_batch(tokenizer))
    assert "token_type_ids" in encoded
    model = build()
    labels = torch.tensor([0, 1]) if build is distilbert_classifier else encoded["input_ids"]
    row = explain(model, **encoded, labels=labels).find(f"{type(model).__name__}.forward", "token_type_ids")
    assert row.unguarded == plain_on[STACK], reference

    apply_documented_fix("tokenizer keyword the model lacks", model=model)
    guarded = model(**encoded, labels=labels)
    clean = model(**{k: v for k, v in encoded.items() if k != "token_type_ids"}, labels=labels)
    assert torch.allclose(guarded.logits, clean.logits, atol=1e-6) and torch.allclose(guarded.loss, clean.loss)
    assert _action(model, "token_type_ids") == "dropped"


@pytest.mark.skipif(
    STACK != "5",
    reason="transformers 4.46's Trainer passes num_items_in_batch only to a **kwargs named loss_kwargs, "
    "not to forward(self, **kwargs) (tests/integration/test_compatibility.py covers the loss_kwargs case)",
)
def test_trainer_num_items_in_batch_through_a_kwargs_model_into_a_backbone():
    """The Trainer adds ``num_items_in_batch`` to the batch of any model whose forward has a
    ``**kwargs``; a user's ``forward(self, **kwargs)`` hands it to a backbone that does not take it
    (transformers#36074, with ModernBertModel as the backbone). ``explain`` on the batch names the
    backbone and ends with a ``target=`` fix; that fix, pasted, trains exactly like a model the
    Trainer never passes the keyword to."""
    rows = scoring_rows()
    model = seeded(ScoringModel)
    with pytest.raises(TypeError, match=r"SentenceEncoder\.forward.*'num_items_in_batch'"):
        train(seeded(ScoringModel), rows)

    batch = {"input_ids": torch.stack([r["input_ids"] for r in rows[:4]]), "labels": torch.rand(4)}
    explanation = explain(model, **batch, num_items_in_batch=torch.tensor(4))
    assert explanation.stopped_at == "SentenceEncoder.forward"
    assert explanation.find("SentenceEncoder.forward", "num_items_in_batch").unguarded == "raises TypeError"
    text = str(explanation)
    assert "SentenceEncoder.forward [backbone]" in text, text
    assert explanation.fixes[-1] == DOCUMENTED_FIXES["trainer keyword through your **kwargs"], explanation.fixes
    last_fix = text[text.rindex("fix:") :]
    assert "target='SentenceEncoder'" in last_fix and text.rstrip().endswith(")"), text
    apply_documented_fix("trainer keyword through your **kwargs", model=model)

    trained = train(model, rows)
    clean_model = seeded(ScoringModel)
    clean_model.accepts_loss_kwargs = False  # the Trainer's own switch: it then passes no num_items_in_batch
    clean = train(clean_model, rows)
    assert trained.keys() == clean.keys() and all(torch.equal(trained[k], clean[k]) for k in trained)
    assert _action(model, "num_items_in_batch") == "dropped"


def test_an_old_scripts_masked_lm_labels_reaches_labels():
    """Scripts from transformers 2.x pass ``masked_lm_labels=`` to a masked LM (1024er/cbert_aug#11),
    renamed ``labels`` since: a TypeError on 4.46, and on transformers 5 a keyword silently ignored,
    so the output has no loss."""
    model = bert_for_masked_lm()
    ids, mask = _batch()
    outcome, plain = _unguarded(
        lambda: model(input_ids=ids, attention_mask=mask, masked_lm_labels=ids), "masked_lm_labels"
    )
    if STACK == "4.46":
        assert outcome == "raises"
    else:
        assert outcome == "runs" and plain.loss is None
    (fix,) = explain(model, input_ids=ids, masked_lm_labels=ids).fixes
    assert "target='BertForMaskedLM'" in fix and "'masked_lm_labels': 'labels'" in fix, fix  # a known rename

    apply_documented_fix("an old script's label names", model=model)
    guarded = model(input_ids=ids, attention_mask=mask, masked_lm_labels=ids)
    clean = model(input_ids=ids, attention_mask=mask, labels=ids)
    assert torch.allclose(guarded.loss, clean.loss)


def test_an_old_scripts_lm_labels_reaches_t5_labels():
    """Seq2seq scripts written for transformers 2.x pass ``lm_labels=`` to T5
    (lgw863/ACSA-generation#3): a TypeError on 4.46; on transformers 5 T5 ignores it, builds no
    decoder input from the labels, and fails with a ValueError that does not name the keyword."""
    model = tiny_t5()
    ids, mask = _batch()
    if STACK == "4.46":
        with pytest.raises(TypeError, match="'lm_labels'"):
            model(input_ids=ids, attention_mask=mask, lm_labels=ids)
    else:
        with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
            model(input_ids=ids, attention_mask=mask, lm_labels=ids)

    apply_documented_fix("an old script's label names", model=model)
    guarded = model(input_ids=ids, attention_mask=mask, lm_labels=ids)
    clean = model(input_ids=ids, attention_mask=mask, labels=ids)
    assert torch.allclose(guarded.loss, clean.loss) and torch.allclose(guarded.logits, clean.logits)
    assert _action(model, "lm_labels") == "remapped"


@pytest.mark.parametrize("kind", sorted(DOCUMENTED_FIXES))
def test_the_troubleshooting_page_gives_the_line_these_tests_run(kind):
    page = TROUBLESHOOTING.read_text()
    assert re.search(r"^\s*" + re.escape(DOCUMENTED_FIXES[kind]) + r"\s*(#.*)?$", page, re.M), (
        f"docs/troubleshooting.md does not give {DOCUMENTED_FIXES[kind]!r} on a line of its own for {kind!r}"
    )
