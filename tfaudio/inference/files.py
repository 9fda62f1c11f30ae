"""Prediction on audio files of any length: `predict_file` (imported by `tfaudio.cli`, `tfaudio.run` and the tests).

A file of any length, rate and channel count is streamed: soundfile blocks, downmix, and a `Stream` at the
file's rate (block-wise resampling whose concatenation equals the whole-file resampling, windows, stitching).
Memory stays bounded by the block (``block_seconds × file rate × channels`` floats), the resampler's context,
a block's windows (the model's activations for `batch_windows` of them at a time) and the result itself
(``instruments × frames`` floats: ~1.4 MB per hour for 8 instruments at 44.1 kHz / hop 1024).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Iterator

import numpy as np

from tfaudio.io import audio, headers
from tfaudio._checks import is_real
from tfaudio.errors import AudioFileError, TfaudioError
from tfaudio.inference.predict import DEFAULT_BATCH_WINDOWS, Prediction, predict_audio, predictor
from tfaudio.inference.stream import Stream, StreamOutput
from tfaudio.spec import RunSpec

log = logging.getLogger(__name__)

#: Seconds of the input file read per block in `predict_file`.
DEFAULT_BLOCK_SECONDS = 30.0


def _blocks(path: str, block_seconds: float, kind: str = "") -> tuple[Iterator[np.ndarray], int, int]:
    """(mono float32 blocks `(n,)`, sample rate, frames the header declares (0: unknown)) streamed with soundfile.

    The file is opened as a file object, as `tfaudio.io.audio` decodes bytes, so both say the same about a bad
    file; MP3 decoding runs with libmpg123's own stderr lines silenced (`headers.quiet_stderr`).
    """
    import soundfile as sf  # lazy: decoding only where files are read

    quiet = headers.quiet_stderr if kind == "mp3" else contextlib.nullcontext
    raw = open(path, "rb")
    try:
        with quiet():
            f = sf.SoundFile(raw)
    except Exception as e:  # noqa: BLE001 - any decoder failure becomes one clear line
        raw.close()
        raise AudioFileError(path, headers.decoder_problem(e)) from None
    rate = int(f.samplerate)
    problem = headers.format_problem(rate, int(f.channels))  # a 1-Hz header would spin for hours
    if problem:
        f.close()
        raw.close()
        raise AudioFileError(path, problem)
    declared = int(f.frames) if 0 < f.frames < 2**62 else 0
    size = max(1, int(round(block_seconds * rate)))

    def gen() -> Iterator[np.ndarray]:
        with raw, f:
            while True:
                try:
                    with quiet():
                        block = f.read(size, dtype="float32", always_2d=True)
                except Exception as e:  # noqa: BLE001
                    raise AudioFileError(path, headers.decoder_problem(e)) from None
                if not len(block):
                    return
                yield block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]

    return gen(), rate, declared


def predict_file(model: Any, spec: RunSpec | None, path: str | os.PathLike,
                 block_seconds: float = DEFAULT_BLOCK_SECONDS,
                 batch_windows: int = DEFAULT_BATCH_WINDOWS) -> Prediction:
    """Predict on an audio file of any length, sample rate and channel count, streamed.

    The file is read in blocks of `block_seconds` (soundfile), downmixed (mean of the channels) and pushed
    through a `Stream` (resampled to `spec.sr` block by block, cut into windows and stitched); the result
    equals `predict_audio` on ``tfaudio.io.audio.load(path, sr=spec.sr)`` to float rounding. Formats soundfile
    cannot read are loaded whole with `tfaudio.io.audio.load`. `model` may be a `Predictor`.

    Raises:
        AudioFileError: missing, empty, unreadable, no samples, NaN/Inf samples ("path: problem").
    """
    p = predictor(model, spec, batch_windows)
    path = os.fspath(path)
    if not (is_real(block_seconds) and 0 < block_seconds < 1e6):
        raise TfaudioError(f"block_seconds must be a positive number of seconds, got {block_seconds}")
    kind = headers.check(path)  # the checks of tfaudio.io.audio.load: truncated or oversized WAV headers, not audio, ...
    try:
        blocks, rate, declared = _blocks(path, block_seconds, kind)
    except AudioFileError:
        if audio.has_tfio():  # formats only tensorflow-io decodes: whole file, in memory
            y, _ = audio.load(path, sr=p.spec.sr)
            log.warning("%s: soundfile cannot stream this format; decoded whole", path)
            return predict_audio(p, None, y, source=path)
        raise
    stream = Stream(p, rate=rate, batch_windows=p.batch_windows)
    outs: list[StreamOutput] = []
    for block in blocks:
        if not np.all(np.isfinite(block)):
            raise AudioFileError(path, "audio contains NaN or Inf samples")
        outs.append(stream.push(block))
    if stream.samples_in == 0:
        raise AudioFileError(path, "contains no audio samples (zero length)")
    if declared and stream.samples_in < declared and kind != "mp3":  # soundfile stops quietly where a stream breaks
        raise AudioFileError(path, f"truncated: the header declares {declared} frames, {stream.samples_in} decoded")
    outs.append(stream.flush())
    out = StreamOutput.concatenate(outs).values
    samples = stream.cutter.samples
    log.debug("%s: %d samples at %d Hz -> %d at %d Hz; largest window buffer %d samples", path, stream.samples_in,
              rate, samples, p.spec.sr, stream.cutter.peak_buffer)
    if p.plan.activation:
        return Prediction.of(p.spec, {"activations": out.T}, samples, path)
    return Prediction.of(p.spec, {"scores": stream.scores, "window_scores": out}, samples, path)
