"""The two model ports behind one recipe: what differs between them, and nothing else.

Everything a run shares (manifest, code cache, ChatML prompts, options, the loss normalisation,
the Trainer, outputs) is written once; a ``Backend`` says how its port loads, lays out a batch,
computes the loss sums, generates, and which preset guards it.

* ``legacy``: boson_multimodal's ``HiggsAudioModel`` on transformers 4.46 (what the official serve
  engine runs); guarded by ``higgs_audio`` (PEFT's ``labels`` would crash it).
* ``native``: transformers 5's ``HiggsAudioV2ForConditionalGeneration``; guarded by
  ``higgs_audio_v2`` (its typed ``**kwargs`` would swallow a misspelt keyword).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .arguments import RecipeError
from .loss import LossSums
from .model import LORA_TARGETS
from .native_model import NATIVE_LORA_TARGETS

__all__ = ["LEGACY", "NATIVE", "Backend", "choose_backend"]


@dataclass(frozen=True)
class Backend:
    name: str
    preset: str
    model_type: str  # what config.json says for this port
    lora_targets: Mapping[str, str]
    label_names: tuple[str, ...]  # the batch keys the Trainer's evaluation looks for

    # --- what differs, by port -----------------------------------------------------------------
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

    def load_model(self, model_args: Any, demo_seed: int | None, full_finetune: bool) -> Any:
        raise NotImplementedError

    def enable_checkpointing(self, model: Any) -> int:
        raise NotImplementedError

    def count_targets(self, batch: dict[str, Any]) -> tuple[int, int]:
        raise NotImplementedError

    def loss_sums(self, model: Any, inputs: dict[str, Any]) -> tuple[LossSums, Any]:
        raise NotImplementedError

    def generate(self, model: Any, tokenizer: Any, request: Any) -> Any:
        raise NotImplementedError

    def audio_encoder(self, model_args: Any) -> Any:
        raise NotImplementedError


def _text_tokenizer(model_args: Any) -> Any:
    """The text tokenizer: the model's own unless another is named, at its pinned revision."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        model_args.tokenizer_name_or_path or model_args.model_name_or_path, revision=model_args.tokenizer_revision
    )


class _Legacy(Backend):
    def config_and_tokenizer(self, model_args: Any, demo: bool) -> tuple[Any, Any]:
        if demo:
            from .tiny import tiny_config, tiny_tokenizer

            return tiny_config(), tiny_tokenizer()
        from boson_multimodal.model.higgs_audio import HiggsAudioConfig

        config = HiggsAudioConfig.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
        return config, _text_tokenizer(model_args)

    def code_shape(self, config: Any) -> tuple[int, int]:
        return config.audio_num_codebooks, config.audio_codebook_size

    def dataset(self, utterances: list, codes: list, tokenizer: Any, config: Any) -> Any:
        from .samples import HiggsAudioDataset

        return HiggsAudioDataset(utterances, codes, tokenizer, config)

    def sample(self, prompt: Any, code_segments: list, config: Any) -> Any:
        from .samples import sample_from_prompt

        return sample_from_prompt(prompt, code_segments)

    def collator(self, config: Any) -> Any:
        from .batching import HiggsAudioBatcher, make_collator

        return HiggsAudioBatcher(make_collator(config))

    def real_width_config(self, num_hidden_layers: int) -> Any:
        from boson_multimodal.model.higgs_audio import HiggsAudioConfig

        from .convert import native_to_legacy_config

        return HiggsAudioConfig(**_released_legacy_config(native_to_legacy_config, num_hidden_layers))

    def load_model(self, model_args: Any, demo_seed: int | None, full_finetune: bool) -> Any:
        from .model import load_model

        return load_model(model_args, demo_seed, full_finetune)

    def enable_checkpointing(self, model: Any) -> int:
        from .checkpointing import checkpoint_llm_layers

        return checkpoint_llm_layers(_base(model))

    def count_targets(self, batch: dict[str, Any]) -> tuple[int, int]:
        from .loss import legacy_targets

        return legacy_targets(batch)

    def loss_sums(self, model: Any, inputs: dict[str, Any]) -> tuple[LossSums, Any]:
        from .loss import legacy_loss_sums

        outputs = model(**inputs)
        return legacy_loss_sums(outputs, inputs.get("label_audio_ids")), outputs

    def generate(self, model: Any, tokenizer: Any, request: Any) -> Any:
        from .generation import generate_audio_codes

        return generate_audio_codes(_base(model), tokenizer, request)

    def audio_encoder(self, model_args: Any) -> Any:
        from .codes import HiggsAudioTokenizerEncoder

        return HiggsAudioTokenizerEncoder(
            model_args.audio_tokenizer,
            revision=model_args.audio_tokenizer_revision,
            hubert_revision=model_args.hubert_revision,
        )


class _Native(Backend):
    def config_and_tokenizer(self, model_args: Any, demo: bool) -> tuple[Any, Any]:
        if demo:
            from .tiny import tiny_native_config, tiny_tokenizer

            return tiny_native_config(), tiny_tokenizer()
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
        return config, _text_tokenizer(model_args)

    def code_shape(self, config: Any) -> tuple[int, int]:
        return config.num_codebooks, config.codebook_size - 2  # codebook_size counts the stream bos and eos

    def dataset(self, utterances: list, codes: list, tokenizer: Any, config: Any) -> Any:
        from .native_layout import NativeDataset

        return NativeDataset(utterances, codes, tokenizer, config)

    def sample(self, prompt: Any, code_segments: list, config: Any) -> Any:
        from .native_layout import native_sample

        return native_sample(prompt, code_segments, config)

    def collator(self, config: Any) -> Any:
        from .native_layout import NativeCollator

        return NativeCollator(config)

    def real_width_config(self, num_hidden_layers: int) -> Any:
        from transformers import HiggsAudioV2Config

        return HiggsAudioV2Config(
            codebook_size=1026, num_hidden_layers=num_hidden_layers
        )  # the defaults are the release's

    def load_model(self, model_args: Any, demo_seed: int | None, full_finetune: bool) -> Any:
        from .native_model import load_native_model

        return load_native_model(model_args, demo_seed, full_finetune)

    def enable_checkpointing(self, model: Any) -> int:
        from .native_model import enable_native_checkpointing

        return enable_native_checkpointing(_base(model))

    def count_targets(self, batch: dict[str, Any]) -> tuple[int, int]:
        from .native_layout import native_targets

        return native_targets(batch)

    def loss_sums(self, model: Any, inputs: dict[str, Any]) -> tuple[LossSums, Any]:
        from .native_layout import native_loss_sums

        # The labels stay out of the forward: the model would compute a loss of its own, over
        # vocabulary-sized text logits, normalised by whatever the Trainer passes it (a
        # text-token count for the audio too, without this recipe).
        model_inputs = {key: value for key, value in inputs.items() if key not in ("labels", "audio_labels")}
        outputs = model(**model_inputs, output_hidden_states=True)
        return native_loss_sums(outputs, inputs, _base(model)), outputs

    def generate(self, model: Any, tokenizer: Any, request: Any) -> Any:
        from .native_model import generate_native

        return generate_native(_base(model), tokenizer, request)

    def audio_encoder(self, model_args: Any) -> Any:
        from .codes import NativeAudioTokenizerEncoder

        return NativeAudioTokenizerEncoder(model_args.audio_tokenizer, revision=model_args.audio_tokenizer_revision)


def _released_legacy_config(native_to_legacy_config: Any, num_hidden_layers: int) -> dict[str, Any]:
    """The released legacy configuration (Llama-3.2-3B text model, dual FFN on every layer, 8
    codebooks of 1024), derived from the native defaults, which are the release's."""
    native = {
        "vocab_size": 128256,
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": num_hidden_layers,
        "num_attention_heads": 24,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "hidden_act": "silu",
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "pad_token_id": 128001,
        "bos_token_id": 128000,
        "rope_parameters": {
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
        },
        "num_codebooks": 8,
        "codebook_size": 1026,
        "audio_token_id": 128016,
        "audio_bos_token_id": 128013,
        "audio_stream_bos_id": 1024,
        "audio_stream_eos_id": 1025,
    }
    return native_to_legacy_config(native, {})


def _base(model: Any) -> Any:
    """The model itself, inside PEFT, DDP or torch.compile."""
    from kwarg_guard._targets import unwrap_containers

    return unwrap_containers(model) if isinstance(model, torch.nn.Module) else model


LEGACY = _Legacy(
    name="legacy",
    preset="higgs_audio",
    model_type="higgs_audio",
    lora_targets=LORA_TARGETS,
    label_names=("labels",),
)

NATIVE = _Native(
    name="native",
    preset="higgs_audio_v2",
    model_type="higgs_audio_v2",
    lora_targets=NATIVE_LORA_TARGETS,
    label_names=("audio_labels",),
)


def choose_backend(name: str) -> Backend:
    """``legacy``, ``native``, or ``auto``: native when transformers >= 5 is installed and
    boson_multimodal is not, else legacy.

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
        return LEGACY
    if name == "native":
        if major < 5:
            raise RecipeError(
                f"the native backend needs transformers >= 5 (found {transformers.__version__}); use --backend legacy"
            )
        return NATIVE
    raise RecipeError(f"--backend must be legacy, native or auto, not {name!r}")
