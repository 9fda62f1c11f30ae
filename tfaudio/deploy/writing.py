"""What every exporter shares: output checks and recovery, the window function, the check against Keras."""
from __future__ import annotations

import logging
import warnings

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import tensorflow as tf

from tfaudio.errors import TfaudioError
from tfaudio.inference import model_inputs
from tfaudio.spec import RunSpec
from tfaudio.deploy.metadata import _output_key, load_metadata, read_metadata
from tfaudio.io import outputs
from tfaudio.io.headers import quiet_stderr

log = logging.getLogger(__name__)

#: Name scope of the feature front end in the one-window graph.
FRONT_END_SCOPE = "front_end"

#: `tfaudio export --format` choices, and the suffix of the file formats.
FORMATS = ("savedmodel", "tflite", "onnx", "keras")
SUFFIX = {"tflite": ".tflite", "onnx": ".onnx", "keras": ".keras"}


def _window_function(model: Any, spec: RunSpec, batch: int | None,
                     front_end: Callable[[tf.Tensor], tf.Tensor] | None = None, outside: bool = False):
    """tf.function: windows float32 `[batch, window]` (or, `outside`, features `[batch, frames, bins]`)
    -> {"activations": `(batch, instruments, F)`} or {"scores": `(batch, classes)`}."""
    key = _output_key(spec)
    if outside:
        shape, name = [batch, spec.features.n_frames(spec.window), spec.features.n_features], "features"
    else:
        shape, name = [batch, spec.window], "window"
    feats = front_end if front_end is not None else (lambda x: model_inputs(x, spec))

    def fn(x: tf.Tensor) -> dict[str, tf.Tensor]:
        if not outside:
            with tf.name_scope(FRONT_END_SCOPE):  # int8 TFLite keeps these ops in float32 (see tflite_bytes)
                x = feats(x)
        return {key: tf.cast(model(x, training=False), tf.float32)}

    return tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32, name=name)], autograph=False)


def probe_windows(spec: RunSpec, n: int = 2, seed: int = 0) -> np.ndarray:
    """`n` deterministic test windows `(n, window)` at the model's rate: tones with harmonics over noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(spec.window) / spec.sr
    out = []
    for i in range(n):
        f0 = 110.0 * 2 ** (i * 7 / 12)
        y = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) for k in range(1, 6))
        out.append(y * np.hanning(spec.window) ** 0.1 + 0.02 * rng.standard_normal(spec.window))
    return np.asarray(out, np.float32)


def _keras_outputs(model: Any, spec: RunSpec, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(model_inputs(tf.constant(x), spec), training=False), np.float32)


# --------------------------------------------------------------------------------------------
# output paths


#: The files of a SavedModel export written before exports carried a manifest (`_check_out_dir`).
_LEGACY_EXPORT = ("saved_model.pb", "fingerprint.pb", "assets/classes.txt", "assets/metadata.json",
                  "variables/variables.index")


def _legacy_export_file(rel: str) -> bool:
    return rel in _LEGACY_EXPORT or rel.startswith("variables/variables.data-")


def _check_out_dir(out: Path) -> None:
    """`out` must be new, empty, or an earlier tfaudio export holding nothing but the files its manifest
    lists (an export from before manifests: the files of a SavedModel export); that one is replaced.
    Else one line naming a file tfaudio did not write: nothing a user put there is deleted."""
    if out.exists() and not out.is_dir():
        raise outputs.OutputError(f"{out}: exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not _is_export(out):
        raise outputs.OutputError(f"{out}: exists, is not empty and holds no tfaudio SavedModel; refusing to "
                                  "overwrite it")
    foreign = outputs.foreign_entry(out, legacy=_legacy_export_file)
    if foreign is not None:
        raise outputs.OutputError(f"{out}: holds {foreign.relative_to(out)}, which tfaudio did not write (not in the "
                                  f"export's {outputs.MANIFEST}); refusing to replace the folder (move it away or "
                                  "choose another --out)")


def _is_export(folder: Path) -> bool:
    try:
        return (folder / "saved_model.pb").is_file() and "tfaudio_version" in load_metadata(folder)
    except (TfaudioError, ValueError, OSError):
        return False


def _check_out_file(out: Path, fmt: str) -> None:
    """A file export's path: new, or an earlier tfaudio export of the same format (replaced)."""
    if out.suffix.lower() != SUFFIX[fmt]:
        raise outputs.OutputError(f"{out}: a {fmt} export's file name must end in {SUFFIX[fmt]}")
    if out.is_dir():
        raise outputs.OutputError(f"{out}: is a folder; give the {SUFFIX[fmt]} file to write")
    if out.exists():
        try:
            ours = read_metadata(out, fmt) is not None
        except TfaudioError:
            ours = False
        if not ours:
            raise outputs.OutputError(f"{out}: exists and is not a tfaudio {fmt} export; refusing to overwrite it")
    outputs.output_dir(out.parent, "export's folder")


def _recover(out: Path) -> None:
    """Undo what killed exports to `out` left: their temporary folders go; a previous export that one
    had moved aside (``.NAME.old-PID``) is put back if `out` is missing, else removed."""
    outputs.clean_stale(out)
    for old in outputs.stale_siblings(out, ("old",)):
        if not out.exists() and _is_export(old):
            os.replace(old, out)
            log.warning("%s: put back the previous export that a killed export had moved aside", out)
        else:
            shutil.rmtree(old, ignore_errors=True)


def _graph_model(model: Any, what: str) -> None:
    if not getattr(model, "runs_in_graph", True):  # the scikit-learn SVM: nothing to trace into a graph
        raise TfaudioError(f"{getattr(model, 'name', type(model).__name__)!r} is a {type(model).__name__} "
                           f"(scikit-learn), and {what} needs a Keras model; use `tfaudio predict` with the "
                           "run folder instead")
    if not hasattr(model, "get_config") or not hasattr(model, "inputs"):
        raise TfaudioError(f"{what} needs a Keras model, not {type(model).__name__} (export from the run folder "
                           "or .keras file)")


@contextlib.contextmanager
def _failures(out: Path, what: str) -> Iterator[None]:
    """Any failure of a conversion as one `TfaudioError` line naming `out`."""
    try:
        yield
    except TfaudioError:
        raise
    except Exception as e:  # noqa: BLE001 - a failed export is one line, and leaves nothing behind
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise TfaudioError(f"{out}: {what} failed ({type(e).__name__}: {first})") from e


def _check(run: Callable[[np.ndarray], np.ndarray], model: Any, spec: RunSpec) -> dict[str, Any]:
    """The largest difference of an export (`run`: windows -> outputs) from its Keras model on
    `probe_windows`; "max_abs_diff" None and "error" when it does not run here."""
    x = probe_windows(spec)
    try:
        got = np.asarray(run(x), np.float32)
    except Exception as e:  # noqa: BLE001 - a runtime missing here is recorded, not fatal
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        return {"max_abs_diff": None, "probe": f"{len(x)} tone+noise windows", "error": first}
    diff = float(np.max(np.abs(got - _keras_outputs(model, spec, x))))
    return {"max_abs_diff": diff, "probe": f"{len(x)} tone+noise windows", "against": "the Keras model"}


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
    """The converter's own log lines (a failed builtin-only attempt logs every op it misses) and warnings
    kept off stderr: what matters is said in one line by tfaudio."""
    loggers = [logging.getLogger(n) for n in ("tensorflow", "absl", "tf2onnx")]
    levels = [q.level for q in loggers]
    for q in loggers:
        q.setLevel(logging.CRITICAL)

    try:
        with warnings.catch_warnings(), quiet_stderr():  # the MLIR converter prints to fd 2 itself
            warnings.simplefilter("ignore")
            yield
    finally:
        for q, level in zip(loggers, levels):
            q.setLevel(level)
