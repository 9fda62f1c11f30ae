"""Streaming inference: audio chunks in, activation frames (or clip window scores) out as soon as they are final.

    stream = open_model("activations").stream(rate=48000, channels=2)   # tfaudio.deploy.loading.open_model: any form
    stream = Stream(model, spec, rate=48000, channels=2)                # or a Keras model and its RunSpec
    for chunk in chunks:                      # float arrays (samples,) or (samples, channels), any size
        out = stream.push(chunk)              # StreamOutput: the rows that became final
        use(out.times, out.values)            # (k,) seconds, (k, classes)
    tail = stream.flush()                     # the end of the stream: the rest

    tfaudio predict MODEL - --stream --rate 48000 --channels 2 < audio.s16le > frames.csv

Imported by `tfaudio.inference.files` (`predict_file` streams a file's blocks), `tfaudio.cli` and
`tfaudio.deploy.loading` (`LoadedModel.stream`).
One chunk at a time: channels are averaged, the audio is resampled to the model's rate block by block
(`tfaudio.io.resample.StreamResampler`: the concatenation equals resampling the whole signal), cut into windows of
`window` samples every `hop` samples, and each window goes through the model as soon as its last sample is
in (the windows of one push in batches of `batch_windows`).

* **Activation models**: window `i` covers frames ``i·h … i·h + F − 1`` (`h` = F/2 frames a hop). Once
  window `i` is in, frames below ``(i + 1)·h`` get no more overlap-add contributions: they are final and
  come out, ``h`` frames a hop, each row the Hann-weighted overlap-add of `predict_file`.
* **Clip models**: each window's class probabilities come out as soon as the window is in (row time: the
  window's start); `scores` is their running mean (= `predict_file`'s clip scores at the end).
* **Latency** (`latency_samples` at the input rate, `latency_seconds`): a frame comes out at most this
  many input samples after its centre sample went in (a clip window: after its first sample): one
  window (frames at the start of a hop wait for the whole window after their centre, the others less),
  plus, when resampling, the resampler's look-ahead (its filter half-width and one input period). For
  seed 001's model at its own rate: 15360 samples, 0.348 s.
* **The tail**: the last windows are zero-padded past the end, so the frames after the last complete
  window (at most ``F`` frames, one window) and, for clips, the last window's scores depend on where
  the stream ends: `flush()` gives them. Everything before `flush()` plus its output equals
  `predict_file` on the same audio (within float rounding of the model, < 1e-5).
* **Memory** is constant for endless input: the window being filled, the resampler's context, the
  overlap-add of one window's frames, and a running sum (clips). Nothing grows with the stream.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import Any, BinaryIO, Iterable, TextIO

import numpy as np

from tfaudio._checks import integer
from tfaudio.io.resample import StreamResampler
from tfaudio.errors import TfaudioError
from tfaudio.io.headers import format_problem
from tfaudio.inference.plan import WindowCutter, ola_weights
from tfaudio.inference.predict import DEFAULT_BATCH_WINDOWS, Predictor, predictor

log = logging.getLogger(__name__)

#: Raw PCM sample formats of `tfaudio predict - --stream` (little-endian, interleaved channels).
SAMPLE_FORMATS = {"s16le": np.dtype("<i2"), "f32le": np.dtype("<f4")}


@dataclasses.dataclass(frozen=True)
class StreamOutput:
    """Rows a `Stream` made final: `values` `(k, classes)` float32 (activation frames, or clip windows'
    probabilities), `times` `(k,)` seconds (frame centres; clip windows' starts), `start` the index of the
    first row (frame or window) in the stream."""

    start: int
    times: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.times)

    @staticmethod
    def concatenate(outputs: Iterable["StreamOutput"]) -> "StreamOutput":
        """One output of several consecutive ones."""
        outputs = [o for o in outputs]
        if not outputs:
            return StreamOutput(0, np.zeros(0), np.zeros((0, 0), np.float32))
        n = outputs[0].values.shape[1]
        return StreamOutput(outputs[0].start, np.concatenate([o.times for o in outputs]),
                            np.concatenate([o.values.reshape(-1, n) for o in outputs]).astype(np.float32))


class Stream:
    """Streaming inference with a loaded model (a `LoadedModel` from `tfaudio.deploy.loading.open_model`, a
    `Predictor`, or a Keras model with its `spec`) on audio at `rate` Hz (default: the model's) with
    `channels` channels. See the module doc: `push(chunk)` -> `StreamOutput`, `flush()` at the end.
    `batch_windows`: most windows per model call (default `tfaudio.inference.DEFAULT_BATCH_WINDOWS`).

    A chunk is a float array `(samples,)` (mono, or interleaved when `channels` > 1) or `(samples,
    channels)`; integer PCM arrays (int16, int32) are scaled to [-1, 1).
    """

    def __init__(self, model: Any, spec: Any = None, rate: int | None = None, channels: int = 1,
                 batch_windows: int | None = None, source: str = "<stream>"):
        batch_windows = DEFAULT_BATCH_WINDOWS if batch_windows is None else batch_windows
        if isinstance(model, (str, os.PathLike)):
            raise TypeError(f"Stream takes a loaded model, not {model!r}: open it first "
                            "(tfaudio.deploy.loading.open_model(MODEL).stream(...))")
        if spec is None and not isinstance(model, Predictor) and hasattr(model, "spec"):  # a LoadedModel
            model, spec = model.model, model.spec
        self._p = predictor(model, spec, batch_windows)
        self.spec = self._p.spec
        self.plan = self._p.plan
        self.classes = tuple(self.spec.classes)
        self.rate = integer("sample rate", self.spec.sr if rate is None else rate)
        self.channels = integer("channels", channels)
        self.source = source  # what errors name: "<stdin>" for `tfaudio predict - --stream`
        problem = format_problem(self.rate, self.channels)  # the header rule of every audio reader
        if problem:
            raise TfaudioError(f"{source}: {problem}")
        self.batch_windows = max(1, int(batch_windows))
        self._resampler = StreamResampler(self.rate, self.spec.sr)
        n = len(self.classes)
        self.cutter = WindowCutter(self.plan)  # model-rate samples in (`cutter.samples`), windows out
        self._n_in = 0  # input samples (per channel) in
        self._chunks = 0
        self._done = False
        if self.plan.activation:
            self._w = ola_weights(self.plan.frames).astype(np.float64)
            self._num = np.zeros((0, n), np.float64)  # frames _f0 ... not yet final
            self._den = np.zeros(0, np.float64)
            self._f0 = 0
        self._sum = np.zeros(n, np.float64)
        self._count = 0

    # ------------------------------------------------------------------ what it is

    @property
    def latency_samples(self) -> int:
        """Input samples (at `rate`) after a frame's centre (a clip window's start) by which the frame is
        out, at the latest: one window, plus the resampler's look-ahead when resampling."""
        return int(math.ceil(self.plan.window * self.rate / self.spec.sr)) + self._resampler.latency

    @property
    def latency_seconds(self) -> float:
        return self.latency_samples / self.rate

    @property
    def samples_in(self) -> int:
        """Input samples (per channel) pushed so far."""
        return self._n_in

    @property
    def buffered(self) -> int:
        """Numbers held in the stream's buffers (samples, overlap-add rows): bounded whatever its length."""
        held = self.cutter.held + self._resampler.held
        if self.plan.activation:
            held += self._num.size + self._den.size
        return held

    @property
    def scores(self) -> np.ndarray:
        """Clip models: the mean of the window probabilities so far `(classes,)` (after `flush()`: the clip's
        scores, as `predict_file`)."""
        return (self._sum / max(self._count, 1)).astype(np.float32)

    @property
    def label(self) -> str | None:
        """Clip models: the top class so far."""
        return self.classes[int(np.argmax(self._sum))] if self._count else None

    # ------------------------------------------------------------------ feeding it

    def _mono(self, chunk: Any) -> np.ndarray:
        x = np.asarray(chunk)
        if x.dtype.kind in "iu":
            if x.dtype.kind == "u":
                raise TfaudioError(f"{self.source}: chunk {self._chunks}: unsigned PCM ({x.dtype}) is not "
                                   "supported; give floats, int16 or int32")
            x = x.astype(np.float32) / np.float32(2 ** (8 * x.dtype.itemsize - 1))
        elif x.dtype.kind != "f":
            raise TfaudioError(f"{self.source}: chunk {self._chunks}: audio must be numbers, not {x.dtype}")
        c = self.channels
        if x.ndim == 1 and c > 1:
            if len(x) % c:
                raise TfaudioError(f"{self.source}: chunk {self._chunks}: {len(x)} interleaved samples are not "
                                   f"whole frames of {c} channels")
            x = x.reshape(-1, c)
        if x.ndim == 2 and x.shape[1] == 1 and c == 1:
            x = x[:, 0]
        if not ((x.ndim == 1 and c == 1) or (x.ndim == 2 and x.shape[1] == c)):
            raise TfaudioError(f"{self.source}: chunk {self._chunks}: shape {x.shape} does not hold {c} channel(s) "
                               f"(give (samples,) or (samples, {c}))")
        x = x.astype(np.float32, copy=False)
        if not np.all(np.isfinite(x)):
            raise TfaudioError(f"{self.source}: chunk {self._chunks}: contains NaN or Inf samples")
        return x.mean(axis=1, dtype=np.float32) if x.ndim == 2 else x

    def push(self, chunk: Any) -> StreamOutput:
        """Add audio; returns the rows that are now final (maybe none)."""
        if self._done:
            raise TfaudioError("this stream has ended (flush() was called); start a new one")
        x = self._mono(chunk)
        self._chunks += 1
        self._n_in += len(x)
        return self._advance(self._resampler.push(x), final=False)

    def flush(self) -> StreamOutput:
        """End the stream: the remaining rows (the tail, which depends on where the audio ends). A stream
        that got no audio gives none."""
        if self._done:
            raise TfaudioError("this stream has ended already")
        self._done = True
        if self._n_in == 0:
            return self._empty()
        return self._advance(self._resampler.flush(), final=True)

    def run(self, chunks: Iterable[Any]) -> StreamOutput:
        """Push every chunk, flush, and return all rows as one output."""
        outs = [self.push(c) for c in chunks]
        outs.append(self.flush())
        return StreamOutput.concatenate(outs)

    # ------------------------------------------------------------------ inside

    def _empty(self) -> StreamOutput:
        start = self._f0 if self.plan.activation else self._count
        return StreamOutput(start, np.zeros(0), np.zeros((0, len(self.classes)), np.float32))

    def _advance(self, y: np.ndarray, final: bool) -> StreamOutput:
        plan = self.plan
        first, pending = self.cutter.push(y, final)
        cap = plan.n_frames(self.cutter.samples) if final and plan.activation else None
        outs = []
        for i in range(0, len(pending), self.batch_windows):
            ys = self._p.windows(np.stack(pending[i:i + self.batch_windows]))
            outs.append(self._take(first + i, ys, cap))
        if final and plan.activation:
            outs.append(self._emit(cap))
        return StreamOutput.concatenate(outs) if outs else self._empty()

    def _take(self, first: int, ys: np.ndarray, cap: int | None) -> StreamOutput:
        """Add the outputs of windows first, first + 1, ...; returns the rows now final."""
        plan = self.plan
        if not plan.activation:
            ys = np.asarray(ys, np.float32)
            self._sum += ys.astype(np.float64).sum(axis=0)
            self._count += len(ys)
            times = (first + np.arange(len(ys))) * (plan.hop / plan.sr)
            return StreamOutput(first, times, ys)
        h, f = plan.frame_hop, plan.frames
        need = (first + len(ys) - 1) * h + f - self._f0
        if need > len(self._den):
            self._num = np.concatenate([self._num, np.zeros((need - len(self._den), self._num.shape[1]))])
            self._den = np.concatenate([self._den, np.zeros(need - len(self._den))])
        for j, pred in enumerate(np.asarray(ys)):
            a = (first + j) * h - self._f0
            self._num[a:a + f] += pred.T.astype(np.float64) * self._w[:, None]
            self._den[a:a + f] += self._w
        upto = (first + len(ys)) * h
        return self._emit(upto if cap is None else min(upto, cap))

    def _emit(self, upto: int) -> StreamOutput:
        """Frames _f0 ... upto - 1 out (they are final)."""
        k = min(upto - self._f0, len(self._den))
        if k <= 0:
            return self._empty()
        den = self._den[:k]
        values = (self._num[:k] / np.where(den > 0, den, 1.0)[:, None]).astype(np.float32)
        start = self._f0
        times = (start + np.arange(k)) * (self.plan.hop_length / self.plan.sr)
        self._num = self._num[k:].copy()
        self._den = self._den[k:].copy()
        self._f0 += k
        return StreamOutput(start, times, values)


# --------------------------------------------------------------------------------------------
# raw PCM in, CSV out (`tfaudio predict MODEL - --stream`)


def _sample_dtype(sample_format: str) -> np.dtype:
    if sample_format not in SAMPLE_FORMATS:
        raise TfaudioError(f"unknown sample format {sample_format!r}; choose one of {list(SAMPLE_FORMATS)}")
    return SAMPLE_FORMATS[sample_format]


def decode_pcm(data: bytes, sample_format: str = "s16le", channels: int = 1) -> np.ndarray:
    """Whole frames of raw little-endian PCM -> float32 `(frames, channels)` in [-1, 1)."""
    dtype = _sample_dtype(sample_format)
    x = np.frombuffer(data, dtype)
    if dtype.kind == "i":
        x = x.astype(np.float32) / np.float32(32768.0)
    return x.astype(np.float32, copy=False).reshape(-1, channels)


def _write_rows(sink: TextIO, out: StreamOutput) -> int:
    """`out` as CSV rows to `sink`, flushed; returns the rows written."""
    if len(out):
        sink.write("".join(f"{t:.6f}," + ",".join(f"{v:.6f}" for v in row) + "\n"
                           for t, row in zip(out.times, out.values)))
        sink.flush()
    return len(out)


#: The most bytes `stream_pcm` reads at a time (a partial frame waits for the next read).
MAX_READ_BYTES = 1 << 16


def stream_pcm(stream: Stream, source: BinaryIO, sink: TextIO, sample_format: str = "s16le",
               block_frames: int = 4096) -> int:
    """Read raw PCM from `source` until it ends, push it through `stream` and write CSV rows to `sink` as
    they become final (header ``time,<class>,...``; flushed after each block). Returns the rows written.

    Reads return as soon as some data is there (`read1`), so a live source is not waited on for whole
    blocks; a partial frame at the end of a read is kept for the next. Memory is constant."""
    frame_bytes = _sample_dtype(sample_format).itemsize * stream.channels
    block_bytes = min(block_frames * frame_bytes, MAX_READ_BYTES)  # bounded, whatever the frame size
    read = getattr(source, "read1", source.read)
    sink.write("time," + ",".join(stream.classes) + "\n")
    sink.flush()
    rest = b""
    rows = 0
    while True:
        data = read(block_bytes)
        if not data:
            break
        data = rest + data
        whole = len(data) - len(data) % frame_bytes
        rest = data[whole:]
        if not whole:
            continue
        rows += _write_rows(sink, stream.push(decode_pcm(data[:whole], sample_format, stream.channels)))
    if rest:
        log.warning("<stdin>: %d trailing byte(s) are not a whole frame of %d channel(s) of %s; ignored", len(rest),
                    stream.channels, sample_format)
    if stream.samples_in == 0:
        stream.flush()
        raise TfaudioError("<stdin>: no audio samples (the input ended at once)")
    return rows + _write_rows(sink, stream.flush())
