"""The output folder's README.md: what was trained on what, how it went, and how to load it.

PEFT's ``save_pretrained`` leaves a template whose fields all read "More Information Needed"; the
recipe knows the answers, so it writes them, with a loading snippet for the backend it trained on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kwarg_guard

__all__ = ["TrainingSummary", "render_model_card", "summarize", "write_model_card"]


@dataclass
class TrainingSummary:
    """What the card reports about one finished run."""

    backend: str  # legacy or native
    model_class: str  # the port's model class, "module.Class"
    tiny_model: str  # the function of kwarg_guard.recipes.higgs_audio.tiny that builds the demo's model
    load_options: str  # from_pretrained's dtype keyword and the port's extra options
    preset: str
    model: str
    revision: str | None
    demo_seed: int | None  # the demo's tiny random base model, built from this seed; None: a checkpoint
    lora: dict[str, Any] | None  # r, alpha, dropout, targets; None: full fine-tuning
    train_manifest: str
    train_utterances: int
    eval_utterances: int
    steps: int
    epochs: float
    learning_rate: float
    batch_size: str
    final_loss: float | None
    final_eval_loss: float | None


def summarize(
    backend: Any,
    model_args: Any,
    data_args: Any,
    lora_args: Any,
    training_args: Any,
    demo_seed: int | None,
    data: Any,
    log_history: list[dict[str, Any]],
    steps: int,
) -> TrainingSummary:
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    eval_losses = [entry["eval_loss"] for entry in log_history if "eval_loss" in entry]
    lora = (
        None
        if lora_args.full_finetune
        else {
            "r": lora_args.lora_r,
            "alpha": lora_args.lora_alpha,
            "dropout": lora_args.lora_dropout,
            "targets": lora_args.lora_targets,
        }
    )
    per_step = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    world = training_args.world_size
    return TrainingSummary(
        backend=backend.name,
        model_class=backend.model_class,
        tiny_model=backend.tiny_model,
        load_options=backend.load_options,
        preset=backend.preset,
        model=model_args.model_name_or_path,
        revision=model_args.model_revision,
        demo_seed=demo_seed,
        lora=lora,
        train_manifest=data_args.train_manifest or "the demo's synthetic data",
        train_utterances=len(data.train),
        eval_utterances=len(data.eval) if data.eval is not None else 0,
        steps=steps,
        epochs=training_args.num_train_epochs,
        learning_rate=training_args.learning_rate,
        batch_size=(
            f"{per_step * world} utterances a step ({training_args.per_device_train_batch_size} per device"
            f" x {training_args.gradient_accumulation_steps} accumulated x {world} process(es))"
        ),
        final_loss=losses[-1] if losses else None,
        final_eval_loss=eval_losses[-1] if eval_losses else None,
    )


def render_model_card(summary: TrainingSummary, output_dir: str) -> str:
    module, cls = summary.model_class.rsplit(".", 1)
    what = "LoRA adapter" if summary.lora is not None else "fully fine-tuned model"
    if summary.demo_seed is not None:
        base = (
            f"the CPU demo's tiny random {cls} (`kwarg_guard.recipes.higgs_audio.tiny."
            f"{summary.tiny_model}({summary.demo_seed})`), not a released checkpoint"
        )
    else:
        base = f"`{summary.model}`" + (f" at revision `{summary.revision}`" if summary.revision else "")
    rows = [
        ("base model", f"{base}; {summary.backend} backend (`{module}.{cls}`)"),
        (
            "data",
            f"{summary.train_utterances} utterances from {_code_or_text(summary.train_manifest)}"
            + (f", {summary.eval_utterances} held out for evaluation" if summary.eval_utterances else ""),
        ),
        ("adapter" if summary.lora else "weights", _describe_lora(summary.lora)),
        (
            "training",
            (
                f"{summary.steps} steps ({summary.epochs:g} epochs), learning rate {summary.learning_rate:g}, "
                f"{summary.batch_size}"
            ),
        ),
        ("final training loss", "not logged" if summary.final_loss is None else f"{summary.final_loss:.4f}"),
    ]
    if summary.final_eval_loss is not None:
        rows.append(("final evaluation loss", f"{summary.final_eval_loss:.4f}"))
    rows.append(("guard", f"kwarg_guard {kwarg_guard.__version__}, preset `{summary.preset}`"))
    front = ["---", "library_name: peft" if summary.lora else "library_name: transformers"]
    if summary.demo_seed is None:
        front.append(f"base_model: {summary.model}")
    front += ["tags:", "- higgs-audio", "- text-to-speech", "- kwarg_guard", "---", ""]
    lines = [
        *front,
        f"# Higgs Audio v2 {what}",
        "",
        (
            "Trained with `python -m kwarg_guard.recipes.higgs_audio` (the Hugging Face Trainer, guarded by "
            f"kwarg_guard's `{summary.preset}` preset)."
        ),
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "## Load it",
        "",
        "```python",
        *_loading_code(summary, output_dir),
        "```",
        "",
        (
            "The text tokenizer is saved next to the weights. `loss_curve.png` and `trainer_state.json` "
            "hold the whole run's losses."
        ),
        "",
    ]
    return "\n".join(lines)


def write_model_card(summary: TrainingSummary, output_dir: Path) -> Path:
    path = output_dir / "README.md"
    path.write_text(render_model_card(summary, str(output_dir)), encoding="utf-8")
    return path


def _quoted(text: str) -> str:
    return json.dumps(text)  # a Python string literal in double quotes, as the formatter writes them


def _code_or_text(manifest: str) -> str:
    return manifest if manifest.startswith("the ") else f"`{manifest}`"


def _describe_lora(lora: dict[str, Any] | None) -> str:
    if lora is None:
        return "every weight trained (full fine-tuning)"
    return (
        f"LoRA r {lora['r']}, alpha {lora['alpha']}, dropout {lora['dropout']:g}, "
        f"on the groups {lora['targets']} (see `adapter_config.json`)"
    )


def _loading_code(summary: TrainingSummary, output_dir: str) -> list[str]:
    module, cls = summary.model_class.rsplit(".", 1)
    lines = []
    if summary.lora is not None:
        lines.append("from peft import PeftModel")
    lines += ["from transformers import AutoTokenizer", "", "from kwarg_guard import guard"]
    if summary.lora is None:
        lines += [f"from {module} import {cls}", "", f"model = {cls}.from_pretrained({_quoted(output_dir)})"]
    elif summary.demo_seed is not None:
        tiny = summary.tiny_model
        lines += [f"from kwarg_guard.recipes.higgs_audio.tiny import {tiny}", "", f"base = {tiny}({summary.demo_seed})"]
    else:
        revision = f", revision={_quoted(summary.revision)}" if summary.revision else ""
        lines = ["import torch", *lines[:-2], f"from {module} import {cls}", "", "from kwarg_guard import guard", ""]
        lines += [
            f"base = {cls}.from_pretrained(",
            f"    {_quoted(summary.model)}{revision}, {summary.load_options}",
            ")",
        ]
    if summary.lora is not None:
        lines.append(f"model = PeftModel.from_pretrained(base, {_quoted(output_dir)})")
    lines += [
        f'model = guard(model, preset="{summary.preset}")',
        f"tokenizer = AutoTokenizer.from_pretrained({_quoted(output_dir)})",
    ]
    return lines
