"""Writing a `Prediction` to files: `prediction_files`, `write_prediction` (imported by `tfaudio.cli`).

One input's files go through `tfaudio.io.outputs.file_set` (a temporary folder, then one swap with the folder's
manifest); plots through `tfaudio.io.plots`.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from tfaudio.io import outputs
from tfaudio.inference.predict import Prediction


def prediction_files(result: Prediction, out_dir: str | os.PathLike, stem: str, plot: bool = False) -> list[Path]:
    """The paths `write_prediction` writes."""
    out = Path(out_dir)
    names = [f"{stem}.npy", f"{stem}.csv"] if result.activations is not None else [f"{stem}.json"]
    return [out / n for n in names + ([f"{stem}.png"] if plot else [])]


#: The suffixes of the files one input's prediction may have (`file_set`'s family: an earlier set's members).
SUFFIXES = (".npy", ".csv", ".json", ".png")


def write_prediction(result: Prediction, out_dir: str | os.PathLike, stem: str, plot: bool = False,
                     overwrite: bool = False) -> list[Path]:
    """Write a prediction; returns the written paths. An existing file is replaced only with `overwrite`
    and only when the folder's manifest (`tfaudio.io.outputs.MANIFEST`) says tfaudio wrote it (else
    `OutputError` naming it, before anything is written).

    Activation runs: `{stem}.npy` float32 `(instruments, frames)` and `{stem}.csv` (header
    ``time,<class>,...``; one row per frame, time in seconds). Clip runs: `{stem}.json` (class scores,
    top class "label", multi-label: "active" classes over the threshold). `plot`: `{stem}.png` (the
    activation matrix over time, or a bar chart of the clip scores). The whole set is written to a
    temporary folder and swapped in with the manifest (`outputs.file_set`): the folder holds the old set
    or the new one, never a mix; with `overwrite`, an earlier set's other listed files go with it.
    """
    out = outputs.output_dir(out_dir)
    names = [p.name for p in prediction_files(result, out, stem, plot)]
    with outputs.file_set(out, names, overwrite=overwrite, family=[stem + s for s in SUFFIXES],
                          what="predict") as tmp:
        if result.activations is not None:
            np.save(tmp / f"{stem}.npy", np.asarray(result.activations, np.float32), allow_pickle=False)
            with open(tmp / f"{stem}.csv", "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(["time", *result.classes])
                for t, row in zip(result.frame_times, result.activations.T):
                    w.writerow([f"{t:.6f}", *(f"{v:.6f}" for v in row)])
        else:
            (tmp / f"{stem}.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
        if plot:
            from tfaudio.io import plots

            png = tmp / f"{stem}.png"
            title = os.path.basename(result.source) if result.source else stem
            if result.activations is not None:
                plots.plot_activations(result.activations, result.classes, png,
                                       hop_seconds=result.hop_length / result.sr, title=title)
            else:
                plots.plot_scores(result.scores, result.classes, png, title=title,
                                  threshold=result.threshold if result.task == "multi_label" else None)
    return [out / n for n in names]
