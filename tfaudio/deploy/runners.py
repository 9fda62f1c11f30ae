"""Running an exported model like a Keras model: SavedModelRunner, TFLiteRunner, ONNXRunner (`load_exported`)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tfaudio.errors import TfaudioError
from tfaudio.inference import model_inputs, window_plan
from tfaudio.spec import RunSpec, spec_from_metadata
from tfaudio.deploy.metadata import _interpreter, _onnx_session, _output_key, read_metadata
from tfaudio.io.headers import quiet_stderr


def _tflite_runner(data: bytes, spec: RunSpec, ops: dict[str, Any], outside: bool
                   ) -> Callable[[np.ndarray], np.ndarray]:
    """Windows `(m, window)` -> outputs, through a TFLite model (its features computed here when `outside`)."""
    def run(x: np.ndarray) -> np.ndarray:  # the interpreter is made here, so that `_check` records its failure
        runner = TFLiteRunner(data, spec, {"front_end": "outside" if outside else "inside"}, flex=ops["select_tf_ops"])
        return runner(model_inputs(tf.constant(x), spec).numpy() if outside else x)

    return run


# --------------------------------------------------------------------------------------------
# running an export (what `tfaudio.deploy.loading.open_model` returns for it)


@dataclasses.dataclass(frozen=True)
class _Shape:
    shape: tuple


class _Runner:
    """An exported model called like the Keras model `tfaudio.inference.Predictor` takes: `runner(x)` on
    a batch of windows `(m, window)` (features `(m, frames, bins)` when the front end is outside) ->
    numpy outputs `(m, instruments, F)` or `(m, classes)`; `inputs` / `outputs` carry the shapes."""

    runs_in_graph = False

    def __init__(self, spec: RunSpec, meta: dict[str, Any], name: str):
        self.name = name
        plan = window_plan(spec, meta.get("frames_per_window"))
        self.outside = meta.get("front_end") == "outside"
        if self.outside:
            self.inputs = [_Shape((None, spec.features.n_frames(spec.window), spec.features.n_features))]
        else:
            self.inputs = [_Shape((None, spec.window))]
        n = len(spec.classes)
        self.outputs = [_Shape((None, n, plan.frames) if plan.activation else (None, n))]
        self.key = _output_key(spec)

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if not len(x):
            return np.zeros((0, *self.outputs[0].shape[1:]), np.float32)
        return np.concatenate([self._run_one(x[i:i + 1]) for i in range(len(x))]).astype(np.float32)


class SavedModelRunner(_Runner):
    """A SavedModel from `export_saved_model`: its `windows` function (batched), or for exports older than
    it, `serving_default` on each window as a waveform of its own (one window: the same outputs).
    Unless `trust`, `tfaudio.deploy.trust.check_saved_model` reads it first and refuses ops the exporter never
    writes, before anything of it runs."""

    def __init__(self, path: str | os.PathLike, spec: RunSpec, meta: dict[str, Any], trust: bool = False):
        super().__init__(spec, meta, Path(path).name)
        if not trust:  # a SavedModel is a program: read it as data first (tfaudio.deploy.trust)
            from tfaudio.deploy.trust import check_saved_model

            check_saved_model(path)
        self._loaded = tf.saved_model.load(str(path))
        self._windows = getattr(self._loaded, "windows", None)
        self._serve = self._loaded.signatures["serving_default"]

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if self._windows is not None:
            return self._windows(tf.constant(x))[self.key].numpy()
        return super().__call__(x)

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        out = self._serve(waveform=tf.constant(x))[self.key].numpy()
        return out[..., : self.outputs[0].shape[-1]] if self.key == "activations" else out


class TFLiteRunner(_Runner):
    """A .tflite export run by LiteRT (`ai_edge_litert`; TensorFlow's interpreter for select TF ops)."""

    def __init__(self, data: bytes, spec: RunSpec, meta: dict[str, Any] | None = None, flex: bool | None = None,
                 name: str = "model.tflite"):
        meta = meta if meta is not None else {"front_end": "inside"}
        super().__init__(spec, meta, name)
        flex = bool(meta.get("select_tf_ops")) if flex is None else flex

        self.interpreter = _interpreter(data, flex)
        with quiet_stderr():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            self._runner = self.interpreter.get_signature_runner()
            self._runner(**{"features" if self.outside else "window": np.zeros(self.inputs[0].shape[1:], np.float32)[None]})
        self._input = "features" if self.outside else "window"

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        out = self._runner(**{self._input: np.ascontiguousarray(x, np.float32)})
        return np.asarray(out[self.key] if self.key in out else next(iter(out.values())))  # frozen: "output_0"


class ONNXRunner(_Runner):
    """An .onnx export run by onnxruntime."""

    def __init__(self, data: bytes, spec: RunSpec, meta: dict[str, Any], name: str = "model.onnx"):
        super().__init__(spec, meta, name)
        try:
            self.session = _onnx_session(data)
        except ImportError:
            raise TfaudioError(f"{name}: running an ONNX model needs onnxruntime (pip install onnxruntime)") from None
        self._input = self.session.get_inputs()[0].name

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: np.ascontiguousarray(x, np.float32)})[0]


def load_exported(path: str | os.PathLike, form: str,
                  trust: bool = False) -> tuple[_Runner, RunSpec, dict[str, Any]]:
    """(runner, spec for inference, metadata) of an export: a SavedModel folder, .tflite or .onnx file.
    The spec's `model_input` is "audio" when the export computes its features inside (it takes audio).
    A SavedModel is checked by `tfaudio.deploy.trust.check_saved_model` before it loads, unless `trust`."""
    path = Path(path)
    meta = read_metadata(path, form)
    if meta is None:
        raise TfaudioError(f"{path}: no tfaudio metadata")
    spec = spec_from_metadata(meta, path)
    if meta.get("front_end", "inside") != "outside":
        spec = dataclasses.replace(spec, model_input="audio")
    try:
        if form == "saved_model":
            runner: _Runner = SavedModelRunner(path, spec, meta, trust=trust)
        elif form == "tflite":
            runner = TFLiteRunner(path.read_bytes(), spec, meta, name=path.name)
        else:
            runner = ONNXRunner(path.read_bytes(), spec, meta, name=path.name)
    except TfaudioError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged export is one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise TfaudioError(f"{path}: cannot load this {form} export: {first}") from None
    return runner, spec, meta
