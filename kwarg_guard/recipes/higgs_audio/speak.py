"""From a fine-tuned model to a WAV: ``python -m kwarg_guard.recipes.higgs_audio.speak``.

A base model with a LoRA adapter folder (the run's output folder), or a merged or fully fine-tuned
model folder alone, says ``--generate_text`` into ``OUTPUT_DIR/generated.wav``; the last line printed
is the WAV's path. The options are the training run's (same names, same ``--generate_*`` sampling,
same backends); with no training data the sample has no scene or speaker unless given.

    python -m kwarg_guard.recipes.higgs_audio.speak --adapter runs/my-voice --generate_text "Hello." --output_dir out
    python -m kwarg_guard.recipes.higgs_audio.speak --model_name_or_path runs/my-voice/merged \\
        --generate_text "Hello." --output_dir out
    python -m kwarg_guard.recipes.higgs_audio.speak --demo --adapter runs/demo --output_dir out

With ``--demo`` the base is the demo's tiny random model, rebuilt from ``--seed`` (the demo's 0 unless
it was given another), and the audio tokenizer is the one a ``--demo_audio`` run saved in the
adapter folder's ``demo_data/audio_tokenizer``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kwarg_guard import guard

from .arguments import RecipeError, parse_arguments
from .backend import CONVERT_COMMAND, choose_backend
from .hub import apply_revision_defaults, check_checkpoint
from .train import check_generation_arguments, generate_sample, generation_request, load_decoder

__all__ = ["cli", "speak"]


def speak(argv: list[str]) -> Path | None:
    """Generate ``--generate_text`` with the model the options name; returns ``generated.wav``'s path,
    or ``None`` when the codes could not be decoded (it prints why, in one line; the codes are saved).

    Raises:
        RecipeError: a missing or unusable adapter folder, an adapter of the other backend, an option
            mistake.
    """
    adapter, rest = _take_adapter(argv)
    if not any(a == "--output_dir" or a.startswith("--output_dir=") for a in rest):
        raise RecipeError("give --output_dir, the folder generated.wav goes to")
    model_args, _, _, recipe_args, training_args = parse_arguments(rest)
    if not recipe_args.generate_text:
        raise RecipeError('give --generate_text "what to say"')
    backend = choose_backend(model_args.backend)
    apply_revision_defaults(model_args, backend)
    check_generation_arguments(recipe_args)
    if adapter is not None:
        _check_adapter_folder(adapter)
        if model_args.tokenizer_name_or_path is None and (adapter / "tokenizer_config.json").is_file():
            # The run saved its text tokenizer beside the adapter.
            model_args.tokenizer_name_or_path, model_args.tokenizer_revision = str(adapter), None
    if not recipe_args.demo:
        check_checkpoint(model_args, backend)
    from transformers import set_seed

    set_seed(training_args.seed)
    _, tokenizer = backend.config_and_tokenizer(model_args, recipe_args.demo)
    model = backend.load_model(model_args, training_args.seed if recipe_args.demo else None, False)
    if adapter is not None:
        from peft import PeftModel

        _check_adapter_fits(adapter, model, backend)
        model = PeftModel.from_pretrained(model, str(adapter))
    model = guard(model.eval(), preset=backend.preset)

    decoder, why_not = _decoder(
        backend, model_args, recipe_args.demo and not _given(rest, "--audio_tokenizer"), adapter
    )
    output_dir = Path(training_args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    request = generation_request(backend, recipe_args, model_args, training_args.seed)
    result = generate_sample(backend, model, tokenizer, request, output_dir, decoder)
    if result.wav is None:
        reason = why_not or "no audio frame was generated"
        print(f"no WAV: {reason} (the codes are in {output_dir / 'generated_codes.npy'})")
    return result.wav


def cli(argv: list[str] | None = None) -> int:
    """Exit 0 with the WAV's path as the last line; 1 when only the codes were written; 2 on bad input."""
    try:
        wav = speak(list(sys.argv[1:] if argv is None else argv))
    except (RecipeError, ImportError) as exc:
        sys.stderr.write(f"higgs_audio.speak: {exc}\n")
        return 2
    if wav is None:
        return 1
    print(wav.resolve())
    return 0


def _take_adapter(argv: list[str]) -> tuple[Path | None, list[str]]:
    """``--adapter FOLDER`` (speak's one option of its own) and the training run's options."""
    adapter, rest, index = None, [], 0
    while index < len(argv):
        argument = argv[index]
        if argument == "--adapter":
            if index + 1 >= len(argv) or argv[index + 1].startswith("--"):
                raise RecipeError("--adapter needs a folder: the training run's --output_dir")
            adapter, index = Path(argv[index + 1]), index + 2
            continue
        if argument.startswith("--adapter="):
            adapter = Path(argument.split("=", 1)[1])
        else:
            rest.append(argument)
        index += 1
    return adapter, rest


def _decoder(backend: Any, model_args: Any, demo_default: bool, adapter: Path | None) -> tuple[Any, str | None]:
    """The audio tokenizer, loaded, or ``None`` and why not; the demo's is the one its run saved."""
    try:
        backend.audio_encoder(model_args).check_packages()
    except ImportError as exc:
        return None, str(exc)
    if demo_default:
        saved = None if adapter is None else adapter / "demo_data" / "audio_tokenizer"
        if saved is None or not (saved / "config.json").is_file():
            return None, "the demo saves an audio tokenizer only with --demo_audio: give --audio_tokenizer FOLDER"
        model_args.audio_tokenizer = str(saved)
    return load_decoder(backend, model_args)


def _given(argv: list[str], option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in argv)


def _check_adapter_folder(adapter: Path) -> None:
    if not adapter.is_dir():
        raise RecipeError(f"--adapter {adapter}: no such folder (give the training run's --output_dir)")
    if not (adapter / "adapter_config.json").is_file():
        if (adapter / "config.json").is_file():
            raise RecipeError(
                f"--adapter {adapter} holds a whole model, not a LoRA adapter: pass it as --model_name_or_path"
            )
        raise RecipeError(f"--adapter {adapter} has no adapter_config.json: not a LoRA run's output folder")


def _check_adapter_fits(adapter: Path, model: Any, backend: Any) -> None:
    """Refuse an adapter whose LoRA weights name modules the model lacks: PEFT would load none of them
    and say nothing (the two ports name their modules differently)."""
    from safetensors import safe_open

    weights = adapter / "adapter_model.safetensors"
    if not weights.is_file():
        raise RecipeError(f"--adapter {adapter} has no adapter_model.safetensors")
    with safe_open(str(weights), framework="pt") as stored:
        modules = {key.removeprefix("base_model.model.").split(".lora_")[0] for key in stored.keys()}  # noqa: SIM118
    missing = sorted(modules - {name for name, _ in model.named_modules()})
    if missing:
        raise RecipeError(
            f"--adapter {adapter} does not fit the {backend.name} backend's model, which has no module {missing[0]}: "
            f"an adapter of the other backend runs there, or convert it: {CONVERT_COMMAND} {backend.name}"
        )


if __name__ == "__main__":
    sys.exit(cli())
