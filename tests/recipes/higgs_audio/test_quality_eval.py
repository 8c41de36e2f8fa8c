"""``--eval_generate``: held-out utterances generated, decoded and scored at every evaluation and before
the first step, in the Trainer's logged evaluation dict; its option mistakes; the demo's metrics
(or its one line saying why there are none)."""

import numpy as np
import pytest
import torch

from kwarg_guard.recipes.higgs_audio import cli
from tests.helpers import HAS_TORCHAUDIO
from tests.helpers.higgs_audio import BACKEND, eval_generation_run, tones, train_demo

METRICS = {"eval_wer", "eval_cer", "eval_speaker_similarity"}


@pytest.fixture
def run(tmp_path):
    """(trainer, hook) of a 2-step demo run evaluated at every step, scored by tiny models."""
    return eval_generation_run(tmp_path)


def test_metrics_are_logged_at_each_evaluation_and_for_the_base_model_before_step_0(run):
    trainer, hook = run
    trainer.train()
    evaluations = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    assert [entry["step"] for entry in evaluations] == [0, 1, 2]
    for entry in evaluations:
        assert set(entry) >= METRICS and entry["eval_wer"] >= 0 and -1 <= entry["eval_speaker_similarity"] <= 1
    assert len(hook.samples) == 2 and all(clip is not None and clip[1] == 16000 for _, _, clip in hook.samples)


def test_the_voice_is_the_held_out_utterances_own_recording_decoded(run):
    _, hook = run
    dataset = run[0].eval_dataset
    for index, item in enumerate(hook.held_out):
        assert item.request.text == dataset.utterances[index].text
        assert np.array_equal(item.voice[0], tones(dataset.codes[index][0])[0])


def test_scoring_leaves_the_random_state_as_it_found_it(run):
    trainer, hook = run
    torch.manual_seed(1)
    hook(trainer.model)
    after = torch.rand(3)
    torch.manual_seed(1)
    assert torch.equal(after, torch.rand(3))


@pytest.mark.parametrize(
    "options, message",
    [
        ([], "--eval_generate scores held-out utterances: give --eval_manifest or --eval_fraction"),
        (["--eval_fraction", "0.25", "--eval_strategy", "no"], "--eval_strategy is no: add --eval_strategy steps"),
        (["--eval_fraction", "0.25", "--eval_strategy", "epoch", "--eval_generate", "-1"], "must be 0 (off)"),
    ],
    ids=["no-held-out", "no-evaluation", "negative"],
)
def test_option_mistakes_are_one_line_and_exit_2(tmp_path, capsys, options, message):
    # Outside the demo (whose defaults supply the split): a manifest of its own.
    from kwarg_guard.recipes.higgs_audio.tiny import write_demo_manifest

    manifest = write_demo_manifest(tmp_path / "data")
    argv = ["--train_manifest", str(manifest), "--output_dir", str(tmp_path / "out"), "--eval_generate", "2"]
    assert cli([*argv, *options]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


@pytest.mark.skipif(HAS_TORCHAUDIO, reason="this stack has torchaudio: the demo scores (the next test)")
def test_the_demo_says_in_one_line_why_it_cannot_score(tmp_path, capsys):
    result = train_demo(tmp_path, "--eval_generate", "2", "--max_steps", "1", "--report_to", "none")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("--eval_generate")]
    assert lines == [
        "--eval_generate: not scoring: the audio tokenizer cannot decode here "
        f"(the {BACKEND.name} audio tokenizer needs torchaudio, which is not installed: "
        + lines[0].split("which is not installed: ")[-1]
    ]
    assert not any(METRICS & set(entry) for entry in result.trainer.state.log_history)


@pytest.mark.audio
@pytest.mark.skipif(not HAS_TORCHAUDIO, reason="decoding needs torchaudio: only the audio stacks have it")
def test_the_demo_shows_the_metrics_with_tiny_models_nothing_downloaded(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = train_demo(tmp_path, "--eval_generate", "2", "--max_steps", "2", "--eval_steps", "1")
    steps = [entry["step"] for entry in result.trainer.state.log_history if set(entry) >= METRICS]
    assert steps == [0, 1, 2]


def test_the_loss_curve_gains_a_panel_of_the_metrics(tmp_path):
    from PIL import Image

    from kwarg_guard.recipes.higgs_audio.plots import plot_loss_curve

    history = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]
    scores = [{"step": s, "eval_wer": 0.5, "eval_cer": 0.3, "eval_speaker_similarity": 0.6} for s in (0, 2)]
    plain = Image.open(plot_loss_curve(history, tmp_path / "plain.png")).size
    scored = Image.open(plot_loss_curve(history + scores, tmp_path / "scored.png")).size
    assert plain == (700, 400) and scored == (1200, 400)
