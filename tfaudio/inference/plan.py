"""The window plan: how audio of any length becomes model windows and how their predictions are stitched.

Imported by the rest of `tfaudio.inference` and by `tfaudio.deploy.export` (through `tfaudio.inference`), so the
SavedModel, `predict_audio`, `predict_file` and `Stream` all cut and stitch the same way:

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
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from tfaudio.errors import TfaudioError
from tfaudio.spec import RunSpec


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


def overlap_add(predictions: tf.Tensor, plan: WindowPlan, total_frames: tf.Tensor) -> tf.Tensor:
    """`(batch, n, instruments, F)` window predictions -> `(batch, instruments, total_frames)`."""
    w = tf.constant(ola_weights(plan.frames))
    x = tf.transpose(predictions, [0, 2, 1, 3]) * w  # (batch, instruments, n, F)
    num = tf.signal.overlap_and_add(x, plan.frame_hop)
    n = tf.shape(predictions)[1]
    den = tf.signal.overlap_and_add(tf.tile(w[None, :], tf.stack([n, 1])), plan.frame_hop)
    out = num / tf.where(den > 0, den, tf.ones_like(den))
    return out[..., :total_frames]


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
        end = plan.n_windows(self.samples) if final else (self.samples - plan.window) // plan.hop + 1
        first, windows = self.next, []
        for s in range(self.next * plan.hop - self._start, end * plan.hop - self._start, plan.hop):
            w = self._buf[s:s + plan.window]
            windows.append(np.pad(w, (0, plan.window - len(w))) if len(w) < plan.window else w.copy())
        self.next = max(self.next, end)
        drop = min(self.next * plan.hop, self._start + len(self._buf)) - self._start
        if drop > 0:  # a copy: the dropped samples are freed, memory stays constant for endless input
            self._buf = self._buf[drop:].copy()
            self._start += drop
        return first, windows
