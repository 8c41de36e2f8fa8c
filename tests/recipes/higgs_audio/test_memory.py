"""The memory estimate's measurement: allocations counted once each, and what the backward needs
shrinking under activation checkpointing, on this stack's backend."""

import torch

from kwarg_guard.recipes.higgs_audio.memory import allocations, measure_step
from tests.helpers.higgs_audio import BACKEND

MIB = 2**20


class TestAllocations:
    def test_counts_what_is_kept_and_the_peak_once_each(self):
        def step():
            scratch = torch.ones(MIB)  # 4 MiB, freed at the end of the step
            (scratch * 2).sum()  # another 4 MiB while the scratch is alive
            return torch.empty(MIB // 4)  # 1 MiB, kept

        kept, memory = allocations(step)
        assert kept.numel() == MIB // 4
        assert memory.held == MIB  # exactly the kept tensor: nothing counted twice, nothing missed
        assert 8 * MIB <= memory.peak < 9 * MIB  # the scratch tensor and its product, together


class TestMeasureStep:
    def test_checkpointing_holds_less_for_the_backward(self):
        config, _ = BACKEND.config_and_tokenizer(None, demo=True)
        plain = measure_step(BACKEND, config, seq_len=256, batch_size=2, checkpointing=False)
        checkpointed = measure_step(BACKEND, config, seq_len=256, batch_size=2, checkpointing=True)
        assert 0 < checkpointed.held < plain.held
        assert plain.peak >= plain.held
