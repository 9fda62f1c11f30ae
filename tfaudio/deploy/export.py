"""`export(MODEL, OUT, fmt)`: one model, any saved form in, one deployable form out; and the .keras writer.

    tfaudio export RUN --format {savedmodel,tflite,onnx,keras} --out PATH [--quantize none|float16|dynamic|int8]

The forms are written by `savedmodel`, `tflite`, `onnx` and here (.keras); what they share (output checks,
the window function, the check against Keras) is `writing`; what travels inside them is `metadata`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tfaudio.errors import TfaudioError
from tfaudio.inference import check_model
from tfaudio.spec import RunSpec
from tfaudio.deploy.loading import float32_model
from tfaudio.deploy.metadata import KERAS_ENTRY, _dumps, load_metadata, metadata, read_metadata
from tfaudio.deploy.onnx import export_onnx
from tfaudio.deploy.savedmodel import export_saved_model
from tfaudio.deploy.tflite import QUANTIZE, calibration_windows, export_tflite
from tfaudio.deploy.writing import FORMATS, _check_out_file, _failures, _graph_model, probe_windows
from tfaudio.deploy.loading import model_form, open_model
from tfaudio.inference import predictor
from tfaudio.io import outputs
from tfaudio.run_folder import run_lock

log = logging.getLogger(__name__)

__all__ = ["export", "export_keras", "latency"]



# --------------------------------------------------------------------------------------------
# .keras


def export_keras(model: Any, spec: RunSpec, out: str | os.PathLike, config: dict[str, Any] | None = None,
                 training: dict[str, Any] | None = None, version: str | None = None) -> Path:
    """Write `model` as a .keras file carrying the metadata (zip entry `tfaudio.json`), so that it loads
    on its own (`tfaudio predict MODEL.keras`); Keras itself ignores the entry."""
    _graph_model(model, "a .keras export")
    model = float32_model(model)  # deployed forms compute in float32 (see tfaudio.deploy.loading.float32_model)

    out = Path(out).absolute()
    _check_out_file(out, "keras")
    frames = check_model(model, spec) or None
    meta = metadata(spec, version, frames, config=config, training=training, export_format="keras",
                    front_end="inside the model" if spec.model_input == "audio" else "outside: tfaudio.features")
    def save(path: Path) -> None:
        model.save(path)
        with zipfile.ZipFile(path, "a") as z:
            z.writestr(KERAS_ENTRY, _dumps(meta))

    with _failures(out, ".keras export"):
        outputs.atomic_write(out, save)
    return out


# --------------------------------------------------------------------------------------------
# one entry point (the command line's)


def export(model: str | os.PathLike, out: str | os.PathLike, fmt: str = "savedmodel", quantize: str = "none",
           which: str = "best", calibration: Sequence[str | os.PathLike] = ()) -> tuple[Path, dict[str, Any]]:
    """`tfaudio export`: the model `model` (a run folder, pretrained name or .keras file; see
    `tfaudio.deploy.loading.open_model`) in format `fmt` at `out`; returns (path, metadata)."""
    if fmt not in FORMATS:
        raise TfaudioError(f"unknown export format {fmt!r}; choose one of {list(FORMATS)}")
    if quantize not in QUANTIZE:
        raise TfaudioError(f"unknown quantization {quantize!r}; choose one of {list(QUANTIZE)}")
    if quantize != "none" and fmt != "tflite":
        raise TfaudioError(f"--quantize applies to --format tflite, not {fmt}")
    if calibration and quantize != "int8":
        raise TfaudioError("--calibration applies to --quantize int8")
    form = model_form(model)
    if form in ("saved_model", "tflite", "onnx"):  # refused before anything of it loads
        raise TfaudioError(f"{model}: is already an export ({form}); export from its run folder, .keras file "
                           "or pretrained name")
    with contextlib.ExitStack() as stack:
        if form == "run":  # a train or --resume of the run must not change it while it is exported

            try:
                stack.enter_context(run_lock(model, "export", create=False))
            except outputs.OutputError:  # a read-only run folder: no one trains into it either
                log.debug("%s: read-only; exporting without its lock", model)
        return _export(open_model(model, which), out, fmt, quantize, calibration)


def _export(loaded: Any, out: str | os.PathLike, fmt: str, quantize: str,
            calibration: Sequence[str | os.PathLike]) -> tuple[Path, dict[str, Any]]:
    kw = dict(config=loaded.config, training=loaded.metadata.get("training_data"))
    if fmt == "savedmodel":
        path = export_saved_model(loaded.model, loaded.spec, out, **kw)
        return path, load_metadata(path)
    out = Path(out)
    if fmt == "tflite":
        cal = (calibration_windows(loaded.spec, calibration, loaded.config) if quantize == "int8" else None)
        source = (", ".join(str(c) for c in calibration) if calibration else "the run's training split")
        path = export_tflite(loaded.model, loaded.spec, out, quantize, cal, calibration_source=source, **kw)
    elif fmt == "onnx":
        path = export_onnx(loaded.model, loaded.spec, out, **kw)
    else:
        path = export_keras(loaded.model, loaded.spec, out, **kw)
    return path, read_metadata(path, fmt)


def latency(model: Any, spec: RunSpec, repeats: int = 50, warmup: int = 5) -> dict[str, float]:
    """Seconds per window of `model` (a Keras model or a runner; features included), one window a call:
    {"median_ms", "p90_ms", "repeats"}."""
    p = predictor(model, spec, 1)
    x = probe_windows(spec, 1)
    for _ in range(warmup):
        p.windows(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        p.windows(x)
        times.append(time.perf_counter() - t)
    return {"median_ms": float(np.median(times) * 1e3), "p90_ms": float(np.percentile(times, 90) * 1e3),
            "repeats": repeats}
