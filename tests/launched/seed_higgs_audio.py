"""A user's training script that knows nothing of kwarg_guard: LoRA (PEFT CAUSAL_LM, as every
tutorial has it) around a tiny boson_multimodal HiggsAudioModel, trained by the stock Trainer.
PEFT passes ``labels=`` to a model that has no such parameter: it fails on the first step."""

import os
import sys

import torch
from boson_multimodal.model.higgs_audio import HiggsAudioConfig, HiggsAudioModel
from peft import LoraConfig, get_peft_model
from transformers import Trainer, TrainingArguments


class Sentences(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        ids = (torch.arange(16) * (index + 1)) % 200
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def next_token_loss(outputs, labels, num_items_in_batch=None):
    logits = outputs.logits[:, :-1].float()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


if __name__ == "__main__":
    torch.manual_seed(0)
    config = HiggsAudioConfig(
        text_config={
            "model_type": "llama",
            "vocab_size": 256,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
        },
        audio_adapter_type="dual_ffn_fast_forward",
        audio_dual_ffn_layers=[0, 1],
        skip_audio_tower=True,
        encode_whisper_embed=False,
        use_delay_pattern=True,
        audio_num_codebooks=4,
        audio_codebook_size=32,
        audio_stream_bos_id=32,
        audio_stream_eos_id=33,
        audio_in_token_idx=252,
        audio_out_token_idx=253,
        pad_token_id=255,
        audio_out_bos_token_id=251,
        audio_eos_token_id=250,
    )
    model = get_peft_model(
        HiggsAudioModel(config), LoraConfig(task_type="CAUSAL_LM", target_modules=["q_proj", "v_proj"], r=4)
    )
    args = TrainingArguments(
        output_dir=sys.argv[1],
        max_steps=4,
        per_device_train_batch_size=2,
        learning_rate=1e-2,
        use_cpu=True,
        ddp_backend="gloo" if "WORLD_SIZE" in os.environ else None,
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        remove_unused_columns=False,
        ddp_find_unused_parameters=False,
    )
    trainer = Trainer(model=model, args=args, train_dataset=Sentences(), compute_loss_func=next_token_loss)
    trainer.train()
    if trainer.is_world_process_zero():
        print(f"trained {trainer.state.global_step} steps")
