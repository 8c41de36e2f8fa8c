"""The legacy (transformers 4.46 + boson_multimodal) side of the conversion tests, run as a
subprocess with that stack's Python.

    legacy_side.py make FOLDER   # tiny legacy checkpoint, LoRA adapter, and their logits
    legacy_side.py load FOLDER   # load FOLDER/checkpoint (and FOLDER/adapter, if any) and give logits

Logits are computed on one utterance (``FOLDER/inputs.pt``: prompt ids and codes), in eval mode.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch


def logits(model, inputs):
    from kwarg_guard.recipes.higgs_audio.legacy.data import HiggsAudioBatcher, make_collator, sample_from_prompt
    from kwarg_guard.recipes.higgs_audio.prompts import Prompt

    prompt = Prompt(inputs["input_ids"], None, tuple(inputs["trained"]))
    sample = sample_from_prompt(prompt, [np.asarray(c) for c in inputs["codes"]])
    batch = HiggsAudioBatcher(make_collator(model.config, for_generation=True))([sample])
    with torch.no_grad():
        # use_cache=True: the merge then adds no round-to-8 padding, so positions match the native port's.
        out = model.eval()(**batch, use_cache=True)
    return {"text": out.logits[0].float(), "audio": out.audio_logits.float()}


def make(folder: Path):
    from peft import LoraConfig, get_peft_model

    from kwarg_guard import guard
    from kwarg_guard.recipes.higgs_audio.finetune import lora_target_regex
    from kwarg_guard.recipes.higgs_audio.legacy.model import LORA_TARGETS
    from kwarg_guard.recipes.higgs_audio.prompts import build_prompt
    from kwarg_guard.recipes.higgs_audio.tiny import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    model = tiny_model(3)
    model.save_pretrained(folder / "checkpoint")
    tokenizer.save_pretrained(folder / "checkpoint")
    reference = np.arange(24).reshape(4, 6) % 32
    target = (np.arange(28).reshape(4, 7) * 5) % 32
    prompt = build_prompt(tokenizer, "Hello there.", "A quiet room.", "a low voice", "Earlier words.")
    inputs = {
        "input_ids": prompt.input_ids,
        "trained": list(prompt.trained_segments),
        "codes": [reference.tolist(), target.tolist()],
    }
    torch.save(inputs, folder / "inputs.pt")
    torch.manual_seed(4)
    peft_model = get_peft_model(
        tiny_model(3),
        LoraConfig(
            task_type="CAUSAL_LM",
            r=4,
            init_lora_weights=False,
            target_modules=lora_target_regex("attention,mlp,audio_ffn,heads", LORA_TARGETS),
        ),
    )
    peft_model.save_pretrained(folder / "adapter")
    guard(peft_model, preset="higgs_audio")
    torch.save(
        {"plain": logits(model, inputs), "adapter": logits(peft_model.get_base_model(), inputs)},
        folder / "legacy_logits.pt",
    )


def load(folder: Path):
    from boson_multimodal.model.higgs_audio import HiggsAudioModel

    model, info = HiggsAudioModel.from_pretrained(folder / "checkpoint", output_loading_info=True)
    info = {key: sorted(map(str, value)) for key, value in info.items()}
    (folder / "loading_info.json").write_text(json.dumps(info))
    inputs = torch.load(folder / "inputs.pt")
    torch.save({"plain": logits(model, inputs)}, folder / "legacy_logits.pt")


if __name__ == "__main__":
    action, folder = sys.argv[1], Path(sys.argv[2])
    {"make": make, "load": load}[action](folder)
