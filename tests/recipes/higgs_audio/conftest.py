"""The Higgs Audio recipe's fixtures, on the demo data; the functions they are built from are in
tests/helpers/higgs_audio.py."""

from __future__ import annotations

import pytest

from tests.helpers.higgs_audio import BACKEND, demo_dataset, tiny_parts


@pytest.fixture
def recipe(tmp_path):
    """(config, tokenizer, dataset, collator) of this stack's backend."""
    config, tokenizer, dataset = demo_dataset(tmp_path / "data")
    return config, tokenizer, dataset, BACKEND.collator(config)


@pytest.fixture
def higgs(tmp_path):
    """(config, tokenizer, dataset, batcher, batch of 4) of the legacy port; its tests need boson_multimodal."""
    config, tokenizer, dataset, batcher = tiny_parts(tmp_path / "data")
    return config, tokenizer, dataset, batcher, batcher([dataset[i] for i in range(4)])
