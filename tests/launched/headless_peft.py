"""A user's training script that knows nothing of kwarg_guard: LoRA (PEFT CAUSAL_LM) around a
model with no ``labels`` parameter, trained by the stock Trainer. PEFT passes ``labels=`` to
it anyway: it fails on the first step."""

import os
import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import PretrainedConfig, Trainer, TrainingArguments


class TinyLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.config = PretrainedConfig()
        self.embed = torch.nn.Embedding(32, 16)
        self.proj = torch.nn.Linear(16, 16)
        self.head = torch.nn.Linear(16, 32)

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        inputs_embeds=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
    ):
        return {"logits": self.head(torch.tanh(self.proj(self.embed(input_ids))))}

    def prepare_inputs_for_generation(self, *args, **kwargs):
        return kwargs


class Sequences(torch.utils.data.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        ids = (torch.arange(10) + index) % 32
        return {"input_ids": ids, "labels": ids}


def next_token_loss(outputs, labels, num_items_in_batch=None):
    logits = outputs["logits"][:, :-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


if __name__ == "__main__":
    torch.manual_seed(0)
    model = get_peft_model(TinyLM(), LoraConfig(task_type="CAUSAL_LM", target_modules=["proj"], r=4))
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
    )
    trainer = Trainer(model=model, args=args, train_dataset=Sequences(), compute_loss_func=next_token_loss)
    trainer.train()
    if trainer.is_world_process_zero():
        print(f"trained {trainer.state.global_step} steps")
