"""The fine-tuning reference end to end on a CPU: the demo command, the Trainer's log, the saved
adapter, generation, config files and the benchmark."""

import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from tests.helpers import ROOT, needs_boson
from tests.helpers.higgs_audio import run_recipe, train_demo

pytestmark = needs_boson


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The README's demo command, as a new user runs it (a subprocess)."""
    output = tmp_path_factory.mktemp("demo")
    completed = run_recipe("--demo", "--output_dir", output)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return output, completed.stdout + completed.stderr


class TestDemo:
    def test_shows_the_seed_error_and_the_diagnostic_naming_peft(self, demo_run):
        _, log = demo_run
        assert "TypeError: HiggsAudioModel.forward() got an unexpected keyword argument 'labels'\n" in log
        assert "it was passed by peft/peft_model.py:" in log and "PeftModelForCausalLM.forward" in log

    def test_leaves_state_adapter_and_loss_curve(self, demo_run):
        output, _ = demo_run
        for name in (
            "trainer_state.json",
            "adapter_config.json",
            "adapter_model.safetensors",
            "loss_curve.png",
            "generated_codes.npy",
        ):
            assert (output / name).is_file(), name
        assert (output / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        config = json.loads((output / "adapter_config.json").read_text())
        assert config["task_type"] == "CAUSAL_LM" and config["peft_type"] == "LORA"

    def test_loss_falls_over_epochs_with_audio_targets_in_every_epoch(self, demo_run):
        output, _ = demo_run
        history = json.loads((output / "trainer_state.json").read_text())["log_history"]
        steps = [entry for entry in history if "loss" in entry]
        for key in ("loss", "text_loss", "audio_loss"):
            assert all(key in entry for entry in steps), key
        by_epoch = defaultdict(list)
        for entry in steps:
            by_epoch[math.ceil(entry["epoch"] - 1e-9)].append(entry)
        assert len(by_epoch) >= 5
        for entries in by_epoch.values():  # the collator must not have eaten the audio labels
            assert all(0 < e["audio_loss"] < 100 and math.isfinite(e["audio_loss"]) for e in entries)
        first, last = by_epoch[min(by_epoch)], by_epoch[max(by_epoch)]
        mean = lambda entries, key: sum(e[key] for e in entries) / len(entries)  # noqa: E731
        assert mean(last, "loss") < 0.3 * mean(first, "loss")
        assert mean(last, "audio_loss") < 0.5 * mean(first, "audio_loss")

    def test_generated_codes_are_valid_audio_codes(self, demo_run):
        import numpy as np

        codes = np.load(demo_run[0] / "generated_codes.npy")
        assert codes.shape[0] == 4 and codes.shape[1] > 0
        assert codes.min() >= 0 and codes.max() < 32


class TestGenerationOutput:
    def test_codes_are_saved_and_decoded_to_a_wav_when_a_decoder_is_there(self, tmp_path):
        import numpy as np
        import soundfile

        from kwarg_guard.recipes.higgs_audio.generation import GenerationResult, save_generation

        class ToneDecoder:
            """Stands in for the Higgs audio tokenizer's decoder (its weights need the hub)."""

            sampling_rate = 8000

            def decode(self, codes):
                return np.sin(np.arange(codes.shape[1] * 80) / 10.0).astype(np.float32)

        codes = np.arange(20).reshape(4, 5) % 32
        written = save_generation(GenerationResult(codes, "", []), tmp_path, ToneDecoder())
        assert [p.name for p in written] == ["generated_codes.npy", "generated.wav"]
        audio, rate = soundfile.read(tmp_path / "generated.wav")
        assert rate == 8000 and len(audio) == 400
        assert np.array_equal(np.load(tmp_path / "generated_codes.npy"), codes)

    def test_no_codes_writes_nothing(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio.generation import GenerationResult, save_generation

        assert save_generation(GenerationResult(None, "", []), tmp_path) == []
        assert list(tmp_path.iterdir()) == []


class TestAdapter:
    def test_saved_adapter_reloads_and_reproduces_logits(self, tmp_path, higgs):
        from peft import PeftModel

        from kwarg_guard import guard
        from kwarg_guard.recipes.higgs_audio import main
        from kwarg_guard.recipes.higgs_audio.tiny import tiny_model

        *_, batch = higgs
        result = main(["--demo", "--output_dir", str(tmp_path), "--num_train_epochs", "2", "--generate_text", ""])
        trained = result.model.eval()
        reloaded = guard(PeftModel.from_pretrained(tiny_model(0), str(tmp_path)), preset="higgs_audio").eval()
        with torch.no_grad():
            expected, actual = trained(**batch), reloaded(**batch)
        assert torch.allclose(expected.logits, actual.logits, atol=1e-6)
        assert torch.allclose(expected.audio_logits, actual.audio_logits, atol=1e-6)
        untrained = guard(tiny_model(0), preset="higgs_audio").eval()
        with torch.no_grad():
            assert not torch.allclose(untrained(**batch).audio_logits, actual.audio_logits, atol=1e-3)

    def test_merge_adapter_saves_a_plain_model(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio import main

        main(
            [
                "--demo",
                "--output_dir",
                str(tmp_path),
                "--num_train_epochs",
                "1",
                "--merge_adapter",
                "--generate_text",
                "",
            ]
        )
        merged = tmp_path / "merged"
        assert (merged / "config.json").is_file()
        assert any(merged.glob("*.safetensors"))


class TestTrainingOptions:
    def test_full_finetune_trains_base_weights_without_peft(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio.tiny import tiny_model

        result = train_demo(tmp_path, "--full_finetune")
        assert not hasattr(result.model, "peft_config")
        before = dict(tiny_model(0).named_parameters())
        after = dict(result.model.named_parameters())
        assert not torch.equal(before["layers.0.self_attn.q_proj.weight"], after["layers.0.self_attn.q_proj.weight"])
        assert (tmp_path / "model.safetensors").is_file()

    def test_checkpoints_and_resume_are_the_trainers(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio import main

        common = [
            "--demo",
            "--output_dir",
            str(tmp_path),
            "--generate_text",
            "",
            "--save_strategy",
            "steps",
            "--save_steps",
            "4",
        ]
        main([*common, "--max_steps", "4"])
        checkpoint = tmp_path / "checkpoint-4"
        assert (checkpoint / "adapter_model.safetensors").is_file() and (checkpoint / "trainer_state.json").is_file()
        result = main([*common, "--max_steps", "8", "--resume_from_checkpoint", str(checkpoint)])
        assert result.trainer.state.global_step == 8
        steps = [e["step"] for e in result.trainer.state.log_history if "loss" in e]
        assert steps[:4] == [1, 2, 3, 4] and steps[-1] == 8

    def test_console_script_is_installed(self):
        script = Path(sys.executable).parent / "kwarg-guard-higgs-audio"
        completed = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
        assert (
            completed.returncode == 0
            and "--train_manifest" in completed.stdout
            and "--lora_targets" in completed.stdout
        )

    def test_json_config_file(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio.arguments import parse_arguments

        config = tmp_path / "run.json"
        config.write_text(
            json.dumps({"demo": True, "output_dir": str(tmp_path / "out"), "lora_r": 4, "full_finetune": False})
        )
        _, _, lora_args, recipe_args, _ = parse_arguments([str(config)])
        assert recipe_args.demo and lora_args.lora_r == 4


class TestConfigurationAndBenchmark:
    def test_yaml_config_file(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio.arguments import parse_arguments

        config = tmp_path / "run.yaml"
        config.write_text(
            f"demo: true\noutput_dir: {tmp_path / 'out'}\nlora_targets: attention,audio_ffn\n"
            "llm_gradient_checkpointing: true\nnum_train_epochs: 1\n"
        )
        _model_args, _data_args, lora_args, recipe_args, training_args = parse_arguments([str(config)])
        assert recipe_args.demo and recipe_args.llm_gradient_checkpointing
        assert lora_args.lora_targets == "attention,audio_ffn" and training_args.num_train_epochs == 1

    def test_trainer_gradient_checkpointing_flag_checkpoints_the_llm_layers(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio.legacy.checkpointing import is_checkpointed

        result = train_demo(tmp_path, "--gradient_checkpointing")
        assert is_checkpointed(result.model.get_base_model())
        assert not result.trainer.args.gradient_checkpointing

    def test_benchmark_writes_its_figures(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio import main

        figures = main(
            [
                "--demo",
                "--benchmark",
                "--output_dir",
                str(tmp_path),
                "--benchmark_steps",
                "3",
                "--benchmark_seq_len",
                "48",
            ]
        )
        saved = json.loads((tmp_path / "benchmark.json").read_text())
        assert saved["timed_steps"] == 3 and saved["steps_per_second"] > 0 and saved["audio_tokens_per_second"] > 0
        assert saved["peak_gpu_memory_gib"] is None and saved["peak_process_memory_gib"] > 0
        assert figures == saved

    def test_missing_manifest_outside_the_demo_is_a_clear_error(self, tmp_path):
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "higgs_audio"}))
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "kwarg_guard.recipes.higgs_audio",
                "--model_name_or_path",
                str(tmp_path),
                "--output_dir",
                str(tmp_path / "out"),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert completed.returncode == 2
        assert (
            completed.stderr.strip().splitlines()[-1]
            == "higgs_audio: --train_manifest is required (or --demo for the built-in synthetic data)"
        )
