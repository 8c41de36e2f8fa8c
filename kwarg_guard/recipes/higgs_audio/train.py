"""``python -m kwarg_guard.recipes.higgs_audio``: fine-tune Higgs Audio v2 with LoRA and the stock Trainer."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kwarg_guard import UnexpectedKeywordError, patched, report

from .arguments import RecipeError, parse_arguments
from .backend import Backend, choose_backend
from .data import RunData, check_data_arguments, load_run_data
from .demo_audio import prepare_demo_audio
from .eval_generation import build_eval_generation, check_eval_generate
from .finetune import check_autocast, lora_target_regex, prepare_model, resolve_dtype
from .generation import GenerationRequest, sampling_options, save_generation
from .hub import apply_revision_defaults, check_checkpoint
from .model_card import summarize, write_model_card
from .plots import plot_loss_curve
from .trainer import HiggsAudioTrainer

__all__ = ["RunResult", "check_generation_arguments", "generate_sample", "generation_request", "load_decoder", "main"]

LOGGER = logging.getLogger("kwarg_guard.recipes.higgs_audio")


@dataclass
class RunResult:
    trainer: HiggsAudioTrainer
    model: torch.nn.Module
    output_dir: Path
    generation: Any = None
    unguarded_error: str | None = None
    diagnostic: str | None = None
    backend: str = "legacy"
    written: list[Path] = field(default_factory=list)


def main(argv: list[str] | None = None) -> Any:
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, lora_args, recipe_args, training_args = parse_arguments(argv)
    _log_to_stderr()
    backend = choose_backend(model_args.backend)
    apply_revision_defaults(model_args, backend)
    _adjust_training_arguments(training_args, recipe_args, backend)
    # Mistakes in the options fail here, before anything is loaded.
    check_autocast(resolve_dtype(model_args.torch_dtype, lora_args.full_finetune), training_args)
    if recipe_args.benchmark_released and not recipe_args.benchmark:
        raise RecipeError("--benchmark_released says which model --benchmark times; add --benchmark")
    prepare_demo_audio(backend, model_args, data_args, recipe_args, Path(training_args.output_dir))
    if not recipe_args.benchmark:
        check_data_arguments(data_args, recipe_args)
        check_generation_arguments(recipe_args)
        check_eval_generate(data_args, recipe_args, training_args)
    # Seeded before anything random is built: the LoRA matrices, the demo model, the eval split.
    from transformers import set_seed

    set_seed(training_args.seed)
    if not (recipe_args.demo or recipe_args.benchmark_released):
        check_checkpoint(model_args, backend)
    if recipe_args.benchmark:
        from .benchmark import run_benchmark

        return run_benchmark(backend, model_args, lora_args, recipe_args, training_args)

    output_dir = Path(training_args.output_dir)
    demo_seed = training_args.seed if recipe_args.demo else None
    config, tokenizer = backend.config_and_tokenizer(model_args, recipe_args.demo)
    data = load_run_data(backend, data_args, model_args, training_args, config, tokenizer, output_dir)
    collator = backend.collator(config)

    notes: dict[str, str] = {}
    if recipe_args.demo:
        notes = show_unguarded_failure(
            backend, model_args, lora_args, demo_seed, collator([data.train[0], data.train[1]])
        )

    eval_generation = build_eval_generation(
        backend, model_args, recipe_args, training_args, data, tokenizer, output_dir
    )
    base = backend.load_model(model_args, demo_seed, lora_args.full_finetune)
    model = prepare_model(base, lora_args, recipe_args.llm_gradient_checkpointing, backend)
    trainer = HiggsAudioTrainer(
        model=model,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.eval,
        data_collator=collator,
        backend=backend,
        text_loss_weight=recipe_args.text_loss_weight,
        audio_loss_weight=recipe_args.audio_loss_weight,
        eval_generation=eval_generation,
    )
    if training_args.resume_from_checkpoint:
        _allow_rng_state_loading()
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    trainer.save_state()

    generation = None
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(output_dir)
        summary = summarize(
            backend,
            model_args,
            data_args,
            lora_args,
            training_args,
            demo_seed,
            data,
            trainer.state.log_history,
            trainer.state.global_step,
        )
        write_model_card(summary, output_dir)
        if lora_args.merge_adapter and not lora_args.full_finetune:
            _save_merged(model, tokenizer, output_dir)
        plot_loss_curve(trainer.state.log_history, output_dir / "loss_curve.png")
        if recipe_args.generate_text:
            generation = _generate(backend, model, tokenizer, recipe_args, model_args, training_args, data, output_dir)
        print(report(model))
        _say_what_was_written(output_dir)
        if recipe_args.demo:
            _say_what_next()
        if generation is not None and generation.wav is not None:
            print(f"\ngenerated audio: {generation.wav.resolve()}")
    return RunResult(
        trainer, model, output_dir, generation, backend=backend.name, written=_written(output_dir), **notes
    )


def _log_to_stderr() -> None:
    # kwarg_guard's loggers only: a handler on the root logger would print a second copy of every
    # message from the libraries that have a handler of their own (huggingface_hub's retries).
    logger = logging.getLogger("kwarg_guard")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _adjust_training_arguments(training_args: Any, recipe_args: Any, backend: Backend) -> None:
    # The dataset yields backend samples, not dicts of model inputs: nothing to prune.
    training_args.remove_unused_columns = False
    # Evaluation computes a loss only for batches that hold these keys.
    if not training_args.label_names:
        training_args.label_names = list(backend.label_names)
    if training_args.gradient_checkpointing:
        # The Trainer's switch reaches only the Whisper tower of the legacy model; the recipe's
        # own switch covers the decoder layers on both backends.
        LOGGER.info("--gradient_checkpointing: checkpointing the decoder layers with the recipe's switch")
        training_args.gradient_checkpointing = False
        recipe_args.llm_gradient_checkpointing = True
    if not torch.cuda.is_available():
        training_args.dataloader_pin_memory = False  # nothing to pin to; torch warns otherwise
    if training_args.ddp_find_unused_parameters is None:
        # With the audio tower skipped every trainable parameter takes part in every step.
        training_args.ddp_find_unused_parameters = False


def _allow_rng_state_loading() -> None:
    # transformers 4.46 reads its own checkpoint-*/rng_state.pth with torch.load's default, which
    # is weights_only=True since torch 2.6; the file holds numpy's RNG state, so resuming fails
    # with "Unsupported global: numpy._core.multiarray._reconstruct". Allow exactly those types.
    import numpy
    from numpy._core.multiarray import _reconstruct

    torch.serialization.add_safe_globals([_reconstruct, numpy.ndarray, numpy.dtype, numpy.dtypes.UInt32DType])


def show_unguarded_failure(
    backend: Backend, model_args: Any, lora_args: Any, seed: int | None, batch: dict
) -> dict[str, str]:
    """What goes wrong without the preset, shown on a throwaway copy under PEFT CAUSAL_LM."""
    from peft import LoraConfig, get_peft_model

    plain = get_peft_model(
        backend.load_model(model_args, seed, False),
        LoraConfig(
            task_type="CAUSAL_LM",
            r=lora_args.lora_r,
            target_modules=lora_target_regex(lora_args.lora_targets, backend.lora_targets),
        ),
    )
    print(f"\n== Without kwarg_guard: PEFT CAUSAL_LM around {type(plain.get_base_model()).__name__} ==")
    failure = backend.demo_failure(plain, batch)
    print(failure)
    # Raise mode, so the guard says who passed the keyword instead of fixing it.
    with patched(plain, **failure.strict_options):
        try:
            plain(**failure.inputs)
        except UnexpectedKeywordError as exc:
            diagnostic = str(exc)
    print(f"kwarg_guard's diagnostic: {diagnostic}")
    print(f"\n== With guard(model, preset={backend.preset!r}): training ==\n")
    return {"unguarded_error": failure.unguarded, "diagnostic": diagnostic}


def _save_merged(model: Any, tokenizer: Any, output_dir: Path) -> None:
    # The serve engine loads the tokenizer from the model folder: it goes with the weights.
    merged = model.merge_and_unload()
    merged.save_pretrained(output_dir / "merged")
    tokenizer.save_pretrained(output_dir / "merged")
    LOGGER.info("saved the merged model and its tokenizer to %s", output_dir / "merged")


def _generate(
    backend: Backend,
    model: Any,
    tokenizer: Any,
    recipe_args: Any,
    model_args: Any,
    training_args: Any,
    data: RunData,
    output_dir: Path,
) -> Any:
    request = generation_request(backend, recipe_args, model_args, training_args.seed, data)
    decoder = None
    if not recipe_args.demo or recipe_args.demo_audio:  # the plain demo has codes only, no audio tokenizer
        decoder, why_not = load_decoder(backend, model_args)
        if why_not:
            LOGGER.warning("not decoding the generated codes to WAV: %s", why_not)
    return generate_sample(backend, model, tokenizer, request, output_dir, decoder)


def load_decoder(backend: Backend, model_args: Any) -> tuple[Any, str | None]:
    """The audio tokenizer that decodes the sample, loaded; or ``None`` and why not, in one line."""
    try:
        decoder = backend.audio_encoder(model_args)
        decoder.load()
    except Exception as exc:
        return None, str(exc).splitlines()[0]
    return decoder, None


def generate_sample(
    backend: Backend, model: Any, tokenizer: Any, request: GenerationRequest, output_dir: Path, decoder: Any
) -> Any:
    """Generate ``request``, save the codes and (with a ``decoder``) ``generated.wav`` to ``output_dir``."""
    result = backend.generate(model, tokenizer, request)
    written = save_generation(result, output_dir, decoder)
    frames = 0 if result.codes is None else result.codes.shape[1]
    print(f"generated {frames} audio frames for {request.text!r}: {', '.join(map(str, written)) or 'nothing'}")
    return result


def check_generation_arguments(recipe_args: Any) -> None:
    """Found before the hub is asked and before training, not after it."""
    if recipe_args.generate_ref_audio and (
        not Path(recipe_args.generate_ref_audio).is_file() or not recipe_args.generate_ref_text
    ):
        raise RecipeError(
            "--generate_ref_audio needs an existing WAV or .npy file and --generate_ref_text, its transcript"
        )


def generation_request(
    backend: Backend, recipe_args: Any, model_args: Any, seed: int, data: RunData | None = None
) -> GenerationRequest:
    """The sample's context: what the options say, else the first training utterance's (when there
    is training ``data``).

    Each field of ``GenerationRequest`` is its ``--generate_<field>`` option, except ``ref_codes``:
    those come from ``--generate_ref_audio``, a clip or its codes.
    """
    import numpy as np

    options = {name: getattr(recipe_args, f"generate_{name}") for name in ("text", "scene", "speaker", "ref_text")}
    options.update(sampling_options(recipe_args, seed))
    first = data.first if data is not None else None
    fallbacks = {"scene": first.scene, "speaker": first.speaker} if first is not None else {}
    options.update({name: value for name, value in fallbacks.items() if options[name] is None})
    ref_codes = None
    if recipe_args.generate_ref_audio:
        reference = Path(recipe_args.generate_ref_audio)
        ref_codes = (
            np.load(reference) if reference.suffix == ".npy" else backend.audio_encoder(model_args).encode(reference)
        )
    elif data is not None and data.first.ref_text and data.first_codes[1] is not None:
        options["ref_text"], ref_codes = data.first.ref_text, data.first_codes[1]
    return GenerationRequest(**options, ref_codes=ref_codes)


def _written(output_dir: Path) -> list[Path]:
    return sorted(p for p in output_dir.iterdir() if p.name != "demo_data") if output_dir.is_dir() else []


def _say_what_next() -> None:
    python = _shortest_path(Path(sys.executable))
    print(
        "\nnext: train on your own clips (name.wav + name.txt pairs in a folder):\n"
        f"  {python} -m kwarg_guard.recipes.higgs_audio.manifest clips/\n"
        f"  {python} -m kwarg_guard.recipes.higgs_audio --train_manifest clips/manifest.jsonl "
        "--output_dir runs/my-voice\n"
        "(the options, the manifest format and multi-GPU runs: --help, and the Higgs Audio guide)"
    )


def _shortest_path(path: Path) -> str:
    """``path`` relative to the working folder when it lies inside it (a venv of the clone)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _say_what_was_written(output_dir: Path) -> None:
    print(f"\nWrote to {output_dir.resolve()}:")
    for path in _written(output_dir):
        print(f"  {path.name}{'/' if path.is_dir() else ''}")
