"""The post-training sample on this stack's backend: the serve engine's sampling defaults, caches
that hold a long reference, the voice-cloning context of the training data, and a model that has
learnt when to stop."""

import json

import numpy as np
import pytest
import torch

from kwarg_guard.recipes.higgs_audio.generation import GenerationRequest, default_max_new_tokens
from tests.helpers.higgs_audio import BACKEND, lora


def tokenizer():
    from kwarg_guard.recipes.higgs_audio.tiny import tiny_tokenizer

    return tiny_tokenizer()


def spy_on_generate(model, monkeypatch):
    """Record what ``generate`` is given, then let it run."""
    from kwarg_guard.recipes.higgs_audio.backend import base_model

    base = base_model(model)
    calls = []
    real = base.generate
    monkeypatch.setattr(base, "generate", lambda *a, **k: calls.append(k) or real(*a, **k))
    return calls


def sampling_of(call):
    if BACKEND.name == "legacy":
        return {
            key: call[key]
            for key in ("do_sample", "temperature", "top_p", "top_k", "ras_win_len", "ras_win_max_num_repeat")
        }
    config = call["generation_config"]
    return {
        key: getattr(config, key)
        for key in ("do_sample", "temperature", "top_p", "top_k", "ras_win_len", "ras_win_max_num_repeat")
    }


class TestSampling:
    def test_defaults_are_the_serve_engines(self, monkeypatch):
        model = lora()
        calls = spy_on_generate(model, monkeypatch)
        result = BACKEND.generate(model, tokenizer(), GenerationRequest("Hello there.", max_new_tokens=12))
        assert sampling_of(calls[0]) == {
            "do_sample": True,
            "temperature": 0.7,
            "top_p": 0.95,
            "top_k": None,
            "ras_win_len": 7,
            "ras_win_max_num_repeat": 2,
        }
        assert result.codes is None or (result.codes.shape[0] == 4 and result.codes.max() < 32)

    def test_greedy_when_told(self, monkeypatch):
        model = lora()
        calls = spy_on_generate(model, monkeypatch)
        BACKEND.generate(model, tokenizer(), GenerationRequest("Hi.", max_new_tokens=6, temperature=0, ras_window=0))
        sampling = sampling_of(calls[0])
        assert sampling["do_sample"] is False and sampling["ras_win_len"] is None

    def test_a_sensible_default_length(self):
        assert default_max_new_tokens("Hello there.", 8) == 25 * 2 + 30 + 8  # 2 s + 0.6 s a word, + delay
        assert default_max_new_tokens("word " * 10000, 8) == 2048


@pytest.mark.skipif(
    BACKEND.name != "legacy",
    reason="the KV-cache buckets are the legacy serve engine's (the native generate sizes its own cache)",
)
def test_a_20_second_reference_and_600_new_frames_fit_the_caches(monkeypatch):
    from kwarg_guard.recipes.higgs_audio.legacy import generation

    needs = []
    real = generation._kv_caches
    monkeypatch.setattr(generation, "_kv_caches", lambda *a: needs.append(a[-1]) or real(*a))
    request = GenerationRequest(
        "Long text.",
        ref_text="A long reference.",
        ref_codes=np.arange(2000).reshape(4, 500) % 32,
        max_new_tokens=600,
        temperature=0,
        ras_window=0,
    )
    BACKEND.generate(
        lora(), tokenizer(), request
    )  # used to stop with "sequence length 1025 is larger than all buckets"
    (needed,) = needs
    assert needed >= 500 + 600
    assert generation._buckets(needed)[-1] >= needed and generation._buckets(needed)[0] == 1024
    assert generation._buckets(200) == [256]


def test_the_sample_clones_the_voice_the_fine_tune_was_trained_on(tmp_path, monkeypatch):
    from kwarg_guard.recipes.higgs_audio import main

    codes = [[(3 * t + k) % 32 for t in range(7)] for k in range(4)]
    lines = [
        {
            "text": f"Sentence {i}.",
            "audio_codes": codes,
            "ref_audio_codes": codes,
            "ref_text": "The reference.",
            "scene": "A small studio.",
            "speaker": "a calm voice",
        }
        for i in range(4)
    ]
    manifest = tmp_path / "clone.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    requests = []
    real = type(BACKEND).generate
    monkeypatch.setattr(
        type(BACKEND),
        "generate",
        lambda self, model, tok, request: requests.append(request) or real(self, model, tok, request),
    )
    main(
        [
            "--demo",
            "--train_manifest",
            str(manifest),
            "--output_dir",
            str(tmp_path / "out"),
            "--num_train_epochs",
            "1",
            "--generate_text",
            "New words.",
        ]
    )
    (request,) = requests
    assert (request.scene, request.speaker, request.ref_text) == ("A small studio.", "a calm voice", "The reference.")
    assert np.array_equal(request.ref_codes, np.asarray(codes))


def test_a_trained_model_stops_after_the_last_frame():
    """The stream end is a training target: after fitting one utterance, greedy generation gives
    exactly its codes and stops."""
    from kwarg_guard.recipes.higgs_audio.manifest import AudioSource, Utterance

    target = np.array([[(5 * t + 7 * k) % 32 for t in range(6)] for k in range(4)])
    config, tok = BACKEND.config_and_tokenizer(None, demo=True)
    utterance = Utterance(1, "Stop here.", AudioSource(inline_codes=()))
    dataset = BACKEND.dataset([utterance], [(target, None)], tok, config)
    batch = BACKEND.collator(config)([dataset[0]])
    model = lora(targets="attention,mlp,audio_ffn,heads")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    for _ in range(200):
        sums, _ = BACKEND.loss_sums(model, batch)
        loss = sums.text / max(sums.text_targets, 1) + sums.audio / max(sums.audio_targets, 1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    result = BACKEND.generate(
        model, tok, GenerationRequest("Stop here.", max_new_tokens=40, temperature=0, ras_window=0)
    )
    assert result.codes is not None and np.array_equal(result.codes, target)
