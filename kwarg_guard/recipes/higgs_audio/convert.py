"""Convert Higgs Audio checkpoints between the two model ports, so a model trained on one stack
can be served on the other.

    python -m kwarg_guard.recipes.higgs_audio.convert SRC DST --to native|legacy [--force]

SRC is a full checkpoint folder (``config.json`` + safetensors weights, sharded or not) or a PEFT
LoRA adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``). The conversion is a
renaming of the weights plus a translation of the config; no weight changes value, and nothing is
imported but ``safetensors`` (it runs on either stack):

* ``audio_codebook_embeddings.`` <-> ``model.embed_audio_tokens.embed_audio_tokens.``;
  ``embed_tokens``, ``layers``, ``norm`` <-> under ``model.``; ``audio_decoder_proj.{audio,text}_lm_head``
  <-> ``{audio,text}_lm_head``; boson's split ``*_frozen`` / ``*_trainable`` weights are rejoined;
  ``audio_codebook_weights`` and rotary ``inv_freq`` buffers are dropped (they are recomputed);
* the legacy config (a Llama ``text_config`` and audio settings) <-> the native flat config; the
  native ``codebook_size`` counts the stream bos and eos (``audio_codebook_size + 2``); the token
  ids the native config needs and the legacy one lacks (the delay placeholder, ``<|eot_id|>``) are
  read from the tokenizer in SRC when there is one, else the release's.

A conversion keeps the source's own config files verbatim in ``higgs_audio_conversion.json``, so
converting back gives the original files bit for bit (weights, configs, adapter configs). A
native checkpoint without it (today's hub repositories) gets a legacy config derived from its
own, with the release's settings for what the native port has no field for (the audio-in
placeholder, the Whisper tower it skips).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .release import LEGACY_MODEL_TYPE, NATIVE_MODEL_TYPE, TOKEN_IDS

__all__ = ["ConversionError", "convert", "convert_adapter", "convert_checkpoint", "rename_key"]

SIDECAR = "higgs_audio_conversion.json"
_CONFIG_FILES = ("config.json", "generation_config.json", "adapter_config.json")
_INDEX = "model.safetensors.index.json"

# (pattern, replacement): the first that matches renames a key.
TO_NATIVE = (
    (r"^audio_codebook_embeddings\.", "model.embed_audio_tokens.embed_audio_tokens."),
    (r"^(embed_tokens|layers|norm)\.", r"model.\1."),
    (r"^audio_decoder_proj\.", ""),
)
TO_LEGACY = (
    (r"^model\.embed_audio_tokens\.embed_audio_tokens\.", "audio_codebook_embeddings."),
    (r"^model\.(embed_tokens|layers|norm)\.", r"\1."),
    (r"^(audio_lm_head|text_lm_head)\.", r"audio_decoder_proj.\1."),
)
_DROPPED = ("audio_codebook_weights", "rotary_emb.inv_freq", "rotary_emb.original_inv_freq")
_SPLIT = (("embedding_frozen", "embedding_trainable"), ("linear_frozen", "linear_trainable"))

# What the released checkpoint uses where one port has a field the other lacks.
RELEASE = {
    "audio_in_token_idx": TOKEN_IDS["audio_in"],
    "audio_eos_token_id": TOKEN_IDS["audio_eos"],
    "audio_delay_token_id": TOKEN_IDS["audio_delay"],
    "eot_token_id": TOKEN_IDS["eot"],
}


class ConversionError(ValueError):
    """A folder that cannot be converted; the message says why."""


def rename_key(key: str, rules: tuple[tuple[str, str], ...]) -> str:
    for pattern, replacement in rules:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key, count=1)
    return key


def convert(source: Path, destination: Path, to: str, force: bool = False) -> list[Path]:
    """Convert a checkpoint or adapter folder; returns the files written.

    Raises:
        ConversionError: SRC is not a Higgs Audio checkpoint or adapter of the other format, or DST
            is not empty (without ``force``).
    """
    source, destination = Path(source), Path(destination)
    if to not in ("native", "legacy"):
        raise ConversionError(f"--to must be native or legacy, not {to!r}")
    if not source.is_dir():
        raise ConversionError(f"{source} is not a folder")
    if destination.resolve() == source.resolve():
        raise ConversionError("DST must be another folder than SRC")
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())) and not force:
        raise ConversionError(f"{destination} is not an empty folder; pass --force to write into it")
    if (source / "adapter_config.json").is_file():
        convert_one = convert_adapter
    elif (source / "config.json").is_file():
        convert_one = convert_checkpoint
    else:
        raise ConversionError(
            f"{source} holds neither config.json (a checkpoint) nor adapter_config.json (a PEFT adapter)"
        )
    # Written into a scratch folder beside DST and moved in at the end: a failure leaves no half-converted DST.
    destination.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        convert_one(source, scratch, to)
        destination.mkdir(exist_ok=True)
        written = []
        for path in sorted(scratch.iterdir()):
            os.replace(path, destination / path.name)
            written.append(destination / path.name)
        return written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def convert_checkpoint(source: Path, destination: Path, to: str) -> list[Path]:
    config = _read_json(source / "config.json")
    found = config.get("model_type")
    wanted_from = LEGACY_MODEL_TYPE if to == "native" else NATIVE_MODEL_TYPE
    if found != wanted_from:
        raise ConversionError(
            f"{source} has model_type {found!r}; --to {to} converts a {wanted_from!r} checkpoint"
            + (" (it is already in that format)" if found in (LEGACY_MODEL_TYPE, NATIVE_MODEL_TYPE) else "")
        )
    rules = TO_NATIVE if to == "native" else TO_LEGACY
    kept = _kept_files(source, to)
    configs = kept or _translated_configs(config, _token_ids(source), to, source)  # checked before anything is written
    # Back to where it came from: the original files, and no record of a conversion.
    written = [] if kept else _keep_source_files(source, destination, to)
    written += _write_texts(configs, destination)
    written += _convert_weights(source, destination, rules)
    written += _copy_the_rest(source, destination)
    return written


def convert_adapter(source: Path, destination: Path, to: str) -> list[Path]:
    """A PEFT LoRA adapter: its weights renamed like the model's, ``target_modules`` listed by name."""
    from safetensors.torch import load_file, save_file

    rules = TO_NATIVE if to == "native" else TO_LEGACY
    weights_file = source / "adapter_model.safetensors"
    if not weights_file.is_file():
        raise ConversionError(f"{source} has no adapter_model.safetensors (convert needs safetensors weights)")
    prefix = "base_model.model."
    weights, modules = {}, set()
    for key, tensor in load_file(str(weights_file)).items():
        inner = key[len(prefix) :] if key.startswith(prefix) else key
        renamed = rename_key(inner, rules)
        _check_direction(inner, renamed, to, source)
        weights[prefix + renamed if key.startswith(prefix) else renamed] = tensor
        match = re.match(r"(.+?)\.(lora_[A-Za-z_]+|lora_magnitude_vector)\.", renamed)
        if match:
            modules.add(match.group(1))
    save_file(weights, str(destination / "adapter_model.safetensors"), metadata={"format": "pt"})
    written = [destination / "adapter_model.safetensors"]
    kept = _kept_files(source, to)
    if kept:
        written += _write_texts(kept, destination)
    else:
        written += _keep_source_files(source, destination, to)
        adapter_config = _read_json(source / "adapter_config.json")
        adapter_config["target_modules"] = sorted(modules)
        if adapter_config.get("modules_to_save"):
            adapter_config["modules_to_save"] = [
                rename_key(name + ".", rules)[:-1] for name in adapter_config["modules_to_save"]
            ]
        _write_json(destination / "adapter_config.json", adapter_config)
        written.append(destination / "adapter_config.json")
    return written + _copy_the_rest(source, destination, skip={"adapter_model.safetensors", "adapter_config.json"})


def _translated_configs(config: dict[str, Any], ids: dict[str, int], to: str, source: Path) -> dict[str, str]:
    """config.json (and, for native, generation_config.json) in the other format, as file texts."""
    if to == "legacy":
        return {"config.json": _json_text(native_to_legacy_config(config, ids))}
    native = legacy_to_native_config(config, ids)
    for name in ("audio_delay_token_id", "eos_token_id"):
        if native[name] >= native["vocab_size"]:
            raise ConversionError(
                f"the native config needs {name}, which the legacy config lacks, and the release's id "
                f"{native[name]} is outside this model's vocabulary ({native['vocab_size']}): save the model's "
                f"tokenizer into {source} (tokenizer.json) so its id can be read"
            )
    generation = {
        "bos_token_id": native["bos_token_id"],
        "eos_token_id": native["eos_token_id"],
        "pad_token_id": native["pad_token_id"],
        "ras_win_len": 7,
        "ras_win_max_num_repeat": 2,
    }
    return {"config.json": _json_text(native), "generation_config.json": _json_text(generation)}


def legacy_to_native_config(legacy: dict[str, Any], ids: dict[str, int]) -> dict[str, Any]:
    """The native config for a legacy one (every layer a dual-FFN layer, as the release has it).

    Raises:
        ConversionError: a legacy architecture the native port cannot express.
    """
    text = legacy.get("text_config") or {}
    layers = text.get("num_hidden_layers", 28)
    problems = []
    if legacy.get("audio_adapter_type") != "dual_ffn_fast_forward":
        problems.append(
            f"audio_adapter_type {legacy.get('audio_adapter_type')!r} (the native port is dual_ffn_fast_forward)"
        )
    if sorted(legacy.get("audio_dual_ffn_layers") or []) != list(range(layers)):
        problems.append("dual-FFN layers on only some layers (the native port has them on every layer)")
    if legacy.get("use_delay_pattern") is False:
        problems.append("no delay pattern (the native port always uses it)")
    if legacy.get("use_audio_out_self_attention"):
        problems.append("a separate audio-out self-attention")
    if problems:
        raise ConversionError("this legacy model cannot be expressed in the native port: " + "; ".join(problems))
    rope = {"rope_type": "default", "rope_theta": text.get("rope_theta", 10000.0)}
    if text.get("rope_scaling"):
        rope = {**text["rope_scaling"], "rope_theta": text.get("rope_theta", 10000.0)}
        rope["rope_type"] = rope.pop("type", rope.get("rope_type", "default"))
    hidden, heads = text.get("hidden_size", 4096), text.get("num_attention_heads", 32)
    return {
        "architectures": ["HiggsAudioV2ForConditionalGeneration"],
        "model_type": NATIVE_MODEL_TYPE,
        "vocab_size": text.get("vocab_size", 128256),
        "hidden_size": hidden,
        "intermediate_size": text.get("intermediate_size", 11008),
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": text.get("num_key_value_heads", heads),
        "head_dim": text.get("head_dim") or hidden // heads,
        "hidden_act": text.get("hidden_act", "silu"),
        "max_position_embeddings": text.get("max_position_embeddings", 2048),
        "initializer_range": text.get("initializer_range", 0.02),
        "rms_norm_eps": text.get("rms_norm_eps", 1e-6),
        "use_cache": True,
        "pad_token_id": legacy.get("pad_token_id"),
        "bos_token_id": text.get("bos_token_id"),
        "eos_token_id": ids.get("<|eot_id|>", RELEASE["eot_token_id"]),
        "tie_word_embeddings": False,
        "rope_parameters": rope,
        "attention_bias": text.get("attention_bias", False),
        "attention_dropout": text.get("attention_dropout", 0.0),
        "mlp_bias": text.get("mlp_bias", False),
        "pretraining_tp": text.get("pretraining_tp", 1),
        "num_codebooks": legacy["audio_num_codebooks"],
        "codebook_size": legacy["audio_codebook_size"] + 2,
        "audio_token_id": legacy["audio_out_token_idx"],
        "audio_bos_token_id": legacy["audio_out_bos_token_id"],
        "audio_delay_token_id": ids.get("<|reserved_special_token_6|>", RELEASE["audio_delay_token_id"]),
        "audio_stream_bos_id": legacy["audio_stream_bos_id"],
        "audio_stream_eos_id": legacy["audio_stream_eos_id"],
    }


def native_to_legacy_config(native: dict[str, Any], ids: dict[str, int]) -> dict[str, Any]:
    """A legacy config for a native one, as the release's legacy checkpoint is set up."""
    rope = dict(native.get("rope_parameters") or {})
    theta = rope.pop("rope_theta", 10000.0)
    rope_type = rope.pop("rope_type", "default")
    text_config: dict[str, Any] = {
        "model_type": "llama",
        **{
            key: native[key]
            for key in (
                "vocab_size",
                "hidden_size",
                "intermediate_size",
                "num_hidden_layers",
                "num_attention_heads",
                "num_key_value_heads",
                "head_dim",
                "hidden_act",
                "max_position_embeddings",
                "initializer_range",
                "rms_norm_eps",
                "attention_bias",
                "attention_dropout",
                "mlp_bias",
                "pretraining_tp",
            )
            if key in native
        },
        "rope_theta": theta,
        "rope_scaling": {**rope, "rope_type": rope_type} if rope_type != "default" else None,
        "bos_token_id": native.get("bos_token_id"),
        "eos_token_id": ids.get("<|end_of_text|>", native.get("pad_token_id")),
        "tie_word_embeddings": False,
    }
    return {
        "architectures": ["HiggsAudioModel"],
        "model_type": LEGACY_MODEL_TYPE,
        "text_config": text_config,
        "audio_adapter_type": "dual_ffn_fast_forward",
        "audio_dual_ffn_layers": list(range(native["num_hidden_layers"])),
        "audio_ffn_hidden_size": native["hidden_size"],
        "audio_ffn_intermediate_size": native["intermediate_size"],
        "audio_num_codebooks": native["num_codebooks"],
        "audio_codebook_size": native["codebook_size"] - 2,
        "audio_stream_bos_id": native["audio_stream_bos_id"],
        "audio_stream_eos_id": native["audio_stream_eos_id"],
        "audio_out_token_idx": native["audio_token_id"],
        "audio_out_bos_token_id": native["audio_bos_token_id"],
        "audio_in_token_idx": ids.get("<|AUDIO|>", RELEASE["audio_in_token_idx"]),
        "audio_eos_token_id": ids.get("<|audio_eos|>", RELEASE["audio_eos_token_id"]),
        "pad_token_id": native.get("pad_token_id"),
        "skip_audio_tower": True,
        "encode_whisper_embed": False,
        "encode_audio_in_tokens": True,
        "use_delay_pattern": True,
        "use_audio_out_self_attention": False,
    }


def _convert_weights(source: Path, destination: Path, rules: tuple[tuple[str, str], ...]) -> list[Path]:
    from safetensors.torch import load_file, save_file

    index_file = source / _INDEX
    shards = (
        sorted(set(_read_json(index_file)["weight_map"].values())) if index_file.is_file() else ["model.safetensors"]
    )
    if not (source / shards[0]).is_file():
        raise ConversionError(f"{source} has no safetensors weights (convert reads model.safetensors or its shards)")
    to = "native" if rules is TO_NATIVE else "legacy"
    written, weight_map = [], {}
    for shard in shards:
        weights = _rejoin_split_weights(load_file(str(source / shard)))
        renamed = {}
        for key, tensor in weights.items():
            if key.endswith(_DROPPED):
                continue
            new_key = rename_key(key, rules)
            _check_direction(key, new_key, to, source)
            renamed[new_key] = tensor
            weight_map[new_key] = shard
        save_file(renamed, str(destination / shard), metadata={"format": "pt"})
        written.append(destination / shard)
    if index_file.is_file():
        index = _read_json(index_file)
        index["weight_map"] = dict(sorted(weight_map.items()))
        _write_json(destination / _INDEX, index)
        written.append(destination / _INDEX)
    return written


def _rejoin_split_weights(weights: dict[str, Any]) -> dict[str, Any]:
    import torch

    for frozen, trainable in _SPLIT:
        for key in [k for k in weights if f".{frozen}." in k]:
            other = key.replace(f".{frozen}.", f".{trainable}.")
            weights[key.replace(f".{frozen}.", ".")] = torch.cat([weights.pop(key), weights.pop(other)], dim=0)
    return weights


def _check_direction(key: str, renamed: str, to: str, source: Path) -> None:
    # A key no rule renames is already in the target format: the folder was the wrong way round.
    native_looking = key.startswith(("model.", "audio_lm_head", "text_lm_head"))
    if (to == "native" and native_looking) or (to == "legacy" and not native_looking and key == renamed):
        raise ConversionError(f"{source} holds {key!r}, which is already in the {to} format")


def _keep_source_files(source: Path, destination: Path, to: str) -> list[Path]:
    """Record the source's config files as they are, to restore them when converting back."""
    source_format = "legacy" if to == "native" else "native"
    files = {name: (source / name).read_text(encoding="utf-8") for name in _CONFIG_FILES if (source / name).is_file()}
    _write_json(destination / SIDECAR, {"from": source_format, "files": files})
    return [destination / SIDECAR]


def _kept_files(source: Path, to: str) -> dict[str, str] | None:
    """The original files of the format ``to``, if ``source`` was converted from it."""
    kept = _read_json_or_none(source / SIDECAR)
    return kept["files"] if kept and kept.get("from") == to else None


def _write_texts(files: dict[str, str], destination: Path) -> list[Path]:
    for name, text in files.items():
        (destination / name).write_text(text, encoding="utf-8")
    return [destination / name for name in files]


def _token_ids(folder: Path) -> dict[str, int]:
    """Special-token ids from the tokenizer saved in ``folder``, if any."""
    tokenizer = folder / "tokenizer.json"
    if not tokenizer.is_file():
        return {}
    values = _read_json(tokenizer)
    return {entry["content"]: entry["id"] for entry in values.get("added_tokens", [])}


def _copy_the_rest(source: Path, destination: Path, skip: set[str] | None = None) -> list[Path]:
    converted = {"config.json", "generation_config.json", _INDEX, SIDECAR} | (skip or set())
    written = []
    for path in source.iterdir():
        if path.is_file() and path.name not in converted and not path.name.endswith(".safetensors"):
            shutil.copy2(path, destination / path.name)
            written.append(destination / path.name)
    return written


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConversionError(f"cannot read {path}: {exc}") from None


def _read_json_or_none(path: Path) -> Any:
    return _read_json(path) if path.is_file() else None


def _json_text(values: Any) -> str:
    return json.dumps(values, indent=2, sort_keys=True) + "\n"  # as transformers writes its configs


def _write_json(path: Path, values: Any) -> None:
    path.write_text(_json_text(values), encoding="utf-8")


def main(argv: list[str] | None = None, say: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kwarg_guard.recipes.higgs_audio.convert",
        description="Convert a Higgs Audio checkpoint or PEFT LoRA adapter between the legacy and native formats.",
    )
    parser.add_argument(
        "source", metavar="SRC", help="checkpoint folder (config.json + safetensors) or LoRA adapter folder"
    )
    parser.add_argument("destination", metavar="DST", help="where the converted files go")
    parser.add_argument("--to", required=True, choices=("native", "legacy"), help="the format to write")
    parser.add_argument("--force", action="store_true", help="write into a DST that is not empty")
    arguments = parser.parse_args(argv)
    try:
        written = convert(Path(arguments.source), Path(arguments.destination), arguments.to, arguments.force)
    except ConversionError as exc:
        sys.stderr.write(f"convert: {exc}\n")
        return 2
    say(f"wrote {len(written)} file(s) to {arguments.destination}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
