"""Hand-crafted descriptors, one value per frame as librosa.feature: RMS, zero-crossing rate and the spectral
centroid, bandwidth, roll-off, flatness and flux. Audio `(..., samples)` -> `(..., frames, 1)`.

Imported by `tfaudio.features` (which re-exports them) and its registry.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfaudio._checks import integer, positive
from tfaudio.errors import ConfigError
from tfaudio.features.spectral import TensorLike, _audio, _compiled_when_eager, _pad_last, _spectrum, fft_frequencies

# The hand-crafted spectral features weight far-away bins by (f - centroid)**p, so a
# float32 FFT's rounding floor (~1e-7 of the peak) would dominate them for near-pure
# tones; librosa's FFT is float64 inside. They are computed in float64, returned as float32.
_HAND = tf.float64


def _frames(y: tf.Tensor, frame_length: int, hop_length: int, center: bool, mode: str = "CONSTANT") -> tf.Tensor:
    frame_length = integer("frame_length", frame_length)
    hop_length = integer("hop_length", hop_length)
    if center:
        if mode == "EDGE":
            p = frame_length // 2
            first = tf.repeat(y[..., :1], p, axis=-1)
            last = tf.repeat(y[..., -1:], p, axis=-1)
            y = tf.concat([first, y, last], axis=-1)
        else:
            y = _pad_last(y, frame_length // 2, frame_length // 2)
    return tf.signal.frame(y, frame_length, hop_length)


@_compiled_when_eager
def rms(y: TensorLike, frame_length: int = 2048, hop_length: int = 1024, center: bool = True) -> tf.Tensor:
    """librosa.feature.rms (zero-padded frames): `(..., frames, 1)`."""
    x = _frames(_audio(y), frame_length, hop_length, center)
    return tf.math.sqrt(tf.math.reduce_mean(tf.math.square(x), axis=-1, keepdims=True))


@_compiled_when_eager
def zero_crossing_rate(y: TensorLike, frame_length: int = 2048, hop_length: int = 1024, center: bool = True,
                       threshold: float = 1e-10) -> tf.Tensor:
    """librosa.feature.zero_crossing_rate (edge-padded frames, |y| <= threshold is 0): `(..., frames, 1)`."""
    y = _audio(y)
    negative = tf.cast(y < -threshold, tf.int8)
    x = _frames(negative, frame_length, hop_length, center, mode="EDGE")
    crossings = tf.math.not_equal(x[..., 1:], x[..., :-1])
    count = tf.math.reduce_sum(tf.cast(crossings, tf.float32), axis=-1, keepdims=True)
    return count / float(frame_length)


def _freqs(sr: float, n_fft: int) -> tf.Tensor:
    return tf.constant(fft_frequencies(positive("sr", sr), integer("n_fft", n_fft, 2)), _HAND)


def _l1_normalize(S: tf.Tensor) -> tf.Tensor:
    total = tf.math.reduce_sum(S, axis=-1, keepdims=True)
    tiny = np.finfo(np.float32).tiny  # librosa's threshold for its float32 |X|
    return S / tf.where(total < tiny, tf.ones_like(total), total)


@_compiled_when_eager
def spectral_centroid(y: TensorLike, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024,
                      center: bool = True) -> tf.Tensor:
    """librosa.feature.spectral_centroid in Hz: `(..., frames, 1)`."""
    S = _spectrum(_audio(y), n_fft, hop_length, center, 1.0, _HAND)
    out = tf.tensordot(_l1_normalize(S), _freqs(sr, n_fft), axes=1)[..., tf.newaxis]
    return tf.cast(out, tf.float32)


@_compiled_when_eager
def spectral_bandwidth(y: TensorLike, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024,
                       center: bool = True, p: float = 2.0) -> tf.Tensor:
    """librosa.feature.spectral_bandwidth (order p, normalised) in Hz: `(..., frames, 1)`."""
    p = positive("p", p)
    S = _l1_normalize(_spectrum(_audio(y), n_fft, hop_length, center, 1.0, _HAND))
    f = _freqs(sr, n_fft)
    centroid = tf.tensordot(S, f, axes=1)[..., tf.newaxis]
    deviation = tf.math.abs(f - centroid)
    dev_p = tf.math.square(deviation) if p == 2.0 else tf.math.pow(deviation, p)
    total = tf.math.reduce_sum(S * dev_p, axis=-1, keepdims=True)
    return tf.cast(tf.math.sqrt(total) if p == 2.0 else tf.math.pow(total, 1.0 / p), tf.float32)


@_compiled_when_eager
def spectral_rolloff(y: TensorLike, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024,
                     center: bool = True, roll_percent: float = 0.85) -> tf.Tensor:
    """librosa.feature.spectral_rolloff in Hz: `(..., frames, 1)`."""
    if not 0.0 < roll_percent < 1.0:
        raise ConfigError(f"roll_percent={roll_percent!r} must be strictly between 0 and 1")
    S = tf.cast(_spectrum(_audio(y), n_fft, hop_length, center, 1.0, _HAND), tf.float32)  # float32, as librosa
    cumulative = tf.math.cumsum(S, axis=-1)
    threshold = roll_percent * cumulative[..., -1:]
    f = tf.cast(_freqs(sr, n_fft), tf.float32)
    reached = tf.where(cumulative >= threshold, f, tf.constant(np.inf, tf.float32))
    return tf.math.reduce_min(reached, axis=-1, keepdims=True)


@_compiled_when_eager
def spectral_flatness(y: TensorLike, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
                      amin: float = 1e-10, power: float = 2.0) -> tf.Tensor:
    """librosa.feature.spectral_flatness (geometric over arithmetic mean of |X|**power): `(..., frames, 1)`."""
    S = _spectrum(_audio(y), n_fft, hop_length, center, 1.0, _HAND)
    S = tf.cast(tf.cast(S, tf.float32), _HAND)  # librosa's |X| is float32; the means are taken in float64
    S = tf.math.maximum(S if power == 1.0 else tf.math.pow(S, positive("power", power)), positive("amin", amin))
    gmean = tf.math.exp(tf.math.reduce_mean(tf.math.log(S), axis=-1, keepdims=True))
    return tf.cast(gmean / tf.math.reduce_mean(S, axis=-1, keepdims=True), tf.float32)


@_compiled_when_eager
def spectral_flux(y: TensorLike, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
                  lag: int = 1) -> tf.Tensor:
    """Spectral flux: sum over bins of max(0, |X[t]| - |X[t - lag]|); 0 for the first `lag` frames.

    `(..., frames, 1)`; equals librosa.onset.onset_strength(S=|X|, lag=lag, max_size=1,
    aggregate=np.sum, center=False).
    """
    lag = integer("lag", lag)
    S = _spectrum(_audio(y), n_fft, hop_length, center, 1.0, _HAND)
    diff = tf.nn.relu(S[..., lag:, :] - S[..., :-lag, :])
    flux = tf.math.reduce_sum(diff, axis=-1, keepdims=True)
    paddings = [[0, 0]] * (flux.shape.rank - 2) + [[lag, 0], [0, 0]]
    out = tf.pad(flux, paddings)[..., :tf.shape(S)[-2], :]
    out.set_shape(S.shape[:-1].concatenate([1]))
    return tf.cast(out, tf.float32)
