"""The official ``HiggsAudioSampleCollator`` as the Trainer's data collator.

Its ``HiggsAudioBatchInput`` dataclass becomes a dict of tensors (``None`` fields dropped). Text
labels are handed out as ``labels``, the name a Trainer-style batch uses; the ``higgs_audio``
preset remaps them to the model's ``label_ids`` (that rename is what PEFT's CAUSAL_LM wrapper
needs to be guarded against, so the recipe exercises it on every step).
"""

from __future__ import annotations

__all__ = ["HiggsAudioBatcher", "make_collator"]


def make_collator(config, *, for_generation: bool = False):
    """The collator configured from the model config, as the serve engine does for inference."""
    from boson_multimodal.data_collator.higgs_audio_collator import HiggsAudioSampleCollator

    if config.encode_whisper_embed:
        raise ValueError(
            "this recipe trains with encode_whisper_embed=False (audio-in as codes); the released "
            "checkpoint's config already has it off"
        )
    return HiggsAudioSampleCollator(
        whisper_processor=None,
        encode_whisper_embed=False,
        audio_in_token_id=config.audio_in_token_idx,
        audio_out_token_id=config.audio_out_token_idx,
        audio_stream_bos_id=config.audio_stream_bos_id,
        audio_stream_eos_id=config.audio_stream_eos_id,
        pad_token_id=config.pad_token_id,
        return_audio_in_tokens=not for_generation,
        use_delay_pattern=config.use_delay_pattern,
        audio_num_codebooks=config.audio_num_codebooks,
        round_to=1 if for_generation else 8,
    )


class HiggsAudioBatcher:
    """Callable collator: samples -> dict for ``model(**batch)``."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, samples: list) -> dict:
        batch = {key: value for key, value in vars(self.collator(samples)).items() if value is not None}
        if "label_ids" in batch:
            batch["labels"] = batch.pop("label_ids")
        reward = batch.get("reward")
        if reward is not None and reward.numel() == 0:
            del batch["reward"]
        return batch
