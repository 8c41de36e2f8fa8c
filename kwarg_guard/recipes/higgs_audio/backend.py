"""The one interface behind which the two model ports differ, and the choice between them.

Everything a run shares (manifest, code cache, ChatML prompts, options, the loss normalisation,
the Trainer, outputs) is written once beside this module. A ``Backend`` says everything that
differs: how its port loads, lays out a batch, computes the loss sums, generates, encodes audio,
which checkpoints and revisions it takes, and which preset guards it. Each port is a package,
``legacy/`` and ``native/``, whose ``__init__`` defines its ``Backend``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kwarg_guard import unwrap_model

from .arguments import RecipeError
from .loss import LossSums

__all__ = ["Backend", "DemoFailure", "audio_device", "base_model", "choose_backend", "text_tokenizer"]

CONVERT_COMMAND = "python -m kwarg_guard.recipes.higgs_audio.convert SRC DST --to"


@dataclass(frozen=True)
class DemoFailure:
    """What the demo shows going wrong without the preset, and the call that shows the guard's
    diagnostic in raise mode."""

    unguarded: str  # what happened, in one line (an exception's message)
    inputs: dict[str, Any]  # the call's keywords
    strict_options: dict[str, Any]  # guard options that make the guard refuse instead of fix
    shown: str = ""  # how the demo prints it, when not as ``unguarded``

    def __str__(self) -> str:
        return self.shown or self.unguarded


@dataclass(frozen=True)
class Backend:
    """One model port. Attributes are the port's facts; methods are what it does its own way."""

    name: str
    preset: str  # the kwarg_guard preset that guards this port under PEFT
    model_type: str  # what config.json says for this port
    lora_targets: Mapping[str, str]  # LoRA group -> regex of this port's module names
    label_names: tuple[str, ...]  # the batch keys the Trainer's evaluation looks for
    model_class: str  # "module.Class" of the port's model, as a user imports it
    tiny_model: str  # the function of ``tiny`` that builds the demo's model of this port
    load_options: str  # from_pretrained's keywords for a bf16 load of this port, as Python source
    # Hub revisions used where the user gave none (option name -> revision).
    default_revisions: Mapping[str, str] = field(default_factory=dict)

    def config_and_tokenizer(self, model_args: Any, demo: bool) -> tuple[Any, Any]:
        raise NotImplementedError

    def code_shape(self, config: Any) -> tuple[int, int]:
        """(codebooks, codes per codebook) the manifest's codes must have."""
        raise NotImplementedError

    def dataset(self, utterances: list, codes: list, tokenizer: Any, config: Any) -> Any:
        raise NotImplementedError

    def sample(self, prompt: Any, code_segments: list, config: Any) -> Any:
        """One sample from a prompt and its codes, as the dataset builds it."""
        raise NotImplementedError

    def collator(self, config: Any) -> Any:
        raise NotImplementedError

    def real_width_config(self, num_hidden_layers: int) -> Any:
        """The released model's configuration, with ``num_hidden_layers`` layers."""
        raise NotImplementedError

    def model_from_config(self, config: Any) -> Any:
        """A randomly initialised model of ``config`` (benchmarks and memory estimates)."""
        raise NotImplementedError

    def load_model(self, model_args: Any, demo_seed: int | None, full_finetune: bool) -> Any:
        raise NotImplementedError

    def enable_checkpointing(self, model: Any) -> int:
        """Checkpoint the decoder layers of ``model`` (inside PEFT or not); returns how many."""
        raise NotImplementedError

    def count_targets(self, batch: dict[str, Any]) -> tuple[int, int]:
        """(text, audio) targets a batch holds, as the loss counts them, without a forward."""
        raise NotImplementedError

    def loss_sums(self, model: Any, inputs: dict[str, Any]) -> tuple[LossSums, Any]:
        raise NotImplementedError

    def generate(self, model: Any, tokenizer: Any, request: Any) -> Any:
        raise NotImplementedError

    def audio_encoder(self, model_args: Any) -> Any:
        """The port's audio tokenizer (``--audio_tokenizer``), on ``audio_device(model_args)``; it
        loads on first use."""
        raise NotImplementedError

    def write_tiny_audio_tokenizer(self, folder: Path) -> Path:
        """A tiny random audio tokenizer of this port saved to ``folder``, which ``audio_encoder``
        loads as ``--audio_tokenizer folder`` (the audio demo's and the tests')."""
        raise NotImplementedError

    def wrong_checkpoint(self, where: str, found: str | None) -> str:
        """The one-line error for a checkpoint of the other format (``found`` is its model_type)."""
        raise NotImplementedError

    def demo_failure(self, plain: Any, batch: dict[str, Any]) -> DemoFailure:
        """Run ``batch`` through ``plain`` (the port under PEFT CAUSAL_LM, unguarded) and say what
        goes wrong without the preset."""
        raise NotImplementedError


def audio_device(model_args: Any) -> str:
    """``--audio_tokenizer_device``, else cuda when there is one, else cpu."""
    return model_args.audio_tokenizer_device or ("cuda" if torch.cuda.is_available() else "cpu")


def text_tokenizer(model_args: Any) -> Any:
    """The text tokenizer: the model's own unless another is named, at its pinned revision."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        model_args.tokenizer_name_or_path or model_args.model_name_or_path, revision=model_args.tokenizer_revision
    )


def base_model(model: Any) -> Any:
    """The model itself, inside PEFT, DDP or torch.compile."""
    return unwrap_model(model) if isinstance(model, torch.nn.Module) else model


def choose_backend(name: str) -> Backend:
    """``legacy``, ``native``, or ``auto``: native when transformers >= 5 is installed and
    boson_multimodal is not, else legacy.

    The ports are imported here, when one is chosen: each needs packages the other's environment
    lacks.

    Raises:
        RecipeError: an unknown name, or a backend whose packages this environment lacks.
    """
    import transformers

    major = int(transformers.__version__.split(".")[0])
    has_boson = importlib.util.find_spec("boson_multimodal") is not None
    if name == "auto":
        name = "native" if major >= 5 and not has_boson else "legacy"
    if name == "legacy":
        if not has_boson or major >= 5:
            raise RecipeError(
                f"the legacy backend needs boson_multimodal on transformers 4.46 (found transformers {transformers.__version__}"
                f"{'' if has_boson else ', no boson_multimodal'}); install the legacy stack, or use --backend native"
            )
        from .legacy import LEGACY

        return LEGACY
    if name == "native":
        if major < 5:
            raise RecipeError(
                f"the native backend needs transformers >= 5 (found {transformers.__version__}); use --backend legacy"
            )
        from .native import NATIVE

        return NATIVE
    raise RecipeError(f"--backend must be legacy, native or auto, not {name!r}")
