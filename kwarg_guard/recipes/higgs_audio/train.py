"""``python -m kwarg_guard.recipes.higgs_audio``: fine-tune Higgs Audio v2 with LoRA and the stock Trainer."""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from kwarg_guard import UnexpectedKeywordError, patched, report

from .arguments import parse_arguments
from .batching import HiggsAudioBatcher, make_collator
from .codes import CodeCache, HiggsAudioTokenizerEncoder, load_codes
from .generation import generate_audio_codes, save_generation
from .manifest import read_manifest
from .model import load_model, prepare_model
from .plots import plot_loss_curve
from .samples import HiggsAudioDataset
from .trainer import HiggsAudioTrainer

__all__ = ["main", "RunResult"]

LOGGER = logging.getLogger("kwarg_guard.recipes.higgs_audio")


@dataclass
class RunResult:
    trainer: HiggsAudioTrainer
    model: torch.nn.Module
    output_dir: Path
    generation: object = None
    unguarded_error: str | None = None
    diagnostic: str | None = None


def main(argv=None) -> RunResult:
    argv = list(sys.argv[1:] if argv is None else argv)
    model_args, data_args, lora_args, recipe_args, training_args = parse_arguments(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    _adjust_training_arguments(training_args, recipe_args, argv)
    if recipe_args.benchmark:
        from .benchmark import run_benchmark

        return run_benchmark(model_args, lora_args, recipe_args, training_args)

    output_dir = Path(training_args.output_dir)
    demo_seed = training_args.seed if recipe_args.demo else None
    config, tokenizer = _config_and_tokenizer(model_args, demo_seed)
    dataset = _dataset(data_args, recipe_args, model_args, config, tokenizer, output_dir)
    batcher = HiggsAudioBatcher(make_collator(config))

    result_notes = {}
    if recipe_args.demo:
        result_notes = show_unguarded_failure(model_args, lora_args, demo_seed, batcher([dataset[0], dataset[1]]))

    base = load_model(model_args, demo_seed)
    model = prepare_model(base, lora_args, recipe_args.llm_gradient_checkpointing)
    trainer = HiggsAudioTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=batcher,
        text_loss_weight=recipe_args.text_loss_weight,
        audio_loss_weight=recipe_args.audio_loss_weight,
    )
    if training_args.resume_from_checkpoint:
        _allow_rng_state_loading()
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    trainer.save_model()
    trainer.save_state()

    generation = None
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(output_dir)
        if lora_args.merge_adapter and not lora_args.full_finetune:
            _save_merged(model, output_dir)
        plot_loss_curve(trainer.state.log_history, output_dir / "loss_curve.png")
        if recipe_args.generate_text:
            generation = _generate(base, tokenizer, recipe_args, model_args, output_dir)
        print(report(model))
    return RunResult(trainer, model, output_dir, generation, **result_notes)


def _adjust_training_arguments(training_args, recipe_args, argv):
    # The dataset yields ChatMLDatasetSample objects, not dicts: nothing to prune.
    training_args.remove_unused_columns = False
    if training_args.gradient_checkpointing:
        # The Trainer's switch reaches only the Whisper tower of HiggsAudioModel; use ours instead.
        LOGGER.info("--gradient_checkpointing: checkpointing the LLM layers instead (see checkpointing.py)")
        training_args.gradient_checkpointing = False
        recipe_args.llm_gradient_checkpointing = True
    if not torch.cuda.is_available():
        training_args.dataloader_pin_memory = False  # nothing to pin to; torch warns otherwise
    if training_args.ddp_find_unused_parameters is None:
        # With the audio tower skipped every trainable parameter is used on every step.
        training_args.ddp_find_unused_parameters = False
    if not any(a == "--report_to" or a.startswith("--report_to=") for a in argv):
        training_args.report_to = ["tensorboard"] if importlib.util.find_spec("tensorboard") else []


def _allow_rng_state_loading():
    # transformers 4.46 reads its own checkpoint-*/rng_state.pth with torch.load's default, which
    # is weights_only=True since torch 2.6; the file holds numpy's RNG state, so resuming fails
    # with "Unsupported global: numpy._core.multiarray._reconstruct". Allow exactly those types.
    import numpy

    torch.serialization.add_safe_globals(
        [numpy._core.multiarray._reconstruct, numpy.ndarray, numpy.dtype, numpy.dtypes.UInt32DType]
    )


def _config_and_tokenizer(model_args, demo_seed):
    if demo_seed is not None:
        from .tiny import tiny_config, tiny_tokenizer

        return tiny_config(), tiny_tokenizer()
    from boson_multimodal.model.higgs_audio import HiggsAudioConfig
    from transformers import AutoTokenizer

    config = HiggsAudioConfig.from_pretrained(model_args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(model_args.tokenizer_name_or_path or model_args.model_name_or_path)
    return config, tokenizer


def _dataset(data_args, recipe_args, model_args, config, tokenizer, output_dir):
    manifest = data_args.train_manifest
    if manifest is None:
        if not recipe_args.demo:
            raise SystemExit("--train_manifest is required (or --demo for the built-in synthetic data)")
        from .tiny import write_demo_manifest

        manifest = write_demo_manifest(output_dir / "demo_data")
    manifest = Path(manifest)
    utterances = read_manifest(manifest, config.audio_num_codebooks, config.audio_codebook_size)
    needs_encoder = any(u.audio.wav or (u.ref_audio and u.ref_audio.wav) for u in utterances)
    encoder = HiggsAudioTokenizerEncoder(model_args.audio_tokenizer) if needs_encoder else None
    cache = CodeCache(data_args.code_cache_dir or manifest.parent / ".higgs_codes", encoder)
    codes = load_codes(utterances, cache, config.audio_num_codebooks, config.audio_codebook_size, manifest)
    return HiggsAudioDataset(utterances, codes, tokenizer)


def show_unguarded_failure(model_args, lora_args, seed, batch) -> dict:
    """The seed error, reproduced on a throwaway copy: PEFT CAUSAL_LM without the preset."""
    from boson_multimodal.model.higgs_audio import HiggsAudioModel
    from peft import LoraConfig, get_peft_model

    from .model import lora_target_regex

    plain = get_peft_model(
        load_model(model_args, seed),
        LoraConfig(task_type="CAUSAL_LM", r=lora_args.lora_r, target_modules=lora_target_regex(lora_args.lora_targets)),
    )
    print("\n== Without kwarg_guard: PEFT CAUSAL_LM around HiggsAudioModel ==")
    try:
        plain(**batch)
    except TypeError as exc:
        unguarded = str(exc)
        print(f"TypeError: {unguarded}")
    else:  # pragma: no cover - would mean boson_multimodal changed its forward
        raise RuntimeError("HiggsAudioModel accepted labels= unguarded; the demo's premise no longer holds")
    with patched(plain, target=HiggsAudioModel, on_unknown="raise"):
        try:
            plain(**batch)
        except UnexpectedKeywordError as exc:
            diagnostic = str(exc)
    print(f"kwarg_guard's diagnostic: {diagnostic}")
    print("\n== With guard(model, preset='higgs_audio'): training ==\n")
    return {"unguarded_error": unguarded, "diagnostic": diagnostic}


def _save_merged(model, output_dir):
    merged = model.merge_and_unload()
    merged.save_pretrained(output_dir / "merged")
    LOGGER.info("saved the merged model to %s", output_dir / "merged")


def _generate(base, tokenizer, recipe_args, model_args, output_dir):
    # ``base`` is the HiggsAudioModel inside the PEFT wrapper: its LoRA layers are live, so it
    # generates with the fine-tuned adapter.
    result = generate_audio_codes(
        base, tokenizer, recipe_args.generate_text, max_new_tokens=recipe_args.generate_max_new_tokens
    )
    decoder = None
    if not recipe_args.demo and importlib.util.find_spec("boson_multimodal.audio_processing.higgs_audio_tokenizer"):
        try:
            decoder = HiggsAudioTokenizerEncoder(model_args.audio_tokenizer)
            decoder.load()
        except Exception as exc:  # noqa: BLE001 - decoding is optional; the codes are saved anyway
            LOGGER.warning("not decoding the generated codes to WAV: %s", exc)
            decoder = None
    written = save_generation(result, output_dir, decoder)
    frames = 0 if result.codes is None else result.codes.shape[1]
    print(f"generated {frames} audio frames for {recipe_args.generate_text!r}: {', '.join(map(str, written)) or 'nothing'}")
    return result
