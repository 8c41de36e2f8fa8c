"""Checkpoints and LoRA adapters converted between the two ports load without a missing key,
compute the same logits, and convert back bit for bit.

The native side runs here (transformers 5); the legacy side (transformers 4.46 + boson_multimodal)
runs in the other stack's Python (``tests/recipes/higgs_audio/cross_stack/legacy_side.py``).
"""

import filecmp
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kwarg_guard.recipes.higgs_audio.convert import convert
from tests.helpers import only_transformers_5, stack_python

pytestmark = only_transformers_5
LEGACY_SIDE = Path(__file__).resolve().parent / "cross_stack" / "legacy_side.py"


def legacy_side(action: str, folder: Path) -> None:
    completed = subprocess.run(
        [stack_python("4.46"), str(LEGACY_SIDE), action, str(folder)], capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """A tiny legacy checkpoint, a LoRA adapter for it, and their logits, from the 4.46 stack."""
    folder = tmp_path_factory.mktemp("legacy")
    legacy_side("make", folder)
    return folder


def native_logits(model, inputs):
    from kwarg_guard.recipes.higgs_audio.native.data import native_sample
    from kwarg_guard.recipes.higgs_audio.prompts import Prompt

    config = model.config
    sample = native_sample(
        Prompt(inputs["input_ids"], None, tuple(inputs["trained"])), [np.asarray(c) for c in inputs["codes"]], config
    )
    ids = sample["input_ids"][None]
    with torch.no_grad():
        out = model.eval()(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            audio_input_ids=sample["audio_input_ids"][None],
            audio_input_ids_mask=torch.ones(1, len(sample["audio_input_ids"]), dtype=torch.bool),
            output_hidden_states=True,
        )
    placeholders = (ids[0] == config.audio_token_id) | (ids[0] == config.audio_delay_token_id)
    audio = out.logits[0][placeholders].reshape(-1, config.num_codebooks, config.codebook_size)
    return {"text": model.text_lm_head(out.hidden_states[-1][0]), "audio": audio}


def largest_difference(native, legacy):
    assert native["text"].shape == legacy["text"].shape and native["audio"].shape == legacy["audio"].shape
    return max((native[k] - legacy[k]).abs().max().item() for k in ("text", "audio"))


def load_native(folder):
    from transformers import HiggsAudioV2ForConditionalGeneration

    return HiggsAudioV2ForConditionalGeneration.from_pretrained(folder, use_text_head=True, output_loading_info=True)


class TestLegacyToNative:
    def test_the_checkpoint_loads_with_no_missing_unexpected_or_mismatched_key(self, legacy, tmp_path):
        convert(legacy / "checkpoint", tmp_path / "native", "native")
        _, info = load_native(tmp_path / "native")
        assert (info["missing_keys"], info["unexpected_keys"], info["mismatched_keys"]) == (set(), set(), set())

    def test_the_native_twin_gives_the_same_logits(self, legacy, tmp_path):
        convert(legacy / "checkpoint", tmp_path / "native", "native")
        model, _ = load_native(tmp_path / "native")
        difference = largest_difference(
            native_logits(model, torch.load(legacy / "inputs.pt")), torch.load(legacy / "legacy_logits.pt")["plain"]
        )
        print(f"largest logit difference, legacy vs converted native: {difference:.3g}")
        assert difference < 1e-5

    def test_a_lora_adapter_converts_and_gives_the_same_logits(self, legacy, tmp_path):
        from peft import PeftModel

        convert(legacy / "checkpoint", tmp_path / "native", "native")
        convert(legacy / "adapter", tmp_path / "adapter", "native")
        base, _ = load_native(tmp_path / "native")
        model = PeftModel.from_pretrained(base, tmp_path / "adapter")
        difference = largest_difference(
            native_logits(model.get_base_model(), torch.load(legacy / "inputs.pt")),
            torch.load(legacy / "legacy_logits.pt")["adapter"],
        )
        print(f"largest logit difference, legacy LoRA vs converted native LoRA: {difference:.3g}")
        assert difference < 1e-5

    @pytest.mark.parametrize("kind", ["checkpoint", "adapter"])
    def test_legacy_to_native_to_legacy_is_bit_identical(self, legacy, tmp_path, kind):
        convert(legacy / kind, tmp_path / "native", "native")
        convert(tmp_path / "native", tmp_path / "back", "legacy")
        names = sorted(p.name for p in (legacy / kind).iterdir())
        assert sorted(p.name for p in (tmp_path / "back").iterdir()) == names
        assert all(filecmp.cmp(legacy / kind / name, tmp_path / "back" / name, shallow=False) for name in names)


def test_a_native_checkpoint_without_a_record_converts_to_a_legacy_one_the_legacy_stack_loads(tmp_path):
    """Today's hub checkpoints are native: --to legacy makes them loadable by boson_multimodal."""
    from kwarg_guard.recipes.higgs_audio.prompts import build_prompt
    from kwarg_guard.recipes.higgs_audio.tiny import tiny_native_model, tiny_tokenizer

    native_folder, work = tmp_path / "native", tmp_path / "work"
    model, tokenizer = tiny_native_model(5), tiny_tokenizer()
    model.save_pretrained(native_folder)
    tokenizer.save_pretrained(native_folder)
    prompt = build_prompt(tokenizer, "Good night.", "A quiet room.")
    inputs = {
        "input_ids": prompt.input_ids,
        "trained": list(prompt.trained_segments),
        "codes": [((np.arange(20).reshape(4, 5) * 3) % 32).tolist()],
    }
    work.mkdir()
    torch.save(inputs, work / "inputs.pt")
    convert(native_folder, work / "checkpoint", "legacy")
    legacy_side("load", work)
    info = json.loads((work / "loading_info.json").read_text())
    assert (info["missing_keys"], info["unexpected_keys"], info["mismatched_keys"]) == ([], [], [])
    difference = largest_difference(native_logits(model, inputs), torch.load(work / "legacy_logits.pt")["plain"])
    print(f"largest logit difference, native vs converted legacy: {difference:.3g}")
    assert difference < 1e-5


class TestCommandLine:
    def run(self, *args):
        return subprocess.run(
            [sys.executable, "-m", "kwarg_guard.recipes.higgs_audio.convert", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def test_converts_and_says_where(self, legacy, tmp_path):
        completed = self.run(legacy / "checkpoint", tmp_path / "out", "--to", "native")
        assert completed.returncode == 0 and f"to {tmp_path / 'out'}" in completed.stdout

    @pytest.mark.parametrize(
        "arrange, message",
        [
            (lambda legacy, out: (legacy / "checkpoint", legacy / "checkpoint", "native"), "another folder than SRC"),
            (lambda legacy, out: (legacy / "inputs.pt", out, "native"), "is not a folder"),
            (lambda legacy, out: (legacy / "checkpoint", out, "legacy"), "has model_type 'higgs_audio'; --to legacy"),
            (lambda legacy, out: (legacy, out, "native"), "neither config.json"),
        ],
        ids=["same-folder", "not-a-folder", "wrong-direction", "not-a-checkpoint"],
    )
    def test_user_errors_are_one_line_and_exit_2_and_write_nothing(self, legacy, tmp_path, arrange, message):
        source, destination, to = arrange(legacy, tmp_path / "out")
        completed = self.run(source, destination, "--to", to)
        assert completed.returncode == 2 and message in completed.stderr and completed.stderr.count("\n") == 1
        assert not (tmp_path / "out").exists()

    def test_a_destination_with_files_needs_force(self, legacy, tmp_path):
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "keep.txt").write_text("mine")
        assert self.run(legacy / "checkpoint", tmp_path / "out", "--to", "native").returncode == 2
        assert self.run(legacy / "checkpoint", tmp_path / "out", "--to", "native", "--force").returncode == 0
        assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
