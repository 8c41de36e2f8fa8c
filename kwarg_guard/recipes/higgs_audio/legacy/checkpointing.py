"""Activation checkpointing of HiggsAudioModel's LLM layers.

The official model never checkpoints them: ``gradient_checkpointing_enable()`` reaches only the
Whisper tower (and fails when the tower is skipped). Wrapping the layers in another module
(``checkpoint_wrapper``) silently changes the model, because ``_forward_core`` dispatches on
``isinstance(layer, HiggsAudioDualFFNDecoderLayer)`` and a wrapped layer loses its audio path.

So each layer keeps its class and gets an instance ``forward`` that runs the original under
non-reentrant ``torch.utils.checkpoint``. Loss and gradients equal the unchecked model's (a test
compares them); only memory and time change.
"""

from __future__ import annotations

import functools

import torch
from torch.utils.checkpoint import checkpoint

__all__ = ["checkpoint_llm_layers", "is_checkpointed"]

_MARK = "_kwarg_guard_checkpointed"


def _checkpointed(original, *args, **kwargs):
    if torch.is_grad_enabled():
        return checkpoint(original, *args, use_reentrant=False, **kwargs)
    return original(*args, **kwargs)


def checkpoint_llm_layers(model) -> int:
    """Checkpoint every decoder layer of a HiggsAudioModel (idempotent); returns how many."""
    count = 0
    for layer in model.layers:
        if getattr(layer, _MARK, False):
            continue
        original = layer.forward
        layer.forward = functools.update_wrapper(functools.partial(_checkpointed, original), original)
        setattr(layer, _MARK, True)
        count += 1
    return count


def is_checkpointed(model) -> bool:
    return all(getattr(layer, _MARK, False) for layer in model.layers)
