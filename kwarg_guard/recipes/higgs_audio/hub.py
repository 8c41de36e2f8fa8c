"""Which checkpoint and revision each backend loads, checked before anything heavy is loaded.

In April 2026 the hub repositories were rewritten in place to the transformers-native format
(``model_type: higgs_audio_v2``). boson_multimodal does not fail on such a config: it falls back to
its own defaults (12 codebooks, a 7B text config) and the run dies much later with nonsense. So
the legacy backend pins the last legacy snapshots, and every backend reads ``config.json`` first
and refuses a checkpoint of the other format in one line.
"""

from __future__ import annotations

from typing import Any

from .arguments import RecipeError

__all__ = ["apply_revision_defaults", "check_checkpoint", "checkpoint_model_type"]


def apply_revision_defaults(model_args: Any, backend: Any) -> None:
    """Fill in the revisions the user left out: the backend's defaults (the legacy snapshots)."""
    for option, revision in backend.default_revisions.items():
        setattr(model_args, option, getattr(model_args, option) or revision)
    model_args.tokenizer_revision = model_args.tokenizer_revision or (
        model_args.model_revision if model_args.tokenizer_name_or_path is None else None
    )


def checkpoint_model_type(name_or_path: str, revision: str | None) -> str | None:
    """``model_type`` of a checkpoint's config.json, reading nothing else.

    Raises:
        RecipeError: there is no readable config.json there.
    """
    from transformers import PretrainedConfig

    try:
        values, _ = PretrainedConfig.get_config_dict(name_or_path, revision=revision)
    except (OSError, ValueError) as exc:
        where = f"{name_or_path}" + (f" at revision {revision}" if revision else "")
        raise RecipeError(f"cannot read the config of {where}: {str(exc).splitlines()[0]}") from None
    return values.get("model_type")


def check_checkpoint(model_args: Any, backend: Any) -> None:
    """Refuse a checkpoint of the other format before anything is loaded.

    Raises:
        RecipeError: naming what was found, the pinned revision, and the other backend.
    """
    found = checkpoint_model_type(model_args.model_name_or_path, model_args.model_revision)
    if found != backend.model_type:
        where = model_args.model_name_or_path + (
            f" at revision {model_args.model_revision}" if model_args.model_revision else ""
        )
        raise RecipeError(backend.wrong_checkpoint(where, found))
