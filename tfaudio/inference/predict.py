"""Model checks and prediction in memory: the graph core, `Predictor`, `Prediction` and `predict_audio`.

Imported by the rest of `tfaudio.inference`, by `tfaudio.deploy.export` (the SavedModel runs
`predict_waveform_graph`; the TFLite/ONNX checks feed `model_inputs`) and by `tfaudio.evaluation`.
Feature-input models get ``spec.features.compute(window)`` in float32 per window (windows are
independent: each is framed and normalised on its own, as in training); audio-input models get the
window itself.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from tfaudio.errors import AudioFileError, TfaudioError
from tfaudio.inference.plan import WindowPlan, overlap_add, plan_windows, window_plan
from tfaudio.spec import RunSpec

#: Windows per model call (inside the graph the windows of a long input go through in chunks of this).
DEFAULT_BATCH_WINDOWS = 64


def input_kind(spec: RunSpec) -> str:
    """What the run's model takes: "audio" (windows `(batch, window)`) or "features" (`(batch, frames, bins)`)."""
    return "audio" if spec.model_input == "audio" or spec.features.kind == "none" else "features"


def model_inputs(windows: tf.Tensor, spec: RunSpec) -> tf.Tensor:
    """Audio windows `(batch, window)` -> what the model takes: the windows, or their features float32."""
    if input_kind(spec) == "audio":
        return windows
    return tf.cast(spec.features.compute(tf.cast(windows, tf.float32)), tf.float32)


def check_model(model: Any, spec: RunSpec) -> int:
    """Check that `model` fits `spec` (input and output shapes); returns its frames per window (0 for
    clip models). Raises `TfaudioError` with one line saying what does not fit."""
    name = getattr(model, "name", type(model).__name__)
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1:
        raise TfaudioError(f"model {name!r}: inference needs a Keras model with exactly one input")
    in_shape = tuple(inputs[0].shape)
    out_shape = tuple(model.outputs[0].shape) if len(model.outputs) == 1 else None
    n = len(spec.classes)
    if input_kind(spec) == "features":
        want = (spec.features.n_frames(spec.window), spec.features.n_features)
        if len(in_shape) != 3 or any(s is not None and s != w for s, w in zip(in_shape[1:], want)):
            raise TfaudioError(f"model {name!r} takes input {in_shape}, but the run's features give "
                               f"(batch, {want[0]}, {want[1]}) per {spec.window}-sample window")
    elif len(in_shape) != 2 or in_shape[1] not in (None, spec.window):
        raise TfaudioError(f"model {name!r} takes input {in_shape}, but the run gives audio windows "
                           f"(batch, {spec.window})")
    if spec.task == "activation":
        if out_shape is None or len(out_shape) != 3 or out_shape[1] != n:
            raise TfaudioError(f"model {name!r} outputs {out_shape}, not (batch, {n} instruments, frames): "
                               f"is it an activation model for this run's {n} classes?")
        return int(out_shape[2] if out_shape[2] is not None else spec.features.n_frames(spec.window))
    if out_shape is None or len(out_shape) != 2 or out_shape[1] != n:
        raise TfaudioError(f"model {name!r} outputs {out_shape}, not (batch, {n} classes): is it a "
                           f"{spec.task.replace('_', '-')} classifier for this run's {n} classes?")
    return 0


# --------------------------------------------------------------------------------------------
# the graph core (used in memory, streamed, and inside the SavedModel)


def predict_windows_graph(model: Any, spec: RunSpec, windows: tf.Tensor,
                          batch_windows: int = DEFAULT_BATCH_WINDOWS) -> tf.Tensor:
    """Model outputs for windows `(m, window)`: `(m, instruments, F)` or `(m, classes)` float32.

    The windows go through the model `batch_windows` at a time (a `tf.map_fn` loop), so a long
    input never makes one huge batch.
    """
    windows = tf.convert_to_tensor(windows, tf.float32)
    m = tf.shape(windows)[0]
    chunk = tf.maximum(tf.minimum(m, batch_windows), 1)
    n_chunks = -(-m // chunk)
    padded = tf.pad(windows, [[0, n_chunks * chunk - m], [0, 0]])
    chunks = tf.reshape(padded, tf.stack([n_chunks, chunk, spec.window]))
    out_shape = tuple(model.outputs[0].shape[1:])

    def one(x):
        return tf.cast(model(model_inputs(x, spec), training=False), tf.float32)

    y = tf.map_fn(one, chunks, fn_output_signature=tf.TensorSpec((None, *out_shape), tf.float32),
                  parallel_iterations=1)
    y = tf.reshape(y, tf.concat([[n_chunks * chunk], tf.shape(y)[2:]], 0))
    return y[:m]


def predict_waveform_graph(model: Any, spec: RunSpec, plan: WindowPlan, waveform: tf.Tensor,
                           batch_windows: int = DEFAULT_BATCH_WINDOWS) -> dict[str, tf.Tensor]:
    """The whole inference in TensorFlow ops: waveform `(batch, samples)` at `spec.sr` ->

    activation models: {"activations": `(batch, instruments, T)`, "frame_times": `(T,)` seconds};
    clip models: {"scores": `(batch, classes)` (mean of window probabilities), "window_scores":
    `(batch, n, classes)`}.
    """
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    batch = tf.shape(waveform)[0]
    samples = tf.shape(waveform)[1]
    windows, n = plan_windows(waveform, plan)
    y = predict_windows_graph(model, spec, tf.reshape(windows, [-1, plan.window]), batch_windows)
    if plan.activation:
        total = 1 + samples // plan.hop_length
        preds = tf.reshape(y, tf.stack([batch, n, len(spec.classes), plan.frames]))
        times = tf.cast(tf.range(total), tf.float32) * (plan.hop_length / plan.sr)
        return {"activations": overlap_add(preds, plan, total), "frame_times": times}
    scores = tf.reshape(y, tf.stack([batch, n, len(spec.classes)]))
    return {"scores": tf.reduce_mean(scores, axis=1), "window_scores": scores}


class Predictor:
    """A model and its run spec with compiled inference functions (one trace each).

    `windows(x)`: windows `(m, window)` -> model outputs (numpy). `waveform(y)`: `(batch, samples)`
    or `(samples,)` -> dict of numpy arrays (see `predict_waveform_graph`).

    A model that cannot run inside a TensorFlow graph (``runs_in_graph = False``: the scikit-learn
    `SVMBaseline`) goes the eager way: the same windows and features (a compiled feature function), the
    model called on numpy feature batches of `batch_windows`, and the same stitching.
    """

    def __init__(self, model: Any, spec: RunSpec, batch_windows: int = DEFAULT_BATCH_WINDOWS):
        frames = check_model(model, spec)
        self.model = model
        self.spec = spec
        self.plan = window_plan(spec, frames or None)
        self.batch_windows = int(batch_windows)
        self.graph = bool(getattr(model, "runs_in_graph", True))
        signature = [tf.TensorSpec([None, spec.window], tf.float32)]
        if not self.graph:
            self._features = tf.function(lambda x: model_inputs(x, spec), input_signature=signature,
                                         reduce_retracing=True)
            return
        self._windows = tf.function(lambda x: predict_windows_graph(model, spec, x, self.batch_windows),
                                    input_signature=signature, reduce_retracing=True)
        self._waveform = tf.function(
            lambda y: predict_waveform_graph(model, spec, self.plan, y, self.batch_windows),
            input_signature=[tf.TensorSpec([None, None], tf.float32)], reduce_retracing=True)

    def windows(self, x: np.ndarray) -> np.ndarray:
        if not self.graph:
            return self._eager_windows(np.asarray(x, np.float32))
        return self._windows(tf.convert_to_tensor(x, tf.float32)).numpy()

    def _eager_windows(self, x: np.ndarray) -> np.ndarray:
        """`predict_windows_graph` for a model called eagerly: `batch_windows` windows a call."""
        out_shape = tuple(self.model.outputs[0].shape[1:])
        if x.shape[1:] != (self.spec.window,):
            raise TfaudioError(f"windows of shape {x.shape}, not (m, {self.spec.window})")
        ys = [np.asarray(self.model(self._features(tf.convert_to_tensor(x[i:i + self.batch_windows])).numpy(),
                                    training=False), np.float32)
              for i in range(0, len(x), self.batch_windows)]
        return np.concatenate(ys) if ys else np.zeros((0, *out_shape), np.float32)

    def _eager_waveform(self, y: np.ndarray) -> dict[str, np.ndarray]:
        """`predict_waveform_graph` for a model called eagerly (same windows, same stitching)."""
        plan = self.plan
        windows, n = plan_windows(tf.convert_to_tensor(y), plan)
        batch, n = y.shape[0], int(n)
        w = self.windows(windows.numpy().reshape(-1, plan.window))
        if plan.activation:
            total = plan.n_frames(y.shape[1])
            preds = w.reshape(batch, n, len(self.spec.classes), plan.frames)
            acts = overlap_add(tf.convert_to_tensor(preds), plan, total).numpy()
            times = np.arange(total, dtype=np.float32) * np.float32(plan.hop_length / plan.sr)
            return {"activations": acts, "frame_times": times}
        scores = w.reshape(batch, n, len(self.spec.classes))
        return {"scores": scores.mean(axis=1, dtype=np.float32), "window_scores": scores}

    def waveform(self, y: np.ndarray) -> dict[str, np.ndarray]:
        y = np.asarray(y, np.float32)
        single = y.ndim == 1
        batch = y[None] if single else y
        if not self.graph:
            out = self._eager_waveform(batch)
        else:
            out = {k: v.numpy() for k, v in self._waveform(tf.convert_to_tensor(batch)).items()}
        if single:
            out = {k: (v if k == "frame_times" else v[0]) for k, v in out.items()}
        return out


_PREDICTORS: "collections.OrderedDict[tuple, Predictor]" = collections.OrderedDict()
_CACHE_SIZE = 4


def predictor(model: Any, spec: RunSpec | None = None, batch_windows: int = DEFAULT_BATCH_WINDOWS) -> Predictor:
    """The `Predictor` of a model and spec, cached (the last few), so that predicting many files traces
    the inference functions once; a `Predictor` passed in is returned as is."""
    if isinstance(model, Predictor):
        return model
    if spec is None:
        raise TfaudioError("predicting with a Keras model needs its RunSpec")
    key = (id(model), spec, int(batch_windows))
    p = _PREDICTORS.get(key)
    if p is None or p.model is not model:
        p = _PREDICTORS[key] = Predictor(model, spec, batch_windows)
    _PREDICTORS.move_to_end(key)
    while len(_PREDICTORS) > _CACHE_SIZE:
        _PREDICTORS.popitem(last=False)
    return p


# --------------------------------------------------------------------------------------------
# results


@dataclasses.dataclass(frozen=True, eq=False)
class Prediction:
    """What `predict_audio` / `predict_file` return.

    Activation runs: `activations` `(instruments, frames)` in [0, 1] (0 = -60 dB), frame `t` at
    `frame_times[t]` s. Clip runs: `scores` `(classes,)` (mean of the window probabilities) and
    `window_scores` `(windows, classes)`; `label` is the top class, `active` the classes scoring at
    least `threshold` (multi-label).
    """

    task: str
    classes: tuple[str, ...]
    sr: int
    hop_length: int
    samples: int
    threshold: float = 0.5
    thresholds: tuple[float, ...] = ()
    activations: np.ndarray | None = None
    scores: np.ndarray | None = None
    window_scores: np.ndarray | None = None
    source: str | None = None

    @classmethod
    def of(cls, spec: RunSpec, out: dict[str, np.ndarray], samples: int, source: str | None) -> Prediction:
        """The prediction of `spec`'s model from its outputs `out` ("activations", or "scores" and
        "window_scores") on `samples` samples at `spec.sr`."""
        common = dict(task=spec.task, classes=tuple(spec.classes), sr=spec.sr, hop_length=spec.features.hop_length,
                      samples=int(samples), threshold=spec.threshold, thresholds=tuple(spec.thresholds),
                      source=source)
        if spec.task == "activation":
            return cls(activations=np.asarray(out["activations"], np.float32), **common)
        return cls(scores=np.asarray(out["scores"], np.float32),
                   window_scores=np.asarray(out["window_scores"], np.float32), **common)

    @property
    def duration(self) -> float:
        """Seconds of audio (at `sr`)."""
        return self.samples / self.sr

    @property
    def frame_times(self) -> np.ndarray:
        """Frame times in seconds `(frames,)` (activation runs)."""
        n = 0 if self.activations is None else self.activations.shape[-1]
        return (np.arange(n) * (self.hop_length / self.sr)).astype(np.float64)

    @property
    def label(self) -> str | None:
        """The top class (clip runs)."""
        return None if self.scores is None else self.classes[int(np.argmax(self.scores))]

    @property
    def active(self) -> list[str]:
        """Classes scoring at least `threshold` (clip runs; for single-label too)."""
        if self.scores is None:
            return []
        t = self.thresholds or (self.threshold,) * len(self.classes)
        return [c for c, s, ti in zip(self.classes, self.scores, t) if s >= ti]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (clip runs: the scores; activation runs: shape and timing only)."""
        d: dict[str, Any] = {"source": self.source, "task": self.task, "classes": list(self.classes),
                             "sr": self.sr, "duration": round(self.duration, 6)}
        if self.scores is not None:
            d.update(scores={c: float(s) for c, s in zip(self.classes, self.scores)}, label=self.label,
                     aggregation="mean of window probabilities",
                     windows=0 if self.window_scores is None else int(len(self.window_scores)))
            if self.task == "multi_label":
                d.update(active=self.active, threshold=self.threshold)
                if self.thresholds:
                    d["thresholds"] = dict(zip(self.classes, self.thresholds))
        if self.activations is not None:
            d.update(frames=int(self.activations.shape[-1]), hop_length=self.hop_length,
                     frame_rate=self.sr / self.hop_length)
        return d


def predict_audio(model: Any, spec: RunSpec | None, audio: Any, source: str | None = None,
                  batch_windows: int = DEFAULT_BATCH_WINDOWS) -> Prediction:
    """Predict on mono audio `(samples,)` at `spec.sr`, all in memory (the graph core). `model` may be a
    `Predictor` (then `spec` may be None)."""
    p = predictor(model, spec, batch_windows)
    y = np.asarray(audio, np.float32)
    if y.ndim != 1:
        raise TfaudioError(f"predict_audio takes mono audio (samples,), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise AudioFileError(source, "audio contains NaN or Inf samples")
    return Prediction.of(p.spec, p.waveform(y), len(y), source)
