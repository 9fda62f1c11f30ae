"""Writing a `Prediction` to files: `prediction_files`, `write_prediction` (imported by `tfaudio.cli`).

Every file goes through `tfaudio.outputs` (a temporary name, then a rename); plots through `tfaudio.plots`.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from tfaudio import outputs
from tfaudio.inference.predict import Prediction


def prediction_files(result: Prediction, out_dir: str | os.PathLike, stem: str, plot: bool = False) -> list[Path]:
    """The paths `write_prediction` writes."""
    out = Path(out_dir)
    names = [f"{stem}.npy", f"{stem}.csv"] if result.activations is not None else [f"{stem}.json"]
    return [out / n for n in names + ([f"{stem}.png"] if plot else [])]


def write_prediction(result: Prediction, out_dir: str | os.PathLike, stem: str, plot: bool = False,
                     overwrite: bool = False) -> list[Path]:
    """Write a prediction; returns the written paths. An existing file is replaced only with `overwrite`
    (else `OutputError`, before anything is written).

    Activation runs: `{stem}.npy` float32 `(instruments, frames)` and `{stem}.csv` (header
    ``time,<class>,...``; one row per frame, time in seconds). Clip runs: `{stem}.json` (class scores,
    top class "label", multi-label: "active" classes over the threshold). `plot`: `{stem}.png` (the
    activation matrix over time, or a bar chart of the clip scores). Each file is written to a
    temporary name and renamed into place.
    """
    out = outputs.output_dir(out_dir)
    if not overwrite:
        for path in prediction_files(result, out, stem, plot):
            if path.exists():
                raise outputs.OutputError(f"{path}: exists; not overwritten (pass --overwrite to replace it)")
    written: list[Path] = []
    if result.activations is not None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(result.activations, np.float32))
        written.append(outputs.write_bytes(out / f"{stem}.npy", buf.getvalue()))
        text = io.StringIO()
        w = csv.writer(text, lineterminator="\n")
        w.writerow(["time", *result.classes])
        for t, row in zip(result.frame_times, result.activations.T):
            w.writerow([f"{t:.6f}", *(f"{v:.6f}" for v in row)])
        written.append(outputs.write_text(out / f"{stem}.csv", text.getvalue()))
    else:
        data = result.to_dict()
        written.append(outputs.write_text(out / f"{stem}.json", json.dumps(data, indent=2) + "\n"))
    if plot:
        from tfaudio import plots

        png = out / f"{stem}.png"
        title = os.path.basename(result.source) if result.source else stem
        if result.activations is not None:
            plots.plot_activations(result.activations, result.classes, png, hop_seconds=result.hop_length / result.sr,
                                   title=title)
        else:
            plots.plot_scores(result.scores, result.classes, png, title=title,
                              threshold=result.threshold if result.task == "multi_label" else None)
        written.append(png)
    return written
