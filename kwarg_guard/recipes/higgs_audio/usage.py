"""``--help`` and ``--help-all``: the recipe's own options first, with what it does, examples and
the manifest format; the Trainer's several hundred lines of options only under ``--help-all``."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["HELP_FLAGS", "recipe_help"]

HELP_FLAGS = ("-h", "--help", "--help-all")
PROG = "python -m kwarg_guard.recipes.higgs_audio"

DESCRIPTION = """\
Fine-tune Higgs Audio v2 with LoRA (or fully) and the stock Hugging Face Trainer, on the legacy
port (boson_multimodal, transformers 4.46) or the native one (transformers 5), guarded by
kwarg_guard's preset for that port. Options come from the command line, a YAML/JSON file given
first, or both (the command line wins). Every option can also be spelt with hyphens (--lora-r)."""

EPILOG = f"""\
examples:
  # the CPU demo: a tiny random model and synthetic data, nothing downloaded
  {PROG} --demo --output_dir demo-output
  # LoRA on your own data, one GPU
  {PROG} --train_manifest clips/manifest.jsonl \\
      --output_dir runs/my-voice --per_device_train_batch_size 2 --gradient_accumulation_steps 8 \\
      --learning_rate 1e-4 --num_train_epochs 3 --torch_dtype bfloat16 --llm_gradient_checkpointing
  # the options in a file (option names as keys), one of them overridden; then on 8 GPUs
  {PROG} run.yaml --learning_rate 5e-5
  torchrun --nproc_per_node 8 -m kwarg_guard.recipes.higgs_audio run.yaml

the manifest (--train_manifest, --eval_manifest): JSON Lines, UTF-8, one utterance a line,
paths relative to the manifest's folder:
  {{"text": "Words to say.", "audio": "clips/0001.wav"}}
  {{"text": "Words to say.", "audio_codes": "codes/0002.npy"}}
  {{"text": "...", "audio": "a.wav", "scene": "Recorded in a quiet room.", "speaker": "a low voice"}}
  {{"text": "...", "audio": "b.wav", "ref_audio": "ref.wav", "ref_text": "What the reference says."}}
write one for a folder of name.wav + name.txt pairs with:
  python -m kwarg_guard.recipes.higgs_audio.manifest clips/

the Trainer's options (TrainingArguments) are accepted too: --output_dir, --learning_rate,
--num_train_epochs, --max_steps, --per_device_train_batch_size, --gradient_accumulation_steps,
--save_steps, --resume_from_checkpoint, --eval_strategy, --bf16, --seed, ...;
{{all_options}}"""

# What fits a terminal; argparse would otherwise wrap at 80 columns when not writing to one.
WIDTH = 100


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Each option once, by its underscore name, with a short placeholder for its value."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=WIDTH, max_help_position=34)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings:
            return super()._format_action_invocation(action)
        option = action.option_strings[-1] if action.option_strings[0] == "-h" else action.option_strings[0]
        if action.nargs == 0:
            return ", ".join(action.option_strings) if option == "--help" else option
        if action.nargs == "?":
            return f"{option} [true|false]"
        if action.choices and not _listed_in_help(action):
            return f"{option} {{{','.join(map(str, action.choices))}}}"
        if action.choices:
            return f"{option} NAME"
        placeholder = {int: "N", float: "X"}.get(action.type, "VALUE")  # type: ignore[call-overload]
        return f"{option} {placeholder}" if action.nargs is None else f"{option} {placeholder} ..."

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if _listed_in_help(action):
            return f"{action.help or ''} (one of: {', '.join(map(str, action.choices or ()))})".lstrip()
        return action.help


def _listed_in_help(action: argparse.Action) -> bool:
    """Long lists of choices go into the help text, which wraps, instead of the option's line."""
    return bool(action.choices) and len(",".join(map(str, action.choices or ()))) > 40


GROUPS = {
    "ModelArguments": "model",
    "DataArguments": "data",
    "LoraArguments": "LoRA",
    "RecipeArguments": "recipe: the demo, the loss, the sample generated after training, the benchmark",
}


def recipe_help(dataclasses: tuple[type, ...], all_options: bool) -> str:
    """The help text; with ``all_options`` the Trainer's options follow the recipe's."""
    from transformers import HfArgumentParser, TrainingArguments
    from transformers.hf_argparser import DataClassType

    titled = {cls: GROUPS[cls.__name__] for cls in dataclasses}
    if all_options:
        titled[TrainingArguments] = "training: the Trainer's TrainingArguments"
    # Subclasses only to title the groups: HfArgumentParser groups by this attribute.
    grouped = [
        DataClassType(type(cls.__name__, (cls,), {"_argument_group_name": title})) for cls, title in titled.items()
    ]
    more = "all of them are listed above." if all_options else "--help-all lists all of them with their help."
    parser: Any = HfArgumentParser(
        grouped,
        prog=PROG,
        usage=f"{PROG} [config.yaml | config.json] [--option value ...]",
        description=DESCRIPTION,
        epilog=EPILOG.replace("{all_options}", more),
        formatter_class=_Formatter,
        add_help=False,
    )
    help_group = parser.add_argument_group("help")
    help_group.add_argument("-h", "--help", action="store_true", help="this help: the recipe's own options")
    help_group.add_argument("--help-all", action="store_true", help="also every option of the Trainer")
    return parser.format_help()
