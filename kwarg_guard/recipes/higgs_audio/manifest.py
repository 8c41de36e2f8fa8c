"""Reading a JSONL manifest of utterances, with every problem named by its line.

One JSON object per line; paths are relative to the manifest's folder::

    {"text": "Words to say.", "audio": "clips/0001.wav"}
    {"text": "Words to say.", "audio_codes": "codes/0002.npy"}
    {"text": "...", "audio": "a.wav", "scene": "Recorded in a quiet room.", "speaker": "a warm, low voice"}
    {"text": "...", "audio": "b.wav", "ref_audio": "ref.wav", "ref_text": "What the reference says."}

``audio_codes`` / ``ref_audio_codes`` may also be inline lists (one list per codebook). The whole
manifest is checked before anything is encoded or cached, and all problems are reported at once.
Manifests and transcripts are read as UTF-8.

    python -m kwarg_guard.recipes.higgs_audio.manifest clips/ [--output clips/manifest.jsonl] [--force]

writes a manifest for a folder of ``name.wav`` + ``name.txt`` pairs, and never overwrites an
existing one unless told to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PLACEHOLDERS", "AudioSource", "ManifestError", "Utterance", "manifest_from_folder", "read_manifest"]

# Text that would put an audio placeholder into the prompt without audio for it.
PLACEHOLDERS = ("<|AUDIO|>", "<|AUDIO_OUT|>")
_KNOWN_FIELDS = {"text", "audio", "audio_codes", "scene", "speaker", "ref_audio", "ref_audio_codes", "ref_text"}


class ManifestError(ValueError):
    """A manifest has problems; ``problems`` lists ``(line, message)``."""

    def __init__(self, path: Path, problems: list):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {path}:{line}: {message}" for line, message in problems)
        super().__init__(f"{len(problems)} problem(s) in manifest {path}:\n{lines}")

    def one_line(self, shown: int = 3) -> str:
        """The problems on one line, for a command-line error."""
        first = "; ".join(f"{self.path}:{line}: {message}" for line, message in self.problems[:shown])
        more = f" (and {len(self.problems) - shown} more)" if len(self.problems) > shown else ""
        return f"{len(self.problems)} problem(s) in manifest {self.path}: {first}{more}"


@dataclass(frozen=True)
class AudioSource:
    """Where one audio segment's codes come from: a WAV to encode, a .npy file, or inline codes."""

    wav: Path | None = None
    codes_file: Path | None = None
    inline_codes: tuple | None = None

    def describe(self) -> str:
        return str(self.wav or self.codes_file or "inline codes")


@dataclass(frozen=True)
class Utterance:
    line: int
    text: str
    audio: AudioSource
    scene: str | None = None
    speaker: str | None = None
    ref_audio: AudioSource | None = None
    ref_text: str | None = None


def read_manifest(path, num_codebooks: int | None, codebook_size: int | None) -> list:
    """Parse and check ``path``; return ``Utterance`` s. With ``None`` for the model's sizes,
    codes are checked only for what every model needs.

    Raises:
        ManifestError: listing every problem with its line number.
        FileNotFoundError: the manifest itself does not exist.
    """
    path = Path(path)
    folder = path.parent
    utterances, problems = [], []
    for line_number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                (
                    line_number,
                    f"not UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1}); save the manifest as UTF-8",
                )
            )
            continue
        if not line.strip():
            continue
        found: list[str] = []
        utterance = _parse_line(line, line_number, folder, num_codebooks, codebook_size, found)
        problems.extend((line_number, message) for message in found)
        if utterance is not None and not found:
            utterances.append(utterance)
    if not utterances and not problems:
        problems.append((0, "the manifest has no utterances"))
    if problems:
        raise ManifestError(path, problems)
    return utterances


def _parse_line(line, line_number, folder, num_codebooks, codebook_size, problems):
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(line.rstrip())
        problems.append(
            f"not valid JSON ({exc.msg} at column {exc.colno}"
            + ("; the line ends before the object does: is it truncated?" if cut else "")
            + ")"
        )
        return None
    if not isinstance(record, dict):
        problems.append(f"expected a JSON object, got {type(record).__name__}")
        return None
    unknown = sorted(set(record) - _KNOWN_FIELDS)
    if unknown:
        problems.append(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_KNOWN_FIELDS))}")
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        problems.append(f"text must be a string, not {type(text).__name__}")
    elif not isinstance(text, str) or not text.strip():
        problems.append("empty text: every utterance needs the words its audio says")
    else:
        _check_placeholders("text", text, problems)
    audio = _audio_source(record, "audio", "audio_codes", folder, num_codebooks, codebook_size, problems, required=True)
    ref_audio = _audio_source(
        record, "ref_audio", "ref_audio_codes", folder, num_codebooks, codebook_size, problems, required=False
    )
    ref_text = record.get("ref_text")
    if ref_text is not None:
        if not isinstance(ref_text, str):
            problems.append(f"ref_text must be a string, not {type(ref_text).__name__}")
        elif not ref_text.strip():
            problems.append("ref_text is empty; give the reference's transcript or leave both ref fields out")
        else:
            _check_placeholders("ref_text", ref_text, problems)
    if ref_text and ref_audio is None and not any("ref_audio" in p for p in problems):
        problems.append("ref_text has no ref_audio or ref_audio_codes: its audio placeholder would have no audio")
    if ref_audio is not None and not ref_text:
        problems.append("ref_audio needs ref_text (the reference's transcript) for voice cloning")
    for field in ("scene", "speaker"):
        value = record.get(field)
        if value is not None and not isinstance(value, str):
            problems.append(f"{field} must be a string")
        elif isinstance(value, str):
            _check_placeholders(field, value, problems)
    if problems or not isinstance(text, str):
        return None
    return Utterance(line_number, text.strip(), audio, record.get("scene"), record.get("speaker"), ref_audio, ref_text)


def _check_placeholders(field, text, problems):
    for placeholder in PLACEHOLDERS:
        if placeholder in text:
            problems.append(
                f"{field} contains the audio placeholder {placeholder} with no audio for it; "
                "remove it (the recipe adds placeholders for the audio fields itself)"
            )


def _audio_source(record, wav_field, codes_field, folder, num_codebooks, codebook_size, problems, required):
    wav, codes = record.get(wav_field), record.get(codes_field)
    if wav is not None and codes is not None:
        problems.append(f"give {wav_field} or {codes_field}, not both")
        return None
    if wav is None and codes is None:
        if required:
            problems.append(f"no audio: give {wav_field} (a WAV path) or {codes_field} (a .npy path or inline codes)")
        return None
    if wav is not None:
        if not isinstance(wav, str):
            problems.append(f"{wav_field} must be a path string")
            return None
        wav_path = (folder / wav).resolve()
        if not wav_path.is_file():
            problems.append(f"{wav_field} file not found: {wav_path}")
            return None
        return AudioSource(wav=wav_path)
    if isinstance(codes, str):
        codes_path = (folder / codes).resolve()
        if not codes_path.is_file():
            problems.append(f"{codes_field} file not found: {codes_path}")
            return None
        try:
            array = np.load(codes_path)
        except Exception as exc:
            problems.append(f"{codes_field} file {codes_path} is not a readable .npy array ({exc})")
            return None
        source = AudioSource(codes_file=codes_path)
    else:
        try:
            array = np.asarray(codes)
        except ValueError:
            array = None
        if array is None or array.dtype == object:
            problems.append(f"{codes_field} must be a list of equally long lists of integers (one per codebook)")
            return None
        source = AudioSource(
            inline_codes=tuple(tuple(int(v) for v in row) for row in array.tolist()) if array.ndim == 2 else None
        )
    message = check_codes(array, num_codebooks, codebook_size)
    if message:
        problems.append(f"{codes_field}: {message}")
        return None
    return source


def check_codes(array, num_codebooks: int | None, codebook_size: int | None) -> str | None:
    """Why ``array`` is not a valid (num_codebooks, frames) code matrix, or ``None``.

    ``None`` for the model's sizes checks only what holds for every model (before the model's
    config is read).
    """
    array = np.asarray(array)
    if array.ndim != 2:
        return f"codes must be 2-D (codebooks, frames), got shape {tuple(array.shape)}"
    if num_codebooks is not None and array.shape[0] != num_codebooks:
        return f"codes have {array.shape[0]} codebooks, the model has {num_codebooks}"
    if array.shape[1] == 0:
        return "codes have no frames"
    if not np.issubdtype(array.dtype, np.integer):
        return f"codes must be integers, got {array.dtype}"
    if array.min() < 0 or (codebook_size is not None and array.max() >= codebook_size):
        limit = "" if codebook_size is None else f", {codebook_size}"
        return f"codes must lie in [0{limit}), got [{array.min()}, {array.max()}]"
    return None


def manifest_from_folder(folder, scene: str | None = None, speaker: str | None = None) -> list[str]:
    """Manifest lines for a folder of ``name.wav`` + ``name.txt`` (the transcript, UTF-8) pairs.

    Raises:
        ValueError: a missing folder, a file given for the folder, a WAV without a transcript, an
            empty or undecodable transcript, or no WAV at all.
    """
    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"folder {folder} not found")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file; give the folder that holds the .wav and .txt pairs")
    wavs = sorted(folder.glob("*.wav"))
    if not wavs:
        raise ValueError(f"no .wav files in {folder}")
    missing = [w.name for w in wavs if not w.with_suffix(".txt").is_file()]
    if missing:
        raise ValueError(f"{len(missing)} WAV file(s) have no .txt transcript next to them: {', '.join(missing[:5])}")
    lines = []
    for wav in wavs:
        transcript = wav.with_suffix(".txt")
        try:
            text = transcript.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{transcript} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}); save it as UTF-8"
            ) from None
        if not text:
            raise ValueError(f"{transcript} is empty: every clip needs the words it says")
        record = {"text": text, "audio": wav.name}
        if scene:
            record["scene"] = scene
        if speaker:
            record["speaker"] = speaker
        lines.append(json.dumps(record, ensure_ascii=False))
    return lines


def main(argv: list[str] | None = None) -> int:
    """The command line: write a manifest for a folder; errors are one line with exit code 2."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Write a manifest for a folder of name.wav + name.txt pairs.")
    parser.add_argument("folder")
    parser.add_argument("--scene", help="scene description for every line (e.g. 'Recorded in a quiet room.')")
    parser.add_argument("--speaker", help="speaker description for every line")
    parser.add_argument("--output", help="where to write it (default: FOLDER/manifest.jsonl)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing manifest")
    arguments = parser.parse_args(argv)
    output = Path(arguments.output) if arguments.output else Path(arguments.folder) / "manifest.jsonl"
    try:
        if output.exists() and not arguments.force:
            raise ValueError(f"{output} exists; pass --force to overwrite it, or --output for another file")
        if output.is_dir():
            raise ValueError(f"{output} is a folder; --output takes a file name")
        lines = manifest_from_folder(arguments.folder, arguments.scene, arguments.speaker)
        output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"manifest: {exc}\n")
        return 2
    print(f"wrote {output} ({len(lines)} utterances)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
