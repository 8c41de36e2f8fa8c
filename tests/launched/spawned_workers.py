"""Reports what a DataLoader worker started with spawn sees: which presets are installed in it."""

import sys

import torch


class Probe(torch.utils.data.Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, index):
        installed = sys.modules.get("kwarg_guard")
        return ",".join(sorted(installed.installed())) if installed else "kwarg_guard not loaded"


def first(batch):
    return batch[0]


if __name__ == "__main__":
    loader = torch.utils.data.DataLoader(Probe(), num_workers=1, multiprocessing_context="spawn", collate_fn=first)
    print(f"worker saw: {next(iter(loader))}")
