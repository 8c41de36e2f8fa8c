"""Training with the stock Trainer on this stack's backend: the update does not depend on how a
batch is split over gradient accumulation, evaluation and lengths work, full fine-tuning keeps
fp32 weights, and a run is seeded before its model is built."""

import json
import subprocess
import sys
from pathlib import Path

import torch
from transformers import TrainerCallback

from kwarg_guard.recipes.higgs_audio import main
from kwarg_guard.recipes.higgs_audio.trainer import HiggsAudioTrainer
from tests.helpers import ROOT, cpu_training_args
from tests.helpers.higgs_audio import BACKEND, demo_dataset, lora


class GradientsBeforeTheStep(TrainerCallback):
    def __init__(self):
        self.gradients = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.gradients = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def one_update(folder: Path, batch_size: int, accumulation: int) -> dict:
    """The gradient of one optimizer step over the same four samples."""
    config, _, dataset = demo_dataset(folder / "data", count=4)
    callback = GradientsBeforeTheStep()
    args = cpu_training_args(
        str(folder / "out"),
        per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        max_steps=1,
        learning_rate=0.0,
        max_grad_norm=0.0,
        remove_unused_columns=False,
    )
    trainer = HiggsAudioTrainer(
        model=lora(),
        args=args,
        train_dataset=dataset,
        data_collator=BACKEND.collator(config),
        callbacks=[callback],
        backend=BACKEND,
    )
    trainer.train()
    return callback.gradients


class TestGradientAccumulation:
    def test_the_split_of_a_batch_over_accumulation_does_not_change_the_update(self, tmp_path):
        reference = one_update(tmp_path / "4x1", 4, 1)
        assert reference and any(g.abs().sum() > 0 for g in reference.values())
        for batch_size, accumulation in ((2, 2), (1, 4)):
            gradients = one_update(tmp_path / f"{batch_size}x{accumulation}", batch_size, accumulation)
            assert gradients.keys() == reference.keys()
            worst = max((gradients[n] - reference[n]).abs().max().item() for n in reference)
            assert worst < 1e-6, f"batch {batch_size} x accumulation {accumulation}: gradients differ by {worst}"


def run(tmp_path: Path, *options: str):
    return main(["--demo", "--output_dir", str(tmp_path / "out"), "--generate_text", "", *options])


def logged(result, key):
    return [entry[key] for entry in result.trainer.state.log_history if key in entry]


class TestEvaluation:
    def test_held_out_fraction_gives_eval_losses_and_the_best_model_is_loaded(self, tmp_path):
        result = run(
            tmp_path,
            "--eval_fraction",
            "0.25",
            "--num_train_epochs",
            "3",
            "--eval_strategy",
            "epoch",
            "--save_strategy",
            "epoch",
            "--load_best_model_at_end",
            "true",
        )
        assert len(result.trainer.train_dataset) == 6 and len(result.trainer.eval_dataset) == 2
        losses = logged(result, "eval_loss")
        assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
        assert len(logged(result, "eval_audio_loss")) == 3 and len(logged(result, "eval_text_loss")) == 3
        best = result.trainer.state.best_model_checkpoint
        assert best is not None and Path(best).name.startswith("checkpoint-")

    def test_an_eval_manifest_and_a_full_fine_tune_still_give_an_eval_loss(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio.tiny import write_demo_manifest

        manifest = write_demo_manifest(tmp_path / "held_out", 3, seed=5)
        result = run(
            tmp_path,
            "--eval_manifest",
            str(manifest),
            "--num_train_epochs",
            "1",
            "--full_finetune",
            "--eval_strategy",
            "epoch",
        )
        assert len(logged(result, "eval_loss")) == 1


class TestLengths:
    def test_long_utterances_are_skipped_and_said(self, tmp_path, capsys):
        # The demo's clips are 6 to 9 frames (0.24 to 0.36 s at 25 frames a second).
        result = run(tmp_path, "--max_audio_seconds", "0.34", "--num_train_epochs", "1")
        assert len(result.trainer.train_dataset) == 6
        assert "skipped 2 utterance(s) longer than 0.34 s (manifest lines 4, 8)" in capsys.readouterr().out

    def test_group_by_length_uses_the_lengths_of_the_samples(self, tmp_path):
        from transformers.trainer_pt_utils import LengthGroupedSampler

        grouping = (
            ["--group_by_length", "true"]
            if BACKEND.name == "legacy"
            else ["--train_sampling_strategy", "group_by_length"]
        )
        result = run(tmp_path, *grouping, "--num_train_epochs", "1")
        sampler = result.trainer._get_train_sampler()
        assert isinstance(sampler, LengthGroupedSampler)
        assert list(sampler.lengths) == result.trainer.train_dataset.lengths


class TestFullFineTune:
    def test_keeps_fp32_weights(self, tmp_path):
        result = run(tmp_path, "--full_finetune", "--num_train_epochs", "1")
        assert {p.dtype for p in result.model.parameters()} == {torch.float32}

    def test_half_precision_weights_are_refused_with_the_fix(self, tmp_path):
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "kwarg_guard.recipes.higgs_audio",
                "--demo",
                "--output_dir",
                str(tmp_path),
                "--full_finetune",
                "--torch_dtype",
                "bfloat16",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert completed.returncode == 2 and "Traceback" not in completed.stderr
        (line,) = completed.stderr.strip().splitlines()[-1:]
        assert "--full_finetune with --torch_dtype bfloat16" in line and "--bf16" in line


def test_the_run_is_seeded_before_the_model_is_built(tmp_path):
    """Outside the demo the model is loaded, not seeded by its builder: the LoRA init must be."""
    from kwarg_guard.recipes.higgs_audio.tiny import tiny_tokenizer

    checkpoint = tmp_path / "base"
    BACKEND.load_model(None, 11, False).save_pretrained(checkpoint)
    tiny_tokenizer().save_pretrained(checkpoint)
    from kwarg_guard.recipes.higgs_audio.tiny import write_demo_manifest

    manifest = write_demo_manifest(tmp_path / "data", 4)
    weights = []
    for attempt in range(2):
        result = main(
            [
                "--model_name_or_path",
                str(checkpoint),
                "--train_manifest",
                str(manifest),
                "--output_dir",
                str(tmp_path / f"run{attempt}"),
                "--max_steps",
                "1",
                "--learning_rate",
                "0",
                "--seed",
                "3",
                "--use_cpu",
                "true",
                "--report_to",
                "none",
            ]
        )
        weights.append({n: p.detach().clone() for n, p in result.model.named_parameters() if "lora_A" in n})
    assert weights[0].keys() == weights[1].keys() and weights[0]
    assert all(torch.equal(weights[0][n], weights[1][n]) for n in weights[0])


def test_the_text_loss_upcasts_only_the_labelled_rows(monkeypatch):
    import torch.nn.functional as F

    from kwarg_guard.recipes.higgs_audio import loss

    shapes = []
    real = F.cross_entropy
    monkeypatch.setattr(
        loss.F,
        "cross_entropy",
        lambda logits, *a, **k: shapes.append((logits.shape, logits.dtype)) or real(logits, *a, **k),
    )
    logits = torch.randn(2 * 50, 1000, dtype=torch.bfloat16)
    targets = torch.full((100,), -100)
    targets[[3, 40, 77]] = torch.tensor([1, 2, 3])
    _total, count = loss.cross_entropy_sum(logits, targets)
    assert count == 3 and shapes == [(torch.Size([3, 1000]), torch.float32)]


def test_the_demo_logs_every_part_and_codebook(tmp_path):
    result = run(tmp_path, "--num_train_epochs", "2")
    state = json.loads((tmp_path / "out" / "trainer_state.json").read_text())
    entry = next(e for e in state["log_history"] if "loss" in e)
    assert {"text_loss", "audio_loss", *(f"audio_loss_codebook_{k}" for k in range(4))} <= entry.keys()
    assert result.backend == BACKEND.name
