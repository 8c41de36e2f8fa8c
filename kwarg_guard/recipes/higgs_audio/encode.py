"""Fill the code cache once, before a distributed launch: ``python -m
kwarg_guard.recipes.higgs_audio.encode`` with the training run's own options (its YAML file and
command line) encodes every WAV the run would, and exits without loading the model.

    python -m kwarg_guard.recipes.higgs_audio.encode run.yaml --audio_tokenizer_device cuda
    torchrun --nproc_per_node 8 -m kwarg_guard.recipes.higgs_audio run.yaml   # finds every clip cached

Inside a launch, the main process encodes while the other ranks wait at a barrier
(``TrainingArguments.main_process_first``) and then read the cache; encoding a large corpus there
holds every GPU but one idle, and a long wait can outlast the process group's timeout.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .arguments import RecipeError, parse_arguments
from .backend import choose_backend
from .data import check_data_arguments, load_run_data
from .demo_audio import prepare_demo_audio
from .hub import apply_revision_defaults

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    model_args, data_args, _, recipe_args, training_args = parse_arguments(argv)
    backend = choose_backend(model_args.backend)
    apply_revision_defaults(model_args, backend)
    output_dir = Path(training_args.output_dir)
    prepare_demo_audio(backend, model_args, data_args, recipe_args, output_dir)
    check_data_arguments(data_args, recipe_args)
    # The config says how many codebooks of what size the clips must encode to (checked per clip).
    config, tokenizer = backend.config_and_tokenizer(model_args, recipe_args.demo)
    data = load_run_data(backend, data_args, model_args, training_args, config, tokenizer, output_dir)
    clips = len(data.train) + (len(data.eval) if data.eval is not None else 0)
    print(f"{clips} utterance(s) ready: their codes are in the code cache")
    return 0


def cli(argv: list[str] | None = None) -> int:
    try:
        return main(argv)
    except (RecipeError, ImportError) as exc:
        sys.stderr.write(f"higgs_audio.encode: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(cli())
