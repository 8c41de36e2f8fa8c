"""``--demo --demo_audio``: the demo from a folder of real WAV files to ``generated.wav``.

The folder (``<output_dir>/demo_data/clips``: varied rates, channels, sample formats, upper-case
``.WAV``, subfolders) becomes a manifest with the manifest helper, and a tiny random audio tokenizer
of the backend is saved beside it and loaded like the hub's; the run then encodes (into the code
cache), trains, generates and decodes as a real one does. What exists is reused, so a second run
(or ``encode`` before the run) finds the clips unchanged and their codes cached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .arguments import RecipeError

__all__ = ["prepare_demo_audio"]

SCENE = "Audio is recorded in a quiet room."


def prepare_demo_audio(backend: Any, model_args: Any, data_args: Any, recipe_args: Any, output_dir: Path) -> None:
    """Point ``--train_manifest`` and ``--audio_tokenizer`` at the audio demo's clips and tokenizer,
    writing them first where they are missing.

    Raises:
        RecipeError: --demo_audio without --demo.
    """
    if not recipe_args.demo_audio:
        return
    if not recipe_args.demo:
        raise RecipeError("--demo_audio runs the demo on WAV files; add --demo (or drop --demo_audio)")
    from .manifest import manifest_from_folder
    from .tiny_audio import write_demo_clips

    # Before anything is written: a missing torchaudio is one line naming it and its pip command.
    backend.audio_encoder(model_args).check_packages()
    folder = output_dir / "demo_data"
    clips, tokenizer = folder / "clips", folder / "audio_tokenizer"
    manifest = clips / "manifest.jsonl"
    if not manifest.exists():
        write_demo_clips(clips)
        manifest.write_text(
            "".join(line + "\n" for line in manifest_from_folder(clips, scene=SCENE).lines), encoding="utf-8"
        )
    if not (tokenizer / "config.json").exists():
        backend.write_tiny_audio_tokenizer(tokenizer)
    data_args.train_manifest = str(manifest)
    model_args.audio_tokenizer = str(tokenizer)
