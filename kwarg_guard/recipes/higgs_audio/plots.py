"""The loss curve: total, text and audio training loss against the step, as a PNG."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_loss_curve"]


def plot_loss_curve(log_history: list, path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for key, style in (("loss", "-"), ("text_loss", "--"), ("audio_loss", ":")):
        points = [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry]
        if points:
            steps, values = zip(*points, strict=False)
            axis.plot(steps, values, style, label=key, marker="o", markersize=3)
    axis.set_xlabel("step")
    axis.set_ylabel("cross-entropy")
    axis.set_title("Higgs Audio fine-tuning loss")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
