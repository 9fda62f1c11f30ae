"""The report folder of an evaluation: metrics.json (JSON-safe) and its PNG plots."""
from __future__ import annotations

import logging

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfaudio.evaluation.metrics import _json_float
from tfaudio.io import outputs, plots

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# the report


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return _json_float(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    return x


def _as_array(m: Any) -> np.ndarray:
    return np.asarray([[np.nan if v is None else v for v in row] for row in m], np.float64)


def write_report(metrics: dict[str, Any], out_dir: str | os.PathLike, history_csv: str | os.PathLike | None = None,
                 examples: Sequence[Any] | None = None) -> list[Path]:
    """Write `metrics.json` and PNG plots to `out_dir` and list them in its manifest
    (`tfaudio.io.outputs.MANIFEST`); returns the written paths.

    Plots: "confusion_matrix.png" (single-label), "per_class_f1.png" (multi-label),
    "noise_matrix.png" and "leakage_matrix.png" (activations), "example_{i}.png" (reference vs
    predicted activations, for each of `examples`: (reference, predicted) pairs or dicts with those
    keys and an optional "title"), "training_curves.png" (from `history_csv`, when it exists).
    """
    out = outputs.output_dir(out_dir, "report folder")
    written: list[Path] = []
    text = json.dumps(_clean(metrics), indent=2, allow_nan=False) + "\n"
    written.append(outputs.write_text(out / "metrics.json", text))
    outputs.write_manifest(out, written, "evaluate")  # what tfaudio wrote here, and may replace
    classes = metrics.get("classes") or []
    task = metrics.get("task")
    if task == "single_label" and "confusion_matrix" in metrics:
        written.append(plots.plot_matrix(metrics["confusion_matrix"], classes, out / "confusion_matrix.png",
                                         title=f"confusion matrix (accuracy {metrics['accuracy']:.3f})"))
    if task == "multi_label" and "per_class_f1" in metrics:
        written.append(plots.plot_scores([metrics["per_class_f1"][c] for c in classes], classes,
                                         out / "per_class_f1.png",
                                         title=f"F1 per class (micro {metrics['f1_micro']:.3f}, "
                                               f"macro {metrics['f1_macro']:.3f})"))
    if task == "activation":
        rng = float(metrics.get("range_db", 60.0))
        for key, name, title in (("noise_matrix_db", "noise_matrix.png", "noise (dB)"),
                                 ("leakage_matrix_db", "leakage_matrix.png", "leakage (dB)")):
            if key in metrics:
                written.append(plots.plot_matrix(_as_array(metrics[key]), classes, out / name, title=title,
                                                 xlabel="predicted instrument", ylabel="instrument playing",
                                                 vmin=-rng, vmax=0.0, cmap="viridis"))
        hop_seconds = metrics.get("hop_length", 1024) / metrics.get("sr", 44100)
        for i, ex in enumerate(examples or []):
            if isinstance(ex, dict):
                ref, pred, title = ex["reference"], ex["predicted"], ex.get("title", f"example {i}")
            else:
                ref, pred = ex[0], ex[1]
                title = f"example {i}"
            written.append(plots.plot_activation_comparison(ref, pred, classes, out / f"example_{i}.png",
                                                            hop_seconds=hop_seconds, title=title, range_db=rng))
    if history_csv is not None:
        if Path(history_csv).is_file():
            written.append(plots.plot_history(history_csv, out / "training_curves.png"))
        else:
            log.warning("%s: no training history; training_curves.png not written", history_csv)
    outputs.write_manifest(out, written, "evaluate")
    return written
