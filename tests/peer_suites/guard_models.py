"""pytest plugin (``-p guard_models``): every transformers model the session builds is guarded.

KWARG_GUARD_PEER_MODE picks the guard: ``off`` (no guard, the baseline), ``default`` (the
guard's own default, ``on_unknown`` not given), or an ``on_unknown`` value: ``warn``, ``drop``,
``raise``. KWARG_GUARD_PEER_COUNT names a file that gets the number of models guarded, so the
runner can tell a guarded run from one where the hook never fired.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

MODE = os.environ.get("KWARG_GUARD_PEER_MODE", "off")


def pytest_configure(config: pytest.Config) -> None:
    if MODE == "off":
        return
    from transformers import PreTrainedModel

    from kwarg_guard import guard_every

    options: dict[str, Any] = {} if MODE == "default" else {"on_unknown": MODE}
    config.stash[EVERY] = guard_every(PreTrainedModel, **options)


def pytest_unconfigure(config: pytest.Config) -> None:
    every = config.stash.get(EVERY, None)
    if every is None:
        return
    every.remove()
    count_file = os.environ.get("KWARG_GUARD_PEER_COUNT")
    if count_file:
        Path(count_file).write_text(str(every.count))


EVERY = pytest.StashKey[Any]()
