"""What the tests share that is not a fixture: the stack the suite runs on, tiny real modules,
and small readers of a guard's state. Imported as ``tests.helpers``; the fixtures are in the
conftest files.

envs/run.py runs the suite once per transformers stack; ``STACK`` says which, so tests that
only make sense on one of them skip on the other with the reason spelled out.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import transformers

ROOT = Path(__file__).resolve().parents[2]

TRANSFORMERS_MAJOR = int(transformers.__version__.split(".")[0])
STACK = os.environ.get("KWARG_GUARD_STACK", "4.46" if TRANSFORMERS_MAJOR < 5 else "5")
HAS_BOSON = importlib.util.find_spec("boson_multimodal") is not None

needs_boson = pytest.mark.skipif(
    not HAS_BOSON,
    reason="boson_multimodal needs transformers<4.47; it is installed on the 4.46 stack only",
)
HAS_TORCHAUDIO = importlib.util.find_spec("torchaudio") is not None
# A real audio tokenizer: envs/run.py runs these on the -audio stacks (torch 2.9.1 with torchaudio)
# and the other stacks skip them, naming the stack that runs them.
needs_torchaudio = [
    pytest.mark.audio,
    pytest.mark.skipif(
        not HAS_TORCHAUDIO,
        reason=f"needs torchaudio, which has no build for this stack's torch; runs on the {STACK.removesuffix('-audio')}"
        f"-audio stack (python envs/run.py test --stack {STACK.removesuffix('-audio')}-audio)",
    ),
]


def audio_test(test):
    """``needs_torchaudio`` for one test rather than a whole module or class."""
    for mark in needs_torchaudio:
        test = mark(test)
    return test


only_transformers_4 = pytest.mark.skipif(TRANSFORMERS_MAJOR >= 5, reason="checks transformers 4.x behaviour")
only_transformers_5 = pytest.mark.skipif(TRANSFORMERS_MAJOR < 5, reason="checks transformers 5 behaviour")


def stack_python(name: str) -> str:
    """The Python of another stack's environment, for tests that cross the two ports (envs/run.py
    builds every stack before testing any and says where they are)."""
    import json

    pythons = json.loads(os.environ.get("KWARG_GUARD_STACK_PYTHONS", "{}"))
    if name not in pythons:
        pytest.skip(f"needs the {name} stack's Python beside this one; run the suite with python envs/run.py test")
    return pythons[name]


class Labeled(torch.nn.Module):
    """A forward with no **kwargs that names label_ids, like HiggsAudioModel."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x, attention_mask=None, label_ids=None):
        out = self.linear(x)
        if attention_mask is not None:
            out = out * attention_mask
        return out if label_ids is None else (out, label_ids)


class Forwarder(torch.nn.Module):
    """Only hands ``*args, **kwargs`` on: a pure pass-through wrapper, never the origin of a keyword."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        return self.inner(*args, **kwargs)


class Outer(torch.nn.Module):
    """A wrapper that injects labels=None into the module it holds, the way PEFT's task models do."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x, labels=None, **kwargs):
        return self.inner(x, labels=labels, **kwargs)


class Headless(torch.nn.Module):
    """A model with no ``labels`` parameter and no **kwargs, like HiggsAudioModel: PEFT's
    CAUSAL_LM wrapper passes it ``labels=`` anyway."""

    def __init__(self):
        from transformers import PretrainedConfig

        super().__init__()
        self.config = PretrainedConfig()
        self.embed = torch.nn.Embedding(16, 4)
        self.proj = torch.nn.Linear(4, 4)

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        inputs_embeds=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        label_ids=None,
    ):
        out = self.proj(self.embed(input_ids))
        return out if label_ids is None else (out, label_ids)

    def prepare_inputs_for_generation(self, *args, **kwargs):
        return kwargs


def peft_causal_lm(model):
    """``model`` inside PEFT's CAUSAL_LM wrapper with LoRA on its ``proj``/``linear`` layers."""
    from peft import LoraConfig, get_peft_model

    targets = [name for name in ("proj", "linear") if hasattr(model, name)]
    return get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", target_modules=targets, r=2))


def guard_state(module):
    """The GuardedForward state behind a module's guarded forward (None when unguarded)."""
    from kwarg_guard._guarded import GuardedForward, state_of

    state = state_of(vars(module).get("forward"))
    return state if isinstance(state, GuardedForward) else None


def plain_attributes(module) -> dict:
    """A module's __dict__ as key -> object identity, to compare exact restores."""
    return {key: id(value) for key, value in vars(module).items()}


def cpu_training_args(output_dir, **options):
    """The Trainer's arguments for a few steps on the CPU that report to nothing and save nothing."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        dataloader_pin_memory=False,
        **options,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun(script, *arguments) -> list:
    """The command that runs ``script`` as two local torchrun processes on a free port."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        free_port(),
        script,
        *arguments,
    ]


def distribution(site, name, entry_points, modules):
    """Lay out an installed distribution the way pip does: a dist-info folder and its modules."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[kwarg_guard.presets]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    )
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
