"""PNG plots for predictions and evaluation reports (matplotlib, Agg canvas, no display).

matplotlib is imported on first use. Figures are built as `matplotlib.figure.Figure` objects (no
pyplot state), saved to a temporary name and renamed into place. Every function returns the path.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import io

__all__ = ["plot_activations", "plot_activation_comparison", "plot_scores", "plot_matrix", "plot_history",
           "read_history"]


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: plotting only (matplotlib takes ~0.5 s to import)
    from matplotlib.figure import Figure  # lazy: plotting only (matplotlib takes ~0.5 s to import)

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike) -> Path:
    from tfaudio.io import outputs  # lazy: this module stays free of TensorFlow (light to import)

    path = Path(path)
    outputs.output_dir(path.parent)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return outputs.write_bytes(path, buf.getvalue())


def _activation_image(ax: Any, a: np.ndarray, classes: Sequence[str], hop_seconds: float,
                      title: str | None) -> Any:
    a = np.asarray(a, np.float32)
    n, t = a.shape
    extent = (0.0, t * hop_seconds, n - 0.5, -0.5)
    im = ax.imshow(a, aspect="auto", interpolation="nearest", origin="upper", extent=extent, vmin=0.0, vmax=1.0,
                   cmap="magma")
    ax.set_yticks(range(n))
    ax.set_yticklabels(list(classes))
    ax.set_xlabel("time (s)")
    if title:
        ax.set_title(title)
    return im


def _colorbar(fig: Any, im: Any, ax: Any, range_db: float | None) -> None:
    cb = fig.colorbar(im, ax=ax)
    if range_db:
        ticks = np.linspace(0, 1, 5)
        cb.set_ticks(ticks)
        cb.set_ticklabels([f"{(v - 1) * range_db:.0f} dB" for v in ticks])
    else:
        cb.set_label("activation")


def plot_activations(activations: Any, classes: Sequence[str], path: str | os.PathLike, hop_seconds: float,
                     title: str | None = None, range_db: float | None = 60.0) -> Path:
    """Activation matrix `(instruments, frames)` in [0, 1] as an image: class names on the y axis,
    time in seconds on the x axis, colour bar in dB (0 -> -`range_db`)."""
    a = np.asarray(activations)
    fig = _figure(min(4 + a.shape[1] / 40, 16), 1.2 + 0.35 * a.shape[0])
    ax = fig.add_subplot()
    im = _activation_image(ax, a, classes, hop_seconds, title)
    _colorbar(fig, im, ax, range_db)
    return _save(fig, path)


def plot_activation_comparison(reference: Any, predicted: Any, classes: Sequence[str], path: str | os.PathLike,
                               hop_seconds: float, title: str | None = None, range_db: float | None = 60.0) -> Path:
    """Reference (top) and predicted (bottom) activation matrices `(instruments, frames)`."""
    r, p = np.asarray(reference), np.asarray(predicted)
    fig = _figure(min(4 + r.shape[1] / 40, 16), 2.4 + 0.7 * r.shape[0])
    axes = fig.subplots(2, 1, sharex=True)
    _activation_image(axes[0], r, classes, hop_seconds, f"{title}: reference" if title else "reference")
    im = _activation_image(axes[1], p, classes, hop_seconds, "predicted")
    axes[0].set_xlabel("")
    _colorbar(fig, im, list(axes), range_db)
    return _save(fig, path)


def plot_scores(scores: Any, classes: Sequence[str], path: str | os.PathLike, title: str | None = None,
                threshold: float | None = None) -> Path:
    """Bar chart of clip scores `(classes,)`; `threshold` draws a line."""
    s = np.asarray(scores, np.float32)
    fig = _figure(max(4.0, 0.5 * len(s) + 2), 3.5)
    ax = fig.add_subplot()
    top = int(np.argmax(s)) if len(s) else -1
    colors = ["tab:orange" if i == top else "tab:blue" for i in range(len(s))]
    ax.bar(range(len(s)), s, color=colors)
    ax.set_xticks(range(len(s)))
    ax.set_xticklabels(list(classes), rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("score")
    if threshold is not None:
        ax.axhline(threshold, color="gray", linestyle="--", linewidth=1)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_matrix(matrix: Any, classes: Sequence[str], path: str | os.PathLike, title: str = "",
                xlabel: str = "predicted", ylabel: str = "true", fmt: str = "{:.0f}", vmin: float | None = None,
                vmax: float | None = None, cmap: str = "Blues", cols: Sequence[str] | None = None) -> Path:
    """A class × class matrix (confusion, noise, leakage) with its values written in the cells;
    NaN cells are left blank."""
    m = np.asarray(matrix, np.float64)
    cols = list(classes) if cols is None else list(cols)
    size = 2.5 + 0.6 * max(m.shape)
    fig = _figure(size + 1.5, size)
    ax = fig.add_subplot()
    masked = np.ma.masked_invalid(m)
    im = ax.imshow(masked, interpolation="nearest", cmap=cmap, vmin=vmin, vmax=vmax)
    fig.colorbar(im, ax=ax)
    ax.set_xticks(range(m.shape[1]))
    ax.set_xticklabels(cols, rotation=45, ha="right")
    ax.set_yticks(range(m.shape[0]))
    ax.set_yticklabels(list(classes))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    finite = m[np.isfinite(m)]
    lo = vmin if vmin is not None else (finite.min() if finite.size else 0.0)
    hi = vmax if vmax is not None else (finite.max() if finite.size else 1.0)
    mid = (lo + hi) / 2
    if m.size <= 400:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if math.isfinite(m[i, j]):
                    text = fmt.format(m[i, j])
                    if text.startswith("-") and not text.strip("-0."):
                        text = text[1:]  # no "-0"
                    ax.text(j, i, text, ha="center", va="center", fontsize=8,
                            color="white" if m[i, j] > mid else "black")
    return _save(fig, path)


def read_history(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A Keras CSVLogger file as {column: values} (non-numeric cells become NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    out = {}
    for key in rows[0]:
        vals = []
        for r in rows:
            try:
                vals.append(float(r[key]))
            except (TypeError, ValueError):
                vals.append(float("nan"))
        out[key] = np.asarray(vals)
    return out


def plot_history(history: str | os.PathLike | dict[str, Any], path: str | os.PathLike,
                 title: str | None = None) -> Path:
    """Training curves from history.csv: one panel per metric (`m` and `val_m` together), the
    learning rate on a log scale."""
    from matplotlib.ticker import MaxNLocator  # lazy: plotting only (matplotlib takes ~0.5 s to import)

    h = read_history(history) if not isinstance(history, dict) else {k: np.asarray(v, float)
                                                                       for k, v in history.items()}
    epochs = h.pop("epoch", None)
    lr = None
    for key in ("learning_rate", "lr"):
        if key in h:
            lr = h.pop(key)
    bases = [k for k in h if not k.startswith("val_")]
    bases += [k[4:] for k in h if k.startswith("val_") and k[4:] not in h]
    panels = [(b, [k for k in (b, f"val_{b}") if k in h]) for b in bases]
    if lr is not None:
        panels.append(("learning rate", []))
    n = max(1, len(panels))
    ncols = min(3, n)
    nrows = -(-n // ncols)
    fig = _figure(4.2 * ncols, 3.0 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    length = len(next(iter(h.values()))) if h else (len(lr) if lr is not None else 0)
    x = (epochs + 1) if epochs is not None else np.arange(1, length + 1)
    for ax, (name, keys) in zip(axes, panels):
        if name == "learning rate":
            ax.plot(x, lr, color="tab:green")
            if np.all(lr[np.isfinite(lr)] > 0):
                ax.set_yscale("log")
        for k in keys:
            ax.plot(x, h[k], marker="." if len(x) < 30 else None, label=k)
        if keys:
            ax.legend()
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
