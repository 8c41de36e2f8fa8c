"""The recipe's command line, as the transformers examples have it: a config file with options on
top, the demo from a file, one-line user errors with exit code 2, and a --help that leads with
the recipe's own options; and the hub revisions every loader is given."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kwarg_guard.recipes.higgs_audio.arguments import DATACLASSES, parse_arguments
from kwarg_guard.recipes.higgs_audio.release import LEGACY_AUDIO_TOKENIZER_REVISION, LEGACY_MODEL_REVISION
from tests.helpers import audio_test
from tests.helpers.higgs_audio import BACKEND, run_recipe


class TestConfigFiles:
    @pytest.mark.parametrize("suffix", [".yaml", ".json"])
    def test_the_command_line_overrides_the_file(self, tmp_path, suffix):
        values = {"demo": True, "output_dir": str(tmp_path), "lora_r": 8, "num_train_epochs": 2, "learning_rate": 5e-4}
        config = tmp_path / f"run{suffix}"
        if suffix == ".json":
            config.write_text(json.dumps(values))
        else:
            config.write_text(
                "".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}\n" for k, v in values.items())
            )
        _, _, lora_args, recipe_args, training_args = parse_arguments([str(config), "--lora_r", "4"])
        assert recipe_args.demo and lora_args.lora_r == 4
        assert training_args.num_train_epochs == 2 and training_args.learning_rate == 5e-4  # the file beats the demo's

    def test_demo_true_in_a_file_means_the_same_as_the_flag(self, tmp_path):
        config = tmp_path / "demo.yaml"
        config.write_text(f"demo: true\noutput_dir: {tmp_path}\n")
        from_file = parse_arguments([str(config)])
        from_flag = parse_arguments(["--demo", "--output_dir", str(tmp_path)])
        assert from_file[2] == from_flag[2] and from_file[3] == from_flag[3]
        assert from_file[4].num_train_epochs == from_flag[4].num_train_epochs == 30

    def test_report_to_from_the_file_is_respected(self, tmp_path):
        config = tmp_path / "run.yaml"
        config.write_text(f"output_dir: {tmp_path}\nreport_to: [tensorboard]\n")
        assert parse_arguments([str(config)])[4].report_to == ["tensorboard"]
        assert parse_arguments(["--output_dir", str(tmp_path)])[4].report_to in ([], ["tensorboard"])


class TestUserErrors:
    @pytest.mark.parametrize(
        "arrange, message",
        [
            (lambda d: ["--demo", "--no_such_option", "3"], "unrecognized arguments: --no_such_option 3"),
            (lambda d: ["--demo", "--lora_r", "many"], "--lora_r"),
            (lambda d: [d / "missing.yaml"], "config file"),
            (lambda d: ["--demo", "--train_manifest", d / "missing.jsonl"], "--train_manifest"),
            (lambda d: ["--demo", "--train_manifest", d], "is a folder"),
            (lambda d: ["--demo", "--train_manifest", _bad_manifest(d)], "manifest.jsonl:2: not valid JSON"),
            (lambda d: ["--demo", "--backend", "quantum"], "--backend must be legacy, native or auto"),
            (lambda d: ["--demo", "--lora_targets", "everything"], "unknown LoRA target group(s) everything"),
            (
                lambda d: [_bad_yaml(d)],
                "is not valid YAML: mapping values are not allowed here at line 3, column 16",
            ),
        ],
        ids=[
            "unknown-option",
            "bad-value",
            "missing-config",
            "missing-manifest",
            "folder-manifest",
            "bad-manifest",
            "unknown-backend",
            "unknown-lora-group",
            "yaml-syntax-error",
        ],
    )
    def test_one_line_and_exit_2(self, tmp_path, arrange, message):
        completed = run_recipe(*arrange(tmp_path), "--output_dir", tmp_path / "out")
        assert completed.returncode == 2, completed.stderr[-2000:]
        assert "Traceback" not in completed.stderr
        last = completed.stderr.strip().splitlines()[-1]
        assert last.startswith("higgs_audio: ") and message in last


def _bad_manifest(folder: Path) -> Path:
    path = folder / "manifest.jsonl"
    path.write_text('{"text": "fine", "audio_codes": [[1, 2], [1, 2], [1, 2], [1, 2]]}\n{"text": "cut", "audio_co\n')
    return path


def _bad_yaml(folder: Path) -> Path:
    path = folder / "run.yaml"
    path.write_text("demo: true\nlora_r: 8\n  learning_rate: 1e-4\n")
    return path


class TestHelp:
    def test_help_is_the_recipes_own_options_with_a_description_and_examples(self):
        completed = run_recipe("--help", timeout=300)
        text = completed.stdout
        assert completed.returncode == 0
        assert text.startswith("usage: python -m kwarg_guard.recipes.higgs_audio [config.yaml | config.json]")
        assert "Fine-tune Higgs Audio v2" in text and "\nexamples:\n" in text
        assert '{"text": "Words to say.", "audio": "clips/0001.wav"}' in text  # the manifest format
        assert text.index("\nmodel:\n") < text.index("--backend") < text.index("--benchmark_seq_len")
        assert "--lr_scheduler_type" not in text and "--help-all lists all of them" in text
        assert len(text.splitlines()) < 150 and max(len(line) for line in text.splitlines()) <= 100
        fields = [f for cls in DATACLASSES for f in cls.__dataclass_fields__.values()]
        assert all(f.metadata.get("help") for f in fields), [f.name for f in fields if not f.metadata.get("help")]

    def test_help_all_adds_the_trainers_options_after_the_recipes(self):
        completed = run_recipe("--help-all", timeout=300)
        text = completed.stdout
        assert completed.returncode == 0
        trainer = text.index("\ntraining: the Trainer's TrainingArguments:\n")
        assert text.index("--benchmark_seq_len") < trainer < text.index("--lr_scheduler_type")
        assert max(len(line) for line in text.splitlines()) <= 100


def test_the_manifest_is_checked_before_the_hub_is_asked(tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text('{"text": "", "audio_codes": [[1], [1], [1], [1]]}\n')
    # Offline, the hub fails at once; a run that asked it first would report that instead.
    completed = run_recipe(
        "--train_manifest", manifest, "--output_dir", tmp_path / "out", timeout=300, env={"HF_HUB_OFFLINE": "1"}
    )
    assert completed.returncode == 2
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith("higgs_audio: 1 problem(s) in manifest") and "empty text" in last, last


def test_a_missing_reference_clip_is_refused_before_training(tmp_path):
    out = tmp_path / "out"
    completed = run_recipe(
        "--demo", "--output_dir", out, "--generate_ref_audio", tmp_path / "missing.wav", "--generate_ref_text", "hi"
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1].startswith("higgs_audio: --generate_ref_audio needs an existing")
    assert not (out / "adapter_model.safetensors").exists()


def test_a_library_warning_is_printed_once():
    # The recipe's log handler sits on kwarg_guard's logger: huggingface_hub, which has a handler
    # of its own, used to print every retry twice through a second one on the root logger.
    code = (
        "import logging; from kwarg_guard.recipes.higgs_audio.train import _log_to_stderr; _log_to_stderr(); "
        "logging.getLogger('huggingface_hub.utils._http').warning('Retrying in 1s [Retry 1/5].'); "
        "logging.getLogger('kwarg_guard.recipes.higgs_audio').info('the recipe says')"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert completed.stderr.count("Retrying in 1s") == 1, completed.stderr
    assert completed.stderr.count("the recipe says") == 1, completed.stderr


def test_the_demo_shows_progress_lists_what_it_wrote_and_what_to_do_next(tmp_path):
    completed = run_recipe("--demo", "--output_dir", tmp_path, "--num_train_epochs", "2")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "it/s]" in completed.stderr  # the Trainer's progress bar
    listing = completed.stdout.split(f"Wrote to {tmp_path.resolve()}:")[1]
    assert all(name in listing for name in ("adapter_model.safetensors", "trainer_state.json", "loss_curve.png"))
    after = completed.stdout.split("\nnext: ", 1)[1]
    assert "-m kwarg_guard.recipes.higgs_audio.manifest clips/" in after
    assert "-m kwarg_guard.recipes.higgs_audio --train_manifest clips/manifest.jsonl" in after


def test_the_model_card_says_what_was_trained_and_its_snippet_loads_it(tmp_path):
    import torch
    from safetensors.torch import load_file

    completed = run_recipe("--demo", "--output_dir", tmp_path, "--max_steps", "2")
    assert completed.returncode == 0, completed.stderr[-3000:]
    card = (tmp_path / "README.md").read_text()
    assert "More Information Needed" not in card  # PEFT's template is replaced
    assert f"{BACKEND.name} backend" in card and f"preset `{BACKEND.preset}`" in card
    assert "| adapter | LoRA r 8, alpha 16" in card and "| training | 2 steps" in card
    history = json.loads((tmp_path / "trainer_state.json").read_text())["log_history"]
    loss = [entry["loss"] for entry in history if "loss" in entry][-1]
    assert f"| final training loss | {loss:.4f} |" in card
    snippet = card.split("```python\n", 1)[1].split("```", 1)[0]
    ast.parse(snippet)
    namespace = {}
    exec(snippet, namespace)
    trained = load_file(str(tmp_path / "adapter_model.safetensors"))
    loaded = {
        name.replace(".default", ""): parameter.detach()
        for name, parameter in namespace["model"].named_parameters()
        if "lora_" in name
    }
    assert trained and loaded.keys() == trained.keys()
    assert all(torch.equal(loaded[name], weight) for name, weight in trained.items())
    assert namespace["tokenizer"]("hi")["input_ids"]


class TestHubRevisions:
    """Every download is pinned: today's hub holds the native format under the same names."""

    def test_the_native_format_is_refused_before_anything_loads(self, tmp_path):
        other = "higgs_audio_v2" if BACKEND.name == "legacy" else "higgs_audio"
        (tmp_path / "config.json").write_text(json.dumps({"model_type": other, "num_codebooks": 8}))
        manifest = tmp_path / "manifest.jsonl"
        manifest.write_text('{"text": "hi", "audio_codes": [[1], [1], [1], [1]]}\n')
        completed = run_recipe(
            "--model_name_or_path", tmp_path, "--train_manifest", manifest, "--output_dir", tmp_path / "out"
        )
        assert completed.returncode == 2 and "Traceback" not in completed.stderr
        line = completed.stderr.strip().splitlines()[-1]
        assert f"model_type {other!r}" in line
        if BACKEND.name == "legacy":
            assert f"--model_revision {LEGACY_MODEL_REVISION}" in line and "--backend native" in line
        else:
            assert "--backend legacy" in line and "convert" in line

    @pytest.mark.skipif(
        BACKEND.name != "legacy", reason="the pins are the legacy backend's (the native one follows the hub)"
    )
    def test_every_loader_gets_the_pinned_revision(self, tmp_path, monkeypatch):
        import transformers
        from boson_multimodal.model.higgs_audio import HiggsAudioConfig, HiggsAudioModel

        from kwarg_guard.recipes.higgs_audio import main
        from kwarg_guard.recipes.higgs_audio.tiny import tiny_config, tiny_model, tiny_tokenizer

        seen = {}

        def record(name, result):
            return lambda *a, **k: seen.setdefault(name, (a[0] if a else None, k.get("revision"))) and result()

        monkeypatch.setattr(
            transformers.PretrainedConfig,
            "get_config_dict",
            classmethod(
                lambda cls, *a, **k: (
                    seen.setdefault("config.json", (a[0], k.get("revision"))) and ({"model_type": "higgs_audio"}, {})
                )
            ),
        )
        monkeypatch.setattr(HiggsAudioConfig, "from_pretrained", record("config", tiny_config))
        monkeypatch.setattr(HiggsAudioModel, "from_pretrained", record("model", lambda: tiny_model(0)))
        monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", record("tokenizer", tiny_tokenizer))
        manifest = tmp_path / "m.jsonl"
        manifest.write_text('{"text": "hi", "audio_codes": [[1, 2], [1, 2], [1, 2], [1, 2]]}\n' * 2)
        main(
            [
                "--train_manifest",
                str(manifest),
                "--output_dir",
                str(tmp_path / "out"),
                "--max_steps",
                "1",
                "--use_cpu",
                "true",
                "--report_to",
                "none",
            ]
        )
        hub = "bosonai/higgs-audio-v2-generation-3B-base"
        assert seen == dict.fromkeys(("config.json", "config", "model", "tokenizer"), (hub, LEGACY_MODEL_REVISION))

    @pytest.mark.skipif(BACKEND.name != "legacy", reason="the legacy audio tokenizer (boson_multimodal) and its HuBERT")
    @audio_test  # the encoder checks its packages are installed before it asks the hub
    def test_the_audio_tokenizer_and_its_hubert_get_their_revisions(self, tmp_path, monkeypatch):
        import types

        import huggingface_hub
        import transformers

        from kwarg_guard.recipes.higgs_audio.legacy.audio import HiggsAudioTokenizerEncoder

        calls = []
        monkeypatch.setattr(
            huggingface_hub,
            "snapshot_download",
            lambda name, **k: calls.append(("snapshot", name, k.get("revision"))) or str(tmp_path),
        )
        monkeypatch.setattr(
            transformers.AutoModel,
            "from_pretrained",
            lambda name, *a, **k: calls.append(("hubert", name, k.get("revision"))),
        )
        loader = types.ModuleType("boson_multimodal.audio_processing.higgs_audio_tokenizer")
        loader.AutoModel = transformers.AutoModel

        def load_higgs_audio_tokenizer(path, device="cuda"):  # what boson's loader does, without the weights
            loader.AutoModel.from_pretrained("bosonai/hubert_base", trust_remote_code=True)
            return path

        loader.load_higgs_audio_tokenizer = load_higgs_audio_tokenizer
        monkeypatch.setitem(sys.modules, loader.__name__, loader)
        HiggsAudioTokenizerEncoder(
            "bosonai/higgs-audio-v2-tokenizer", revision=LEGACY_AUDIO_TOKENIZER_REVISION, hubert_revision="abc123"
        ).load()
        assert calls == [
            ("snapshot", "bosonai/higgs-audio-v2-tokenizer", LEGACY_AUDIO_TOKENIZER_REVISION),
            ("hubert", "bosonai/hubert_base", "abc123"),
        ]
        assert loader.AutoModel is transformers.AutoModel  # put back
