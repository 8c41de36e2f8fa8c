"""The native backend (transformers 5's HiggsAudioV2ForConditionalGeneration): the processor's layout
with the recipe's labels, LoRA groups and checkpointing by the native names, the
``higgs_audio_v2`` preset under PEFT, and the demo."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kwarg_guard import UnexpectedKeywordError, UnexpectedKeywordWarning, guard, report
from tests.helpers import only_transformers_5
from tests.helpers.higgs_audio import run_recipe, train_demo

pytestmark = only_transformers_5
CODES = np.array([[(3 * t + 5 * k) % 32 for t in range(5)] for k in range(4)])


@pytest.fixture
def config():
    from kwarg_guard.recipes.higgs_audio.tiny import tiny_native_config

    return tiny_native_config()


@pytest.fixture
def tokenizer():
    from kwarg_guard.recipes.higgs_audio.tiny import tiny_tokenizer

    return tiny_tokenizer()


def sample(tokenizer, config, ref=False):
    from kwarg_guard.recipes.higgs_audio.native.data import native_sample
    from kwarg_guard.recipes.higgs_audio.prompts import build_prompt

    prompt = build_prompt(tokenizer, "Hello there.", ref_text="Before." if ref else None)
    return native_sample(prompt, [CODES, CODES] if ref else [CODES], config)


class TestLayout:
    def test_inputs_are_laid_out_as_the_processor_lays_them_out(self, tokenizer, config):
        from transformers import HiggsAudioV2Processor

        processor = SimpleNamespace(
            audio_stream_bos_id=config.audio_stream_bos_id, audio_stream_eos_id=config.audio_stream_eos_id
        )
        stream = torch.cat([torch.full((4, 1), 32), torch.as_tensor(CODES), torch.full((4, 1), 33)], dim=1)
        expected = HiggsAudioV2Processor.build_delay_pattern(processor, stream[None])[0].T
        s = sample(tokenizer, config)
        assert torch.equal(s["audio_input_ids"], expected)
        frames = len(expected)
        ids = s["input_ids"].tolist()
        start = ids.index(config.audio_bos_token_id) + 1
        assert ids[start : start + frames] == [config.audio_token_id] * (frames - 3) + [config.audio_delay_token_id] * 3
        assert tokenizer.decode(ids[start + frames :]) == "<|audio_eos|><|eot_id|>"

    def test_the_stream_end_is_a_target_where_the_processor_drops_it(self, tokenizer, config):
        labels = sample(tokenizer, config)["audio_labels"]
        frames = CODES.shape[1]
        for k in range(4):
            column = labels[:, k]
            assert column[k + 1 : k + 1 + frames].tolist() == CODES[k].tolist()
            assert column[k + 1 + frames] == config.audio_stream_eos_id  # the processor: -100
            assert (column[: k + 1] == -100).all() and (column[k + 2 + frames :] == -100).all()

    def test_a_reference_clip_is_embedded_but_not_trained(self, tokenizer, config):
        s = sample(tokenizer, config, ref=True)
        clip = CODES.shape[1] + 4 + 1
        assert len(s["audio_input_ids"]) == 2 * clip
        assert (s["audio_labels"][:clip] == -100).all() and (s["audio_labels"][clip:] != -100).any()

    def test_text_targets_are_the_legacy_models(self, tokenizer, config):
        s = sample(tokenizer, config)
        targets = s["labels"][s["labels"] != -100].tolist()
        assert tokenizer.decode(targets) == "<|audio_out_bos|><|audio_eos|><|eot_id|>"


def test_lora_groups_reach_the_native_modules():
    from peft import LoraConfig, get_peft_model

    from kwarg_guard.recipes.higgs_audio.finetune import lora_target_regex
    from kwarg_guard.recipes.higgs_audio.native.model import LORA_TARGETS as NATIVE_LORA_TARGETS
    from kwarg_guard.recipes.higgs_audio.tiny import tiny_native_model

    expected = {"attention": 8, "mlp": 6, "audio_ffn": 6, "heads": 2}
    for group, count in expected.items():
        model = get_peft_model(
            tiny_native_model(0),
            LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=lora_target_regex(group, NATIVE_LORA_TARGETS)),
        )
        adapted = {name.rsplit(".lora_A", 1)[0] for name, _ in model.named_parameters() if ".lora_A." in name}
        assert len(adapted) == count, (group, sorted(adapted))


def test_the_models_own_checkpointing_keeps_loss_and_gradients(tokenizer, config):
    from kwarg_guard.recipes.higgs_audio.native import NATIVE
    from tests.helpers.higgs_audio import lora

    batch = NATIVE.collator(config)([sample(tokenizer, config), sample(tokenizer, config, ref=True)])
    results = []
    for checkpointed in (False, True):
        model = lora(seed=1)
        model.train()
        if checkpointed:
            assert NATIVE.enable_checkpointing(model) == 2
        sums, _ = NATIVE.loss_sums(model, batch)
        (sums.text + sums.audio).backward()
        results.append(
            (
                (sums.text + sums.audio).detach(),
                {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
            )
        )
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert torch.equal(loss_a, loss_b) and grads_a.keys() == grads_b.keys() and grads_a
    assert all(torch.allclose(grads_a[n], grads_b[n], atol=1e-7) for n in grads_a)


class TestPreset:
    @pytest.fixture
    def peft_model(self):
        from peft import LoraConfig, get_peft_model

        from kwarg_guard.recipes.higgs_audio.tiny import tiny_native_model

        return guard(
            get_peft_model(tiny_native_model(0), LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj"])),
            preset="higgs_audio_v2",
        )

    @pytest.fixture
    def inputs(self, tokenizer, config):
        from kwarg_guard.recipes.higgs_audio.native.data import NativeCollator

        batch = NativeCollator(config)([sample(tokenizer, config)])
        return {k: v for k, v in batch.items() if k not in ("labels", "audio_labels")}, batch["audio_labels"]

    def test_what_peft_passes_goes_through(self, peft_model, inputs):
        model_inputs, audio_labels = inputs
        assert peft_model(**model_inputs).logits.shape[0] == 1
        assert peft_model(**model_inputs, audio_labels=audio_labels).loss is not None
        assert isinstance(peft_model(**model_inputs, return_dict=False), tuple)

    @pytest.mark.parametrize("misspelt, meant", [("audio_label", "audio_labels"), ("label_audio_ids", "audio_labels")])
    def test_a_misspelt_label_fails_at_once_with_the_real_name(self, peft_model, inputs, misspelt, meant):
        model_inputs, audio_labels = inputs
        with pytest.raises(UnexpectedKeywordError, match=rf"'{misspelt}'.*did you mean '{meant}'"):
            peft_model(**model_inputs, **{misspelt: audio_labels})

    def test_labels_without_a_text_head_are_reported(self, inputs):
        from peft import LoraConfig, get_peft_model
        from transformers import HiggsAudioV2ForConditionalGeneration

        from kwarg_guard.recipes.higgs_audio.tiny import tiny_native_config

        headless = HiggsAudioV2ForConditionalGeneration(
            tiny_native_config()
        )  # use_text_head=False: transformers' default
        model = guard(
            get_peft_model(headless, LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj"])),
            preset="higgs_audio_v2",
        )
        model_inputs, _ = inputs
        with pytest.warns(
            UnexpectedKeywordWarning,
            match="'labels' carried a Tensor.*will be ignored by HiggsAudioV2ForConditionalGeneration",
        ):
            model(**model_inputs, labels=model_inputs["input_ids"])
        assert report(model).find("labels").action == "ignored by forward"

    def test_labels_with_a_text_head_pass_quietly(self, peft_model, inputs, recwarn):
        model_inputs, _ = inputs
        peft_model(**model_inputs, labels=model_inputs["input_ids"])
        assert not [w for w in recwarn if issubclass(w.category, UnexpectedKeywordWarning)]
        assert report(peft_model).find("labels") is None


def test_the_trainer_passes_the_model_no_labels_and_no_item_count(tmp_path, monkeypatch):
    """The Trainer's num_items_in_batch counts text tokens: it must never scale the audio loss."""
    import kwarg_guard.recipes.higgs_audio.native.model as native_model

    seen = []
    real = native_model.load_model

    def load_and_watch(*args, **kwargs):
        model = real(*args, **kwargs)
        model.register_forward_pre_hook(lambda module, a, k: seen.append(set(k)), with_kwargs=True)
        return model

    monkeypatch.setattr(native_model, "load_model", load_and_watch)
    train_demo(tmp_path)
    assert seen and all(not ({"audio_labels", "num_items_in_batch"} & keys) for keys in seen)


def test_the_demo_trains_the_native_port(tmp_path):
    completed = run_recipe("--demo", "--output_dir", tmp_path, timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "PEFT CAUSAL_LM around HiggsAudioV2ForConditionalGeneration" in completed.stdout
    assert "returned loss=None: the misspelt keyword was swallowed" in completed.stdout
    assert "did you mean 'audio_labels'?" in completed.stdout
    history = [e for e in json.loads((tmp_path / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    for key in ("text_loss", "audio_loss"):
        values = [e[key] for e in history]
        assert all(np.isfinite(values)) and np.mean(values[-4:]) < 0.3 * np.mean(values[:4]), key
    adapter = json.loads((tmp_path / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA" and adapter["task_type"] == "CAUSAL_LM"
    codes = np.load(tmp_path / "generated_codes.npy")
    assert codes.shape[0] == 4 and codes.min() >= 0 and codes.max() < 32
