"""Reports what a DataLoader worker started with spawn sees: the preset guarding its class once the
worker imports the library."""

import sys

import torch


class Probe(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, index):
        import peft.tuners.tuners_utils  # noqa: F401  (the import installs the preset)

        installed = sys.modules.get("kwarg_guard")
        if installed is None:
            return "kwarg_guard not loaded"
        return ",".join(f"{name} on {i.guarded.__name__}" for name, i in sorted(installed.installed().items()))


def first(batch):
    return batch[0]


if __name__ == "__main__":
    loader = torch.utils.data.DataLoader(Probe(), num_workers=1, multiprocessing_context="spawn", collate_fn=first)
    print(f"worker saw: {next(iter(loader))}")
