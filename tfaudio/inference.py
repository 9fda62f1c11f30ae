"""Inference on audio of any length: sliding windows, overlap-add (activations) or aggregation (clips).

One plan, shared by `tfaudio predict` (in memory or streamed from a file) and by the exported
SavedModel (`tfaudio.export`), so both give the same numbers:

* **Windows.** The model sees `spec.window` samples at `spec.sr` per example. Windows start every
  `hop` samples and the last one is zero-padded. Clip models: ``hop = window // 2`` (50 % overlap),
  and windows are added until one reaches the end of the audio. Activation models (seed 001 §4.2.2)
  predict `F` frames per window (``F = 1 + window // hop_length``, frames centred at multiples of
  `hop_length` from the window start); the hop is ``F // 2`` frames (``(F // 2) * hop_length``
  samples: 50 % overlap in frames, 8192 samples for the seed's 16-frame windows — ``window // 2``
  samples would put window frames between the signal's frames), and windows are added until one
  covers the last frame of the whole signal, ``T = 1 + samples // hop_length`` (centred framing).
* **Overlap-add (activations).** Each window's `(instruments, F)` prediction is weighted by a Hann
  window over its frames, ``w[k] = sin²(π (k + ½) / F)`` — a Hann window sampled at the frame centres,
  strictly positive, so the signal's first and last frames keep a (small) weight; at a hop of `F / 2`
  the weights of overlapping windows sum to exactly 1 — summed, and divided by the summed weights, so
  a constant prediction stays constant. Result `(instruments, T)`, frame `t` at ``t * hop_length / sr``
  seconds.
* **Aggregation (clips).** Clip scores are the **mean of the window probabilities** (softmax or
  sigmoid outputs), every window weighing the same; the last (zero-padded) window always holds more
  than half a window of audio.
* **Features.** Feature-input models get ``spec.features.compute(window)`` in float32 per window
  (windows are independent: each is framed and normalised on its own, as in training); audio-input
  models get the window itself.

`predict_file` streams a file of any length, rate and channel count: soundfile blocks, downmix,
block-wise resampling with enough filter context on both sides that the stitched signal equals the
whole-file resampling (see `StreamResampler`), windows, and stitching. Memory stays bounded by the
block (``block_seconds × file rate × channels`` floats), the resampler's context, a batch of windows
(``batch_windows × window`` samples and the model's activations for them) and the result itself
(``instruments × frames`` floats: ~1.4 MB per hour for 8 instruments at 44.1 kHz / hop 1024).
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import io
import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import tensorflow as tf

from tfaudio.errors import AudioFileError, TfaudioError
from tfaudio.run import RunSpec

log = logging.getLogger(__name__)

__all__ = ["WindowPlan", "window_plan", "ola_weights", "check_model", "Predictor", "predictor",
           "Prediction", "predict_audio", "predict_file", "prediction_files", "write_prediction", "StreamResampler",
           "plan_windows", "overlap_add", "predict_waveform_graph"]

#: Windows per model call (inside the graph the windows of a long input go through in chunks of this).
DEFAULT_BATCH_WINDOWS = 64
#: Seconds of the input file read per block in `predict_file`.
DEFAULT_BLOCK_SECONDS = 30.0


# --------------------------------------------------------------------------------------------
# the plan


@dataclasses.dataclass(frozen=True)
class WindowPlan:
    """How audio of any length becomes windows and back.

    task: the run's task. window: samples per window. hop: samples between window starts.
    frames: frames per window (`F`, activation models; 0 for clip models). frame_hop: hop in frames
    (`F // 2`; 0 for clip models). hop_length: samples per frame. sr: sample rate.
    """

    task: str
    window: int
    hop: int
    frames: int
    frame_hop: int
    hop_length: int
    sr: int

    @property
    def activation(self) -> bool:
        return self.task == "activation"

    def n_frames(self, n_samples: int) -> int:
        """Frames of the whole signal (centred framing): ``1 + n_samples // hop_length``."""
        return 1 + int(n_samples) // self.hop_length

    def n_windows(self, n_samples: int) -> int:
        """Windows for `n_samples` samples (at least 1)."""
        n = int(n_samples)
        if self.activation:
            return 1 + max(0, -(-(self.n_frames(n) - self.frames) // self.frame_hop))
        return 1 + max(0, -(-(n - self.window) // self.hop))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def window_plan(spec: RunSpec, frames: int | None = None) -> WindowPlan:
    """The `WindowPlan` of a run. `frames`: the model's output frames (default: from the spec)."""
    hop_length = spec.features.hop_length
    if spec.task == "activation":
        f = int(frames) if frames is not None else spec.features.n_frames(spec.window)
        if f < 1:
            raise TfaudioError(f"an activation model must predict at least one frame, not {f}")
        frame_hop = max(1, f // 2)
        return WindowPlan(spec.task, spec.window, frame_hop * hop_length, f, frame_hop, hop_length, spec.sr)
    return WindowPlan(spec.task, spec.window, max(1, spec.window // 2), 0, 0, hop_length, spec.sr)


def ola_weights(frames: int) -> np.ndarray:
    """Overlap-add weights over a window's frames, float32 `(frames,)`: ``sin²(π (k + ½) / frames)``."""
    k = np.arange(frames, dtype=np.float64)
    return (np.sin(np.pi * (k + 0.5) / frames) ** 2).astype(np.float32)


# --------------------------------------------------------------------------------------------
# checks


def _input_kind(spec: RunSpec) -> str:
    return "audio" if spec.model_input == "audio" or spec.features.kind == "none" else "features"


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
    if _input_kind(spec) == "features":
        want = (spec.features.n_frames(spec.window), spec.features.n_features)
        ok = len(in_shape) == 3 and all(s is None or s == w for s, w in zip(in_shape[1:], want))
        if not ok:
            raise TfaudioError(f"model {name!r} takes input {in_shape}, but the run's features give "
                               f"(batch, {want[0]}, {want[1]}) per {spec.window}-sample window")
    else:
        ok = len(in_shape) == 2 and in_shape[1] in (None, spec.window)
        if not ok:
            raise TfaudioError(f"model {name!r} takes input {in_shape}, but the run gives audio windows "
                               f"(batch, {spec.window})")
    if spec.task == "activation":
        want_frames = spec.features.n_frames(spec.window)
        if out_shape is None or len(out_shape) != 3 or out_shape[1] != n:
            raise TfaudioError(f"model {name!r} outputs {out_shape}, not (batch, {n} instruments, frames): "
                               f"is it an activation model for this run's {n} classes?")
        frames = out_shape[2] if out_shape[2] is not None else want_frames
        return int(frames)
    if out_shape is None or len(out_shape) != 2 or out_shape[1] != n:
        raise TfaudioError(f"model {name!r} outputs {out_shape}, not (batch, {n} classes): is it a "
                           f"{spec.task.replace('_', '-')} classifier for this run's {n} classes?")
    return 0


# --------------------------------------------------------------------------------------------
# the graph core (used in memory, streamed, and inside the SavedModel)


def plan_windows(waveform: tf.Tensor, plan: WindowPlan) -> tuple[tf.Tensor, tf.Tensor]:
    """`(batch, samples)` -> (windows `(batch, n, window)`, n): zero-padded at the end."""
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    samples = tf.shape(waveform)[1]
    if plan.activation:
        total_frames = 1 + samples // plan.hop_length
        n = 1 + tf.maximum(0, -((plan.frames - total_frames) // plan.frame_hop))
    else:
        n = 1 + tf.maximum(0, -((plan.window - samples) // plan.hop))
    length = (n - 1) * plan.hop + plan.window
    waveform = tf.pad(waveform, [[0, 0], [0, tf.maximum(length - samples, 0)]])[:, :length]
    windows = tf.signal.frame(waveform, plan.window, plan.hop, axis=-1)
    return windows, n


def _features(x: tf.Tensor, spec: RunSpec) -> tf.Tensor:
    if _input_kind(spec) == "audio":
        return x
    return tf.cast(spec.features.compute(tf.cast(x, tf.float32)), tf.float32)


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
        return tf.cast(model(_features(x, spec), training=False), tf.float32)

    y = tf.map_fn(one, chunks, fn_output_signature=tf.TensorSpec((None, *out_shape), tf.float32),
                  parallel_iterations=1)
    y = tf.reshape(y, tf.concat([[n_chunks * chunk], tf.shape(y)[2:]], 0))
    return y[:m]


def overlap_add(predictions: tf.Tensor, plan: WindowPlan, total_frames: tf.Tensor) -> tf.Tensor:
    """`(batch, n, instruments, F)` window predictions -> `(batch, instruments, total_frames)`."""
    w = tf.constant(ola_weights(plan.frames))
    x = tf.transpose(predictions, [0, 2, 1, 3]) * w  # (batch, instruments, n, F)
    num = tf.signal.overlap_and_add(x, plan.frame_hop)
    n = tf.shape(predictions)[1]
    den = tf.signal.overlap_and_add(tf.tile(w[None, :], tf.stack([n, 1])), plan.frame_hop)
    out = num / tf.where(den > 0, den, tf.ones_like(den))
    return out[..., :total_frames]


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
    flat = tf.reshape(windows, [-1, plan.window])
    y = predict_windows_graph(model, spec, flat, batch_windows)
    if plan.activation:
        total = 1 + samples // plan.hop_length
        preds = tf.reshape(y, tf.stack([batch, n, len(spec.classes), plan.frames]))
        acts = overlap_add(preds, plan, total)
        times = tf.cast(tf.range(total), tf.float32) * (plan.hop_length / plan.sr)
        return {"activations": acts, "frame_times": times}
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
        if not self.graph:
            self._features = tf.function(lambda x: _features(x, spec),
                                         input_signature=[tf.TensorSpec([None, spec.window], tf.float32)],
                                         reduce_retracing=True)
            return
        self._windows = tf.function(
            lambda x: predict_windows_graph(model, spec, x, self.batch_windows),
            input_signature=[tf.TensorSpec([None, spec.window], tf.float32)], reduce_retracing=True)
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


def _result(p: Predictor, out: dict[str, np.ndarray], samples: int, source: str | None) -> Prediction:
    spec = p.spec
    common = dict(task=spec.task, classes=tuple(spec.classes), sr=spec.sr, hop_length=spec.features.hop_length,
                  samples=int(samples), threshold=spec.threshold, thresholds=tuple(spec.thresholds), source=source)
    if p.plan.activation:
        return Prediction(activations=np.asarray(out["activations"], np.float32), **common)
    return Prediction(scores=np.asarray(out["scores"], np.float32),
                      window_scores=np.asarray(out["window_scores"], np.float32), **common)


def predict_audio(model: Any, spec: RunSpec | None, audio: Any, source: str | None = None,
                  batch_windows: int = DEFAULT_BATCH_WINDOWS) -> Prediction:
    """Predict on mono audio `(samples,)` at `spec.sr`, all in memory (the graph core)."""
    p = predictor(model, spec, batch_windows)
    y = np.asarray(audio, np.float32)
    if y.ndim != 1:
        raise TfaudioError(f"predict_audio takes mono audio (samples,), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise AudioFileError(source, "audio contains NaN or Inf samples")
    return _result(p, p.waveform(y), len(y), source)


# --------------------------------------------------------------------------------------------
# streaming


class StreamResampler:
    """Resample a stream of blocks so the concatenated output equals ``tfaudio.audio.resample`` of the
    whole signal (to float rounding).

    The resampler's output sample `m` is a windowed-sinc sum over inputs within `k` samples of
    ``m · orig / target``. Blocks are resampled with `context` input samples on both sides (the
    filter's half-width `k`, rounded up to a multiple of ``orig / gcd``, so every piece starts on the
    same filter phase as the whole signal), and only outputs whose whole filter support lies inside
    the piece are kept. Memory: the pending block plus ``2 × context`` samples.
    """

    def __init__(self, orig_sr: int, target_sr: int):
        from tfaudio import audio as A

        self.orig, self.target = int(orig_sr), int(target_sr)
        g = math.gcd(self.orig, self.target)
        self.down, self.up = self.orig // g, self.target // g
        if self.orig == self.target:
            self.context = 0
        else:
            half = A._ZEROS / (A._ROLLOFF * min(1.0, self.target / self.orig))
            k = math.ceil(half) + 2
            self.context = -(-k // self.down) * self.down
        self._buf = np.zeros(0, np.float32)
        self._start = 0  # global input index of _buf[0] (a multiple of self.down)
        self._done = 0  # global input index up to which outputs were given (a multiple of self.down)
        self._n = 0  # input samples seen

    def _resample(self, x: np.ndarray) -> np.ndarray:
        from tfaudio import audio as A

        return A.resample(tf.constant(x), self.orig, self.target).numpy()

    def _emit(self, end: int, final: bool) -> np.ndarray:
        """Outputs for inputs [_done, end); `end` a multiple of down unless final."""
        lo = max(self._done - self.context, 0)
        hi = self._n if final else min(end + self.context, self._n)
        piece = self._buf[lo - self._start: hi - self._start]
        y = self._resample(piece)
        first = (self._done - lo) * self.up // self.down
        last = len(y) if final else (end - lo) * self.up // self.down
        self._done = end
        drop = max(self._done - self.context, 0) - self._start  # keep the left context
        drop -= drop % self.down
        if drop > 0:
            self._buf = self._buf[drop:]
            self._start += drop
        return y[first:last]

    def push(self, block: np.ndarray) -> np.ndarray:
        """Add input samples; returns the output samples now complete (maybe none)."""
        block = np.asarray(block, np.float32)
        if self.orig == self.target:
            self._n += len(block)
            return block
        self._buf = np.concatenate([self._buf, block]) if len(self._buf) else block.copy()
        self._n += len(block)
        end = (self._n - self.context) // self.down * self.down
        if end <= self._done:
            return np.zeros(0, np.float32)
        return self._emit(end, final=False)

    def flush(self) -> np.ndarray:
        """The remaining output samples (the signal has ended)."""
        if self.orig == self.target or self._n == 0:
            return np.zeros(0, np.float32)
        # context > 0, so _done <= _n - context < _n: the tail always holds samples
        return self._emit(self._n, final=True)


class WindowCutter:
    """The plan's windows cut from audio that arrives in pieces, holding only the samples a later window
    still needs. `push(y, final)` -> (index of the first new window, the new windows `(window,)` each); with
    `final` the last, zero-padded windows too (as `plan_windows` cuts a whole signal)."""

    def __init__(self, plan: WindowPlan):
        self.plan = plan
        self._buf = np.zeros(0, np.float32)  # samples from _start on
        self._start = 0
        self.samples = 0  # samples seen
        self.next = 0  # index of the next window
        self.peak_buffer = 0  # the most samples held at once

    @property
    def held(self) -> int:
        return len(self._buf)

    def push(self, y: np.ndarray, final: bool = False) -> tuple[int, list[np.ndarray]]:
        plan = self.plan
        if len(y):
            self._buf = np.concatenate([self._buf, y]) if len(self._buf) else np.array(y, np.float32)
            self.samples += len(y)
        self.peak_buffer = max(self.peak_buffer, len(self._buf))
        last = plan.n_windows(self.samples) if final else None
        first, windows = self.next, []
        while True:
            s = self.next * plan.hop
            if final:
                if self.next >= last:
                    break
            elif s + plan.window > self.samples:
                break
            w = self._buf[s - self._start: s - self._start + plan.window]
            if len(w) < plan.window:
                w = np.pad(w, (0, plan.window - len(w)))
            windows.append(w.copy())
            self.next += 1
        drop = min(self.next * plan.hop, self._start + len(self._buf)) - self._start
        if drop > 0:  # a copy: the dropped samples are freed, memory stays constant for endless input
            self._buf = self._buf[drop:].copy()
            self._start += drop
        return first, windows


class _Stitcher:
    """Collects windows from a stream of audio at `spec.sr` and stitches their predictions."""

    def __init__(self, p: Predictor):
        self.p = p
        self.plan = p.plan
        self.cutter = WindowCutter(self.plan)
        self._pending: list[np.ndarray] = []
        self._pending_first = 0
        n_out = len(p.spec.classes)
        self._num = np.zeros((n_out, 0), np.float64) if self.plan.activation else None
        self._den = np.zeros(0, np.float64)
        self._scores: list[np.ndarray] = []
        self._w = ola_weights(self.plan.frames).astype(np.float64) if self.plan.activation else None

    @property
    def samples(self) -> int:
        return self.cutter.samples

    @property
    def peak_buffer(self) -> int:
        return self.cutter.peak_buffer

    def push(self, y: np.ndarray, final: bool = False) -> None:
        first, windows = self.cutter.push(y, final)
        for i, w in enumerate(windows):
            if not self._pending:
                self._pending_first = first + i
            self._pending.append(w)
            if len(self._pending) >= self.p.batch_windows:
                self._run()
        if final and self._pending:
            self._run()

    def _run(self) -> None:
        y = self.p.windows(np.stack(self._pending))
        first = self._pending_first
        self._pending = []
        if not self.plan.activation:
            self._scores.append(y)
            return
        h, f = self.plan.frame_hop, self.plan.frames
        end = (first + len(y) - 1) * h + f
        if end > self._den.shape[0]:
            grow = max(end, 2 * self._den.shape[0])
            self._num = np.pad(self._num, ((0, 0), (0, grow - self._num.shape[1])))
            self._den = np.pad(self._den, (0, grow - self._den.shape[0]))
        for i, pred in enumerate(y):
            a = (first + i) * h
            self._num[:, a:a + f] += pred.astype(np.float64) * self._w
            self._den[a:a + f] += self._w

    def result(self) -> dict[str, np.ndarray]:
        if not self.plan.activation:
            s = np.concatenate(self._scores) if self._scores else np.zeros((0, 0), np.float32)
            return {"scores": s.mean(axis=0).astype(np.float32), "window_scores": s.astype(np.float32)}
        t = self.plan.n_frames(self.samples)
        den = self._den[:t]
        acts = self._num[:, :t] / np.where(den > 0, den, 1.0)
        return {"activations": acts.astype(np.float32)}


def _blocks(path: str, block_seconds: float, kind: str = "") -> tuple[Iterator[np.ndarray], int, int]:
    """(mono float32 blocks, sample rate, frames the header declares (0: unknown)) streamed with soundfile.

    The file is opened as a file object, as `tfaudio.audio` decodes bytes, so both say the same about a bad
    file; MP3 decoding runs with libmpg123's own stderr lines silenced (`headers.quiet_stderr`).
    """
    import contextlib

    import soundfile as sf

    from tfaudio.headers import decoder_problem, quiet_stderr

    quiet = quiet_stderr if kind == "mp3" else contextlib.nullcontext
    raw = open(path, "rb")
    try:
        with quiet():
            f = sf.SoundFile(raw)
    except Exception as e:  # noqa: BLE001 - any decoder failure becomes one clear line
        raw.close()
        raise AudioFileError(path, decoder_problem(e)) from None
    rate = int(f.samplerate)
    declared = int(f.frames) if 0 < f.frames < 2**62 else 0
    size = max(1, int(round(block_seconds * rate)))

    def gen() -> Iterator[np.ndarray]:
        with raw, f:
            while True:
                try:
                    with quiet():
                        block = f.read(size, dtype="float32", always_2d=True)
                except Exception as e:  # noqa: BLE001
                    raise AudioFileError(path, decoder_problem(e)) from None
                if not len(block):
                    return
                yield block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]

    return gen(), rate, declared


def predict_file(model: Any, spec: RunSpec | None, path: str | os.PathLike,
                 block_seconds: float = DEFAULT_BLOCK_SECONDS,
                 batch_windows: int = DEFAULT_BATCH_WINDOWS) -> Prediction:
    """Predict on an audio file of any length, sample rate and channel count, streamed.

    The file is read in blocks of `block_seconds` (soundfile), downmixed (mean of the channels),
    resampled to `spec.sr` block by block (`StreamResampler`), cut into windows and stitched (see
    the module doc); the result equals `predict_audio` on ``tfaudio.audio.load(path, sr=spec.sr)``
    to float rounding. Formats soundfile cannot read are loaded whole with `tfaudio.audio.load`.
    `model` may be a `Predictor`.

    Raises:
        AudioFileError: missing, empty, unreadable, no samples, NaN/Inf samples ("path: problem").
    """
    from tfaudio import headers

    p = predictor(model, spec, batch_windows)
    path = os.fspath(path)
    if not (math.isfinite(block_seconds) and 0 < block_seconds < 1e6):
        raise TfaudioError(f"block_seconds must be a positive number of seconds, got {block_seconds}")
    kind = headers.check(path)  # the checks of tfaudio.audio.load: truncated or oversized WAV headers, not audio, ...
    try:
        blocks, rate, declared = _blocks(path, block_seconds, kind)
    except AudioFileError:
        from tfaudio import audio as A

        if A.has_tfio():  # formats only tensorflow-io decodes: whole file, in memory
            y, _ = A.load(path, sr=p.spec.sr)
            log.warning("%s: soundfile cannot stream this format; decoded whole", path)
            return predict_audio(p, None, y, source=path)
        raise
    resampler = StreamResampler(rate, p.spec.sr)
    stitcher = _Stitcher(p)
    n_in = 0
    for block in blocks:
        if not np.all(np.isfinite(block)):
            raise AudioFileError(path, "audio contains NaN or Inf samples")
        n_in += len(block)
        stitcher.push(resampler.push(block))
    if n_in == 0:
        raise AudioFileError(path, "contains no audio samples (zero length)")
    if declared and n_in < declared and kind != "mp3":  # soundfile stops quietly where a stream breaks off
        raise AudioFileError(path, f"truncated: the header declares {declared} frames, {n_in} decoded")
    stitcher.push(resampler.flush(), final=True)
    log.debug("%s: %d samples at %d Hz -> %d at %d Hz; largest window buffer %d samples", path, n_in, rate,
              stitcher.samples, p.spec.sr, stitcher.peak_buffer)
    return _result(p, stitcher.result(), stitcher.samples, path)


# --------------------------------------------------------------------------------------------
# writing


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
    from tfaudio import outputs

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


from tfaudio.stream import Stream  # noqa: E402,F401  (streaming inference: tfaudio/stream.py)
