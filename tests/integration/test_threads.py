"""Concurrent calls never see a half-installed patch while layers come and go."""

import threading
import time

import torch

from kwarg_guard import guard, patched
from tests.helpers import guard_state


def test_concurrent_calls_while_layers_are_added_and_removed(labeled, x):
    # A permanent guard drops anything unknown; blocks that remap labels come and go. Every call
    # must end either remapped (label 7 arrives) or dropped (plain output), never with an error
    # or a mixture, whatever the moment.
    guard(labeled)
    expected_plain = labeled.linear(x)
    errors, outcomes = [], {"remapped": 0, "dropped": 0}
    stop = threading.Event()

    def caller():
        while not stop.is_set():
            try:
                for call in (labeled, labeled.forward):
                    result = call(x, labels=7, junk=1)
                    if isinstance(result, tuple):
                        assert result[1] == 7
                        outcomes["remapped"] += 1
                    else:
                        assert torch.equal(result, expected_plain)
                        outcomes["dropped"] += 1
            except Exception as exc:
                errors.append(exc)
                return

    def toggler():
        # At least 300 rounds, and on until the callers have seen both states (the scheduler
        # decides when they run).
        deadline = time.monotonic() + 60
        rounds = 0
        while rounds < 300 or (not (outcomes["remapped"] and outcomes["dropped"]) and time.monotonic() < deadline):
            with patched(labeled, remap={"labels": "label_ids"}):
                with patched(labeled, drop=["attention_mask"]):
                    time.sleep(0)
            rounds += 1
        stop.set()

    threads = [threading.Thread(target=caller) for _ in range(3)] + [threading.Thread(target=toggler)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[0]
    assert outcomes["remapped"] > 0 and outcomes["dropped"] > 0
    assert [layer.kind for layer in guard_state(labeled).layers] == ["guard"]
