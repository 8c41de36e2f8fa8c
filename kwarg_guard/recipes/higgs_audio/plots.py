"""The loss curve: total, text and audio training loss against the step, as a PNG; beside it, when
the run scored generated speech (``--eval_generate``), the WER, CER and speaker similarity."""

from __future__ import annotations

from pathlib import Path

__all__ = ["QUALITY_METRICS", "plot_loss_curve"]

QUALITY_METRICS = ("eval_wer", "eval_cer", "eval_speaker_similarity")


def _plot(axis, log_history: list, keys: tuple, styles: tuple) -> bool:
    plotted = False
    for key, style in zip(keys, styles, strict=True):
        points = [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry]
        if points:
            steps, values = zip(*points, strict=False)
            axis.plot(steps, values, style, label=key, marker="o", markersize=3)
            plotted = True
    return plotted


def plot_loss_curve(log_history: list, path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines
    import matplotlib.pyplot as plt

    scored = any(key in entry for entry in log_history for key in QUALITY_METRICS)
    figure, axes = plt.subplots(1, 2 if scored else 1, figsize=(12 if scored else 7, 4), squeeze=False)
    axis = axes[0][0]
    _plot(axis, log_history, ("loss", "text_loss", "audio_loss"), ("-", "--", ":"))
    axis.set_xlabel("step")
    axis.set_ylabel("cross-entropy")
    axis.set_title("Higgs Audio fine-tuning loss")
    axis.grid(alpha=0.3)
    axis.legend()
    if scored:
        quality = axes[0][1]
        _plot(quality, log_history, QUALITY_METRICS, ("-", "--", ":"))
        quality.set_xlabel("step (0: the base model)")
        quality.set_title("generated speech (--eval_generate)")
        quality.grid(alpha=0.3)
        quality.legend()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
