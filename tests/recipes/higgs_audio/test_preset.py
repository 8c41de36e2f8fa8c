"""The higgs_audio preset on the real HiggsAudioModel (tiny random config) under PEFT CAUSAL_LM."""

import copy
import logging

import pytest
import torch

from kwarg_guard import UnexpectedKeywordWarning, guard, patched, report
from tests.helpers import HAS_BOSON, needs_boson

if HAS_BOSON:
    from tests.helpers.higgs_audio import lora_model


@pytest.mark.skipif(
    HAS_BOSON, reason="boson_multimodal is installed on this stack; the transformers 5 stack checks the message"
)
def test_preset_without_boson_names_the_preset_that_fits():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(ImportError, match=r"needs the 'boson_multimodal' package.*use preset='higgs_audio_v2'$"):
        guard(model, preset="higgs_audio")


@needs_boson
class TestSeedError:
    def test_peft_causal_lm_fails_unguarded_even_without_labels(self, higgs):
        *_, batch = higgs
        batch = {k: v for k, v in batch.items() if k != "labels"}
        plain = lora_model(preset=False)
        with pytest.raises(
            TypeError, match=r"^HiggsAudioModel\.forward\(\) got an unexpected keyword argument 'labels'$"
        ):
            plain(**batch)

    def test_the_preset_fixes_it_on_the_outer_model(self, higgs):
        *_, batch = higgs
        plain = lora_model(preset=False)
        with patched(plain, preset="higgs_audio"):
            out = plain(**batch)
        assert out.logits.shape[0] == 4

    def test_diagnostic_names_peft_as_the_injector(self, higgs, caplog):
        *_, batch = higgs
        with caplog.at_level(logging.INFO, logger="kwarg_guard"):
            lora_model()(**batch)
        (message,) = [r.getMessage() for r in caplog.records if r.name == "kwarg_guard"]
        assert "'labels' (Tensor(int64)) remapped -> 'label_ids', passed by peft/peft_model.py:" in message
        assert "PeftModelForCausalLM.forward" in message


@needs_boson
class TestPresetSemantics:
    def test_none_labels_are_dropped(self, higgs):
        *_, batch = higgs
        batch = {k: v for k, v in batch.items() if k != "labels"}
        model = lora_model()
        out = model(**batch)  # PEFT injects labels=None
        assert out.expanded_labels is None
        assert report(model).find("labels", "dropped (None)").count == 1

    def test_a_labels_tensor_lands_in_label_ids(self, higgs):
        *_, batch = higgs
        model = lora_model()
        guarded = model(**batch)
        direct = model.get_base_model()(**{("label_ids" if k == "labels" else k): v for k, v in batch.items()})
        assert torch.equal(guarded.expanded_labels, direct.expanded_labels)
        assert torch.equal(guarded.logits, direct.logits)

    def test_explicit_label_ids_win_over_labels(self, higgs):
        *_, batch = higgs
        model = lora_model()
        base = model.get_base_model()
        wrong = torch.full_like(batch["labels"], -100)
        out = base(
            **{**{k: v for k, v in batch.items() if k != "labels"}, "labels": wrong, "label_ids": batch["labels"]}
        )
        reference = base(**{("label_ids" if k == "labels" else k): v for k, v in batch.items()})
        assert torch.equal(out.expanded_labels, reference.expanded_labels)

    def test_strays_are_dropped_and_a_value_warns(self, higgs):
        *_, batch = higgs
        model = lora_model()
        with pytest.warns(UnexpectedKeywordWarning, match="'token_type_ids' carried a Tensor"):
            model.get_base_model()(**batch, token_type_ids=torch.zeros(1), num_items_in_batch=None)
        assert report(model).find("num_items_in_batch").action == "dropped"

    def test_targets_every_higgs_model_inside_ddp_and_compile(self, higgs, tmp_path):
        import torch.distributed as dist
        from boson_multimodal.model.higgs_audio import HiggsAudioModel

        *_, batch = higgs
        plain = lora_model(preset=False)
        dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdv'}", rank=0, world_size=1)
        try:
            ddp = torch.nn.parallel.DistributedDataParallel(plain)
            with patched(ddp, preset="higgs_audio"):
                ddp(**batch)
        finally:
            dist.destroy_process_group()
        compiled = torch.compile(plain, backend="eager")
        with patched(compiled, preset="higgs_audio"):
            compiled(**batch)
        assert not any("forward" in vars(m) for m in plain.modules() if isinstance(m, HiggsAudioModel))

    def test_targets_a_higgs_model_carrying_an_accelerate_hook(self, higgs):
        from accelerate.hooks import ModelHook, add_hook_to_module

        class Counting(ModelHook):
            calls = 0

            def pre_forward(self, module, *args, **kwargs):
                Counting.calls += 1
                return args, kwargs

        *_, batch = higgs
        plain = lora_model(preset=False)
        add_hook_to_module(plain.get_base_model(), Counting())
        with patched(plain, preset="higgs_audio"):
            out = plain(**batch)
        assert out.expanded_labels is not None and Counting.calls == 1

    def test_guarded_higgs_model_survives_deepcopy(self, higgs):
        *_, batch = higgs
        model = lora_model()
        twin = copy.deepcopy(model)
        assert torch.equal(twin(**batch).logits, model(**batch).logits)
