"""Images of the waveform (seed 000): the stacked image and (multiresolution) recurrence plots.
Audio `(..., samples)` -> `(..., N, N)`, `(..., samples, samples)` or `(..., size, size, channels)`.

Imported by `tfaudio.features` (which re-exports them) and its registry.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import tensorflow as tf

from tfaudio._checks import integer
from tfaudio.errors import ConfigError
from tfaudio.features.spectral import TensorLike, _audio, _compiled_when_eager, _pad_last


def _side(n: Any) -> Any:
    """Smallest s with s * s >= n (Python int or scalar tensor)."""
    if isinstance(n, int):
        s = math.isqrt(n)
        return s if s * s >= n else s + 1
    s = tf.cast(tf.math.ceil(tf.math.sqrt(tf.cast(n, tf.float64))), tf.int32)
    s = s - tf.cast((s - 1) * (s - 1) >= n, tf.int32)
    return s + tf.cast(s * s < n, tf.int32)


@_compiled_when_eager
def stacked_image(y: TensorLike) -> tf.Tensor:
    """Seed 000's stacking: zero-pad to a perfect square N*N, rows of N consecutive samples: `(..., N, N)`."""
    y = _audio(y)
    n = y.shape[-1] if y.shape[-1] is not None else tf.shape(y)[-1]
    s = _side(n)
    x = _pad_last(y, 0, s * s - n)
    out = tf.reshape(x, tf.concat([tf.shape(y)[:-1], [s, s]], 0))
    if isinstance(s, int):
        out.set_shape(y.shape[:-1].concatenate([s, s]))
    return out


@_compiled_when_eager
def recurrence_plot(y: TensorLike) -> tf.Tensor:
    """R[i, j] = |y[i] - y[j]|: `(..., samples, samples)` (memory grows as samples squared)."""
    y = _audio(y)
    return tf.math.abs(y[..., :, tf.newaxis] - y[..., tf.newaxis, :])


def _mrp_args(window_sizes: Sequence[int], size: int) -> tuple[tuple[int, ...], int]:
    size = integer("size", size)
    sizes = tuple(integer("window_sizes", w) for w in window_sizes)
    if not sizes:
        raise ConfigError("window_sizes must name at least one window size")
    for w in sizes:
        if w % size:
            raise ConfigError(f"window size {w} is not a multiple of size={size}: "
                              "each window is average-pooled by an integer factor")
    return sizes, size


@_compiled_when_eager
def multiresolution_recurrence_plot(y: TensorLike, window_sizes: Sequence[int] = (256, 512, 1024, 2048),
                                    size: int = 128) -> tf.Tensor:
    """Multiresolution recurrence plot (seed 000; Park & Lee, arXiv 1512.07370): `(..., size, size, channels)`.

    For each window size w (one channel each), the recurrence plot of the centred
    w samples (zero-padded when the clip is shorter), average-pooled from w*w to
    size*size. Each w must be a multiple of `size`.
    """
    sizes, size = _mrp_args(window_sizes, size)
    y = _audio(y)
    n = tf.shape(y)[-1]
    lead = tf.shape(y)[:-1]
    channels = []
    for w in sizes:
        short = tf.maximum(w - n, 0)
        x = _pad_last(y, short // 2, short - short // 2)
        start = (tf.shape(x)[-1] - w) // 2
        seg = x[..., start:start + w]
        block = w // size
        seg = tf.reshape(seg, tf.concat([lead, [size, block]], 0))
        rp = tf.math.abs(seg[..., :, :, tf.newaxis, tf.newaxis] - seg[..., tf.newaxis, tf.newaxis, :, :])
        channels.append(tf.math.reduce_mean(rp, axis=[-3, -1]))
    out = tf.stack(channels, axis=-1)
    out.set_shape(y.shape[:-1].concatenate([size, size, len(sizes)]))
    return out
