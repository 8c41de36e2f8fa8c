"""The native port: transformers 5's ``HiggsAudioV2ForConditionalGeneration``; guarded by the
``higgs_audio_v2`` preset (its typed ``**kwargs`` would swallow a misspelt keyword).

One module an idea: ``data`` (the processor's layout with the recipe's labels, and the collator),
``model`` (loading, LoRA module names, checkpointing), ``loss`` (the loss sums of the model's
output), ``generation`` (the model's ``generate()``), ``audio`` (the audio tokenizer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..backend import CONVERT_COMMAND, Backend, DemoFailure, audio_device, base_model, text_tokenizer
from ..loss import LossSums
from ..release import NATIVE_MODEL_TYPE, native_config_values
from .model import LORA_TARGETS

__all__ = ["NATIVE", "NativeBackend"]

# What the demo misspells: the forward's typed **kwargs take it and nothing uses it.
_MISSPELT_AUDIO_LABELS = "audio_label"


class NativeBackend(Backend):
    def config_and_tokenizer(self, model_args: Any, demo: bool) -> tuple[Any, Any]:
        if demo:
            from ..tiny import tiny_native_config, tiny_tokenizer

            return tiny_native_config(), tiny_tokenizer()
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
        return config, text_tokenizer(model_args)

    def code_shape(self, config: Any) -> tuple[int, int]:
        return config.num_codebooks, config.codebook_size - 2  # codebook_size counts the stream bos and eos

    def dataset(self, utterances: list, codes: list, tokenizer: Any, config: Any) -> Any:
        from .data import NativeDataset

        return NativeDataset(utterances, codes, tokenizer, config)

    def sample(self, prompt: Any, code_segments: list, config: Any) -> Any:
        from .data import native_sample

        return native_sample(prompt, code_segments, config)

    def collator(self, config: Any) -> Any:
        from .data import NativeCollator

        return NativeCollator(config)

    def real_width_config(self, num_hidden_layers: int) -> Any:
        from transformers import HiggsAudioV2Config

        return HiggsAudioV2Config(**native_config_values(num_hidden_layers))

    def model_from_config(self, config: Any) -> Any:
        from .model import model_from_config

        return model_from_config(config)

    def load_model(self, model_args: Any, demo_seed: int | None, full_finetune: bool) -> Any:
        from .model import load_model

        return load_model(model_args, demo_seed, full_finetune)

    def enable_checkpointing(self, model: Any) -> int:
        from .model import enable_checkpointing

        return enable_checkpointing(base_model(model))

    def count_targets(self, batch: dict[str, Any]) -> tuple[int, int]:
        from .loss import native_targets

        return native_targets(batch)

    def loss_sums(self, model: Any, inputs: dict[str, Any]) -> tuple[LossSums, Any]:
        from .loss import native_loss_sums

        # The labels stay out of the forward: the model would compute a loss of its own, over
        # vocabulary-sized text logits, normalised by whatever the Trainer passes it (a
        # text-token count for the audio too, without this recipe).
        model_inputs = {key: value for key, value in inputs.items() if key not in ("labels", "audio_labels")}
        outputs = model(**model_inputs, output_hidden_states=True)
        return native_loss_sums(outputs, inputs, base_model(model)), outputs

    def generate(self, model: Any, tokenizer: Any, request: Any) -> Any:
        from .generation import generate_native

        return generate_native(base_model(model), tokenizer, request)

    def audio_encoder(self, model_args: Any) -> Any:
        from .audio import NativeAudioTokenizerEncoder

        return NativeAudioTokenizerEncoder(
            model_args.audio_tokenizer, audio_device(model_args), revision=model_args.audio_tokenizer_revision
        )

    def write_tiny_audio_tokenizer(self, folder: Path) -> Path:
        from ..tiny_audio import write_tiny_native_tokenizer

        return write_tiny_native_tokenizer(folder)

    def wrong_checkpoint(self, where: str, found: str | None) -> str:
        return (
            f"{where} is not a transformers-native Higgs Audio checkpoint (model_type {found!r}, expected "
            f"{self.model_type!r}); use --backend legacy for it (transformers 4.46 with boson_multimodal), or convert "
            f"it with: {CONVERT_COMMAND} native"
        )

    def demo_failure(self, plain: Any, batch: dict[str, Any]) -> DemoFailure:
        # The native forward takes any keyword: a misspelt audio_labels is swallowed silently.
        inputs = {key: value for key, value in batch.items() if key not in ("labels", "audio_labels")}
        inputs[_MISSPELT_AUDIO_LABELS] = batch["audio_labels"]
        with torch.no_grad():
            loss = plain(**inputs).loss
        model_class = type(plain.get_base_model()).__name__
        unguarded = (
            f"{model_class}.forward(..., {_MISSPELT_AUDIO_LABELS}=...) returned loss={loss}: "
            "the misspelt keyword was swallowed, no error"
        )
        return DemoFailure(unguarded, inputs, {"preset": self.preset})


NATIVE = NativeBackend(
    name="native",
    preset="higgs_audio_v2",
    model_type=NATIVE_MODEL_TYPE,
    lora_targets=LORA_TARGETS,
    label_names=("audio_labels",),
    model_class="transformers.HiggsAudioV2ForConditionalGeneration",
    tiny_model="tiny_native_model",
    load_options="dtype=torch.bfloat16, use_text_head=True",
)
