"""WER, CER and speaker similarity (quality.py) with tiny random Whisper and WavLM models saved to a
folder and loaded through ``from_pretrained``: the mechanics, not the numbers."""

import numpy as np
import pytest
import soundfile

from kwarg_guard.recipes.higgs_audio.arguments import RecipeError
from kwarg_guard.recipes.higgs_audio.quality import (
    QualityScorer,
    SpeakerEncoder,
    SpeechRecognizer,
    error_rates,
    normalize_text,
    read_clip,
    resample,
)
from kwarg_guard.recipes.higgs_audio.tiny_quality import write_tiny_asr, write_tiny_speaker_model


def tone(frequency, seconds=1.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), rate


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scoring")
    return str(write_tiny_asr(folder / "asr")), str(write_tiny_speaker_model(folder / "speaker"))


class TestText:
    def test_normalisation_is_seed_tts_evals(self):
        assert normalize_text("  Hello, World!\n“It's”   fine…  ") == "hello world it's fine"
        assert normalize_text("Well-known") == "wellknown"  # deleted, not spaced, as seed-tts-eval does

    def test_identical_texts_score_zero_and_normalisation_is_applied(self):
        assert error_rates(["The cat sat."], ["The cat sat."]) == {"wer": 0.0, "cer": 0.0}
        # Only case and punctuation differ: zero once normalised (raw jiwer would count 3 of 3 words).
        assert error_rates(["The cat, sat."], ["the cat sat"]) == {"wer": 0.0, "cer": 0.0}

    def test_rates_are_means_over_clips(self):
        rates = error_rates(["one two three four", "five six"], ["one two three for", "five six"])
        assert rates["wer"] == pytest.approx((1 / 4 + 0) / 2)
        assert rates["cer"] == pytest.approx((1 / 18 + 0) / 2)

    def test_nothing_heard_is_every_word_wrong(self):
        assert error_rates(["two words"], [""])["wer"] == 1.0

    def test_a_reference_with_no_words_is_left_out(self):
        assert error_rates(["...", "a b"], ["x", "a b"]) == {"wer": 0.0, "cer": 0.0}


class TestAudio:
    def test_resampling_keeps_duration_and_pitch(self):
        samples, rate = tone(440, rate=24000)
        resampled = resample(samples, rate, 16000)
        assert resampled.shape == (16000,) and resampled.dtype == np.float32
        assert np.argmax(np.abs(np.fft.rfft(resampled))) == 440  # 1 Hz bins over one second

    def test_a_stereo_16_bit_wav_is_read_as_mono_at_its_rate(self, tmp_path):
        samples, _ = tone(200, rate=44100)
        soundfile.write(tmp_path / "s.wav", np.stack([samples, samples * 0], axis=1), 44100, subtype="PCM_16")
        mono, rate = read_clip(tmp_path / "s.wav")
        assert rate == 44100 and mono.shape == (44100,) and np.allclose(mono, samples / 2, atol=1e-4)


class TestModels:
    def test_the_asr_pipeline_transcribes_clips_at_any_rate(self, models):
        recognizer = SpeechRecognizer(models[0])
        heard = recognizer.transcribe(tone(300, rate=24000))
        assert isinstance(heard, str) and heard == recognizer.transcribe(tone(300, rate=24000))
        assert recognizer.transcribe((np.zeros(0, np.float32), 16000)) == ""

    def test_a_clip_is_its_own_voice_and_another_is_not(self, models):
        speaker = SpeakerEncoder(models[1])
        clip = tone(220)
        noise = (np.random.default_rng(0).standard_normal(16000).astype(np.float32), 16000)
        assert speaker.similarity(clip, clip) == pytest.approx(1.0, abs=1e-5)
        assert speaker.similarity(clip, noise) < 0.9999

    def test_scores_and_transcripts(self, models):
        scorer = QualityScorer(*models)
        metrics, heard = scorer.score(["Hello there.", "Good night."], [tone(200), None], [tone(200), tone(300)])
        assert set(metrics) == {"wer", "cer", "speaker_similarity"} and len(heard) == 2 and heard[1] == ""
        # The missing clip scores similarity 0, the identical one 1: their mean is a half.
        assert metrics["speaker_similarity"] == pytest.approx(0.5, abs=1e-5)
        assert metrics["wer"] == error_rates(["Hello there.", "Good night."], heard)["wer"]

    @pytest.mark.parametrize("which", ["asr_model", "speaker_model"])
    def test_a_model_that_cannot_be_loaded_is_one_line_naming_its_option(self, models, tmp_path, which):
        given = dict(zip(("asr_model", "speaker_model"), models, strict=True))
        given[which] = str(tmp_path / "missing")
        with pytest.raises(RecipeError) as caught:
            QualityScorer(**given)
        assert str(caught.value).startswith(f"--{which} {tmp_path / 'missing'}: cannot load it (")
        assert "\n" not in str(caught.value)


def test_a_clip_too_short_for_the_speaker_model_is_padded_not_an_error(models):
    speaker = SpeakerEncoder(models[1])
    short = tone(220, seconds=0.05)
    assert short[0].size < speaker.shortest
    assert speaker.similarity(short, short) == pytest.approx(1.0, abs=1e-5)
