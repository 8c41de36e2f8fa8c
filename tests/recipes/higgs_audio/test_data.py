"""Manifests, the code cache and the dataset: errors name the line, nothing half-written stays."""

import json
import re

import numpy as np
import pytest

from tests.helpers import HAS_BOSON, needs_boson

pytestmark = needs_boson
if HAS_BOSON:
    import soundfile

    from kwarg_guard.recipes.higgs_audio.codes import CodeCache, load_codes
    from kwarg_guard.recipes.higgs_audio.manifest import ManifestError, read_manifest

CODES = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]


def write(folder, *records):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


class FrameEnergyCodec:
    """A stand-in audio tokenizer for the cache tests (the real one needs the Hugging Face Hub):
    deterministic codes from frame energies, and a count of how often it ran."""

    identity = "frame-energy-v1"

    def __init__(self, num_codebooks=4, fail_on=None):
        self.calls, self.num_codebooks, self.fail_on = 0, num_codebooks, fail_on

    def encode(self, wav):
        if self.fail_on and wav.name == self.fail_on:
            raise RuntimeError("decoder exploded")
        self.calls += 1
        audio, _ = soundfile.read(wav)
        frames = np.array_split(audio, 5)
        energy = np.array([int(np.abs(f).mean() * 1000) % 32 for f in frames])
        return np.stack([(energy + c) % 32 for c in range(self.num_codebooks)]).astype(np.int64)


def wav(path, seconds=0.1, frequency=220.0):
    t = np.linspace(0, seconds, int(16000 * seconds), endpoint=False)
    soundfile.write(path, 0.5 * np.sin(2 * np.pi * frequency * t), 16000)
    return path.name


class TestManifestErrors:
    @pytest.mark.parametrize(
        "record, message",
        [
            ({"text": "hi", "audio": "missing.wav"}, r"audio file not found: .*missing\.wav"),
            ({"text": "   ", "audio_codes": CODES}, r"empty text"),
            ({"text": "hi", "audio_codes": CODES[:3]}, r"audio_codes: codes have 3 codebooks, the model has 4"),
            (
                {"text": "say <|AUDIO_OUT|> now", "audio_codes": CODES},
                r"text contains the audio placeholder <\|AUDIO_OUT\|> with no audio",
            ),
            ({"text": "hi", "audio_codes": CODES, "ref_text": "ref words"}, r"ref_text has no ref_audio"),
            ({"text": "hi"}, r"no audio: give audio"),
            ({"text": "hi", "audio_codes": [[1, 99, 3]] * 4}, r"audio_codes: codes must lie in \[0, 32\)"),
            ("{not json", r"not valid JSON"),
        ],
        ids=[
            "missing-audio",
            "empty-text",
            "codebooks",
            "placeholder",
            "ref-without-audio",
            "no-audio",
            "range",
            "json",
        ],
    )
    def test_each_problem_names_its_line(self, tmp_path, record, message):
        path = write(tmp_path, {"text": "fine", "audio_codes": CODES}, record)
        with pytest.raises(ManifestError, match=rf"manifest\.jsonl:2: {message}"):
            read_manifest(path, 4, 32)

    def test_all_problems_are_reported_at_once(self, tmp_path):
        path = write(tmp_path, {"text": "", "audio_codes": CODES}, {"text": "ok", "audio": "nope.wav"})
        with pytest.raises(ManifestError) as caught:
            read_manifest(path, 4, 32)
        assert [line for line, _ in caught.value.problems] == [1, 2]

    def test_codes_file_with_the_wrong_shape(self, tmp_path):
        tmp_path.mkdir(exist_ok=True)
        np.save(tmp_path / "c.npy", np.zeros((8, 5), dtype=np.int64))
        path = write(tmp_path, {"text": "hi", "audio_codes": "c.npy"})
        with pytest.raises(ManifestError, match=re.escape("manifest.jsonl:1: audio_codes: codes have 8 codebooks")):
            read_manifest(path, 4, 32)


class TestFolderToManifest:
    def test_wav_and_txt_pairs_become_a_readable_manifest(self, tmp_path):
        import subprocess
        import sys

        clips = tmp_path / "clips"
        clips.mkdir()
        for name in ("a", "b"):
            wav(clips / f"{name}.wav")
            (clips / f"{name}.txt").write_text(f"words of {name}\n")
        subprocess.run(
            [sys.executable, "-m", "kwarg_guard.recipes.higgs_audio.manifest", str(clips), "--scene", "A quiet room."],
            check=True,
        )
        utterances = read_manifest(clips / "manifest.jsonl", 4, 32)
        assert [u.text for u in utterances] == ["words of a", "words of b"]
        assert utterances[0].audio.wav == (clips / "a.wav").resolve() and utterances[0].scene == "A quiet room."

    def test_a_wav_without_transcript_is_named(self, tmp_path):
        from kwarg_guard.recipes.higgs_audio.manifest import manifest_from_folder

        wav(tmp_path / "lonely.wav")
        with pytest.raises(ValueError, match=re.escape("lonely.wav: no transcript lonely.txt next to it")):
            manifest_from_folder(tmp_path)


def two_clips(data, second_frequency):
    """A manifest of two WAVs (a.wav, and b.wav at ``second_frequency``) in a new folder ``data``."""
    data.mkdir()
    return write(
        data,
        {"text": "a", "audio": wav(data / "a.wav")},
        {"text": "b", "audio": wav(data / "b.wav", frequency=second_frequency)},
    )


class TestCodeCache:
    def test_wavs_are_encoded_once_and_cached(self, tmp_path):
        data = tmp_path / "data"
        path = two_clips(data, second_frequency=440)
        utterances = read_manifest(path, 4, 32)
        codec = FrameEnergyCodec()
        first = load_codes(utterances, CodeCache(data / "cache", codec), 4, 32, path)
        second = load_codes(utterances, CodeCache(data / "cache", codec), 4, 32, path)
        assert codec.calls == 2
        assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, second, strict=False))
        assert len(list((data / "cache").glob("*.npy"))) == 2

    def test_a_bad_manifest_leaves_no_cache_behind(self, tmp_path):
        data = tmp_path / "data"
        data.mkdir()
        path = write(data, {"text": "a", "audio": wav(data / "a.wav")}, {"text": "", "audio": "a.wav"})
        with pytest.raises(ManifestError):
            read_manifest(path, 4, 32)
        assert not (data / "cache").exists()

    def test_an_encoding_failure_names_the_line_and_leaves_no_partial_file(self, tmp_path):
        data = tmp_path / "data"
        path = two_clips(data, second_frequency=330)
        utterances = read_manifest(path, 4, 32)
        with pytest.raises(ManifestError, match=r"manifest\.jsonl:2: could not encode .*b\.wav: decoder exploded"):
            load_codes(utterances, CodeCache(data / "cache", FrameEnergyCodec(fail_on="b.wav")), 4, 32, path)
        assert [p.suffix for p in (data / "cache").iterdir()] == [".npy"]

    def test_encoded_codes_with_the_wrong_codebooks_are_refused(self, tmp_path):
        data = tmp_path / "data"
        data.mkdir()
        path = write(data, {"text": "a", "audio": wav(data / "a.wav")})
        utterances = read_manifest(path, 4, 32)
        with pytest.raises(ManifestError, match=r"manifest\.jsonl:1: .*codes have 8 codebooks, the model has 4"):
            load_codes(utterances, CodeCache(data / "cache", FrameEnergyCodec(num_codebooks=8)), 4, 32, path)


class TestDataset:
    def test_samples_are_fresh_on_every_access(self, higgs):
        config, _, dataset, batcher, _ = higgs
        first = dataset[0]
        batcher([first])  # the collator writes -100 at <|AUDIO_OUT|> in place
        again = dataset[0]
        audio_out = again.input_ids == config.audio_out_token_idx
        assert (again.label_ids[audio_out] >= 0).all()
        assert (first.label_ids[first.input_ids == config.audio_out_token_idx] == -100).all()

    def test_voice_cloning_reference_is_not_trained(self, tmp_path, higgs):
        from kwarg_guard.recipes.higgs_audio.legacy.data import HiggsAudioDataset

        _config, tokenizer, _, batcher, _ = higgs
        path = write(
            tmp_path / "clone",
            {"text": "target words", "audio_codes": CODES, "ref_audio_codes": CODES, "ref_text": "reference words"},
        )
        utterances = read_manifest(path, 4, 32)
        codes = load_codes(utterances, CodeCache(tmp_path / "c", None), 4, 32, path)
        batch = batcher([HiggsAudioDataset(utterances, codes, tokenizer)[0]])
        assert batch["audio_out_ids_start"].tolist() == [0, 3 + 2 + 3]  # two segments: reference, target
        reference, target = batch["label_audio_ids"][:, :8], batch["label_audio_ids"][:, 8:]
        assert (reference == -100).all()
        assert (target >= 0).any()

    def test_prompt_uses_the_serve_engine_format(self, higgs):
        _, tokenizer, dataset, _, _ = higgs
        text = tokenizer.decode(dataset[0].input_ids)
        assert text.startswith(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nGenerate audio following instruction."
        )
        assert "<|scene_desc_start|>\nAudio is recorded in a quiet room.\n<|scene_desc_end|>" in text
        assert text.endswith(
            "<|start_header_id|>assistant<|end_header_id|>\n\n<|audio_out_bos|><|AUDIO_OUT|><|audio_eos|><|eot_id|>"
        )
