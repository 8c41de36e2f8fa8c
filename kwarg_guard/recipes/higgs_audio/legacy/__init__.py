"""The legacy port: boson_multimodal's ``HiggsAudioModel`` on transformers 4.46, what the official
serve engine runs; guarded by the ``higgs_audio`` preset (PEFT's ``labels`` would crash it).

One module an idea: ``data`` (samples and the official collator), ``model`` (loading, LoRA module
names), ``checkpointing`` (the decoder layers' activation checkpointing), ``loss`` (the shifted
loss sums of the model's output), ``generation`` (as the serve engine generates), ``audio`` (the
audio tokenizer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..backend import CONVERT_COMMAND, Backend, DemoFailure, audio_device, base_model, text_tokenizer
from ..loss import LossSums
from ..release import LEGACY_AUDIO_TOKENIZER_REVISION, LEGACY_MODEL_REVISION, LEGACY_MODEL_TYPE, native_config_values
from .model import LORA_TARGETS

__all__ = ["LEGACY", "LegacyBackend"]


class LegacyBackend(Backend):
    def config_and_tokenizer(self, model_args: Any, demo: bool) -> tuple[Any, Any]:
        if demo:
            from ..tiny import tiny_config, tiny_tokenizer

            return tiny_config(), tiny_tokenizer()
        from boson_multimodal.model.higgs_audio import HiggsAudioConfig

        config = HiggsAudioConfig.from_pretrained(model_args.model_name_or_path, revision=model_args.model_revision)
        return config, text_tokenizer(model_args)

    def code_shape(self, config: Any) -> tuple[int, int]:
        return config.audio_num_codebooks, config.audio_codebook_size

    def dataset(self, utterances: list, codes: list, tokenizer: Any, config: Any) -> Any:
        from .data import HiggsAudioDataset

        return HiggsAudioDataset(utterances, codes, tokenizer, config)

    def sample(self, prompt: Any, code_segments: list, config: Any) -> Any:
        from .data import sample_from_prompt

        return sample_from_prompt(prompt, code_segments)

    def collator(self, config: Any) -> Any:
        from .data import HiggsAudioBatcher, make_collator

        return HiggsAudioBatcher(make_collator(config))

    def real_width_config(self, num_hidden_layers: int) -> Any:
        from boson_multimodal.model.higgs_audio import HiggsAudioConfig

        from ..convert import native_to_legacy_config

        return HiggsAudioConfig(**native_to_legacy_config(native_config_values(num_hidden_layers), {}))

    def model_from_config(self, config: Any) -> Any:
        from .model import model_from_config

        return model_from_config(config)

    def load_model(self, model_args: Any, demo_seed: int | None, full_finetune: bool) -> Any:
        from .model import load_model

        return load_model(model_args, demo_seed, full_finetune)

    def enable_checkpointing(self, model: Any) -> int:
        from .checkpointing import checkpoint_llm_layers

        return checkpoint_llm_layers(base_model(model))

    def count_targets(self, batch: dict[str, Any]) -> tuple[int, int]:
        from .loss import legacy_targets

        return legacy_targets(batch)

    def loss_sums(self, model: Any, inputs: dict[str, Any]) -> tuple[LossSums, Any]:
        from .loss import legacy_loss_sums

        outputs = model(**inputs)
        return legacy_loss_sums(outputs, inputs.get("label_audio_ids")), outputs

    def generate(self, model: Any, tokenizer: Any, request: Any) -> Any:
        from .generation import generate_audio_codes

        return generate_audio_codes(base_model(model), tokenizer, request)

    def audio_encoder(self, model_args: Any) -> Any:
        from .audio import HiggsAudioTokenizerEncoder

        return HiggsAudioTokenizerEncoder(
            model_args.audio_tokenizer,
            audio_device(model_args),
            revision=model_args.audio_tokenizer_revision,
            hubert_revision=model_args.hubert_revision,
        )

    def write_tiny_audio_tokenizer(self, folder: Path) -> Path:
        from ..tiny_audio import write_tiny_legacy_tokenizer

        return write_tiny_legacy_tokenizer(folder)

    def wrong_checkpoint(self, where: str, found: str | None) -> str:
        return (
            f"{where} is not a boson_multimodal checkpoint (model_type {found!r}, expected {self.model_type!r}); "
            f"the hub's legacy snapshot is --model_revision {LEGACY_MODEL_REVISION}; for today's native checkpoints "
            f"use --backend native (transformers 5), or convert one with: {CONVERT_COMMAND} legacy"
        )

    def demo_failure(self, plain: Any, batch: dict[str, Any]) -> DemoFailure:
        # HiggsAudioModel has no labels parameter and no **kwargs: PEFT's labels= is a TypeError.
        try:
            plain(**batch)
        except TypeError as exc:
            strict = {"target": type(plain.get_base_model()), "on_unknown": "raise"}
            return DemoFailure(str(exc), batch, strict, shown=f"TypeError: {exc}")
        # Would mean boson_multimodal changed its forward.
        raise RuntimeError("HiggsAudioModel accepted labels= unguarded; the demo's premise no longer holds")


LEGACY = LegacyBackend(
    name="legacy",
    preset="higgs_audio",
    model_type=LEGACY_MODEL_TYPE,
    lora_targets=LORA_TARGETS,
    label_names=("labels",),
    model_class="boson_multimodal.model.higgs_audio.HiggsAudioModel",
    tiny_model="tiny_model",
    load_options="torch_dtype=torch.bfloat16",
    default_revisions={
        "model_revision": LEGACY_MODEL_REVISION,
        "audio_tokenizer_revision": LEGACY_AUDIO_TOKENIZER_REVISION,
    },
)
