"""Input handling, the eager fast path, STFT, dB scaling, the mel family (mel, log-mel, MFCC) and frequencies.

The bottom of `tfaudio.features`: `cqt`, `descriptors` and `images` import its helpers, `tfaudio.features`
re-exports its public names and benchmarks/bench_mixing.py times its private stages (`_spectrum`,
`_mel_project`, `_to_db`). Audio `(..., samples)` -> features `(..., frames, bins)`.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence, Union

import numpy as np
import scipy.fft
import tensorflow as tf

from tfaudio._checks import integer, optional_non_negative, positive
from tfaudio.errors import ConfigError
import warnings

TensorLike = Union[tf.Tensor, np.ndarray, Sequence[float]]


# --------------------------------------------------------------------------- input handling


def _fmax(sr: float, fmax: float | None) -> float:
    if fmax is None:
        return sr / 2.0
    fmax = positive("fmax", fmax)
    if fmax > sr / 2.0:
        raise ConfigError(f"fmax={fmax:g} Hz is above the Nyquist frequency {sr / 2:g} Hz of sr={sr:g}; "
                          "pass fmax=None (sr / 2) or a lower value")
    return fmax


def _audio(y: TensorLike) -> tf.Tensor:
    """`y` as a float32 tensor of known rank >= 1."""
    y = tf.convert_to_tensor(y)
    if not y.dtype.is_floating:
        if y.dtype.is_integer:
            y = tf.cast(y, tf.float32)
        else:
            raise ConfigError(f"audio must be a real-valued tensor, not {y.dtype.name}")
    elif y.dtype != tf.float32:
        y = tf.cast(y, tf.float32)
    if y.shape.rank is None or y.shape.rank < 1:
        raise ConfigError(f"audio must have shape (..., samples) with a known rank, not {y.shape}")
    return y


def _pad_last(y: tf.Tensor, left: Any, right: Any, mode: str = "CONSTANT") -> tf.Tensor:
    paddings = [[0, 0]] * (y.shape.rank - 1) + [[left, right]]
    return tf.pad(y, paddings, mode=mode)


def _flatten(y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, list]:
    """(..., n) -> (batch, n); returns the leading shape (dynamic and static) to undo it."""
    lead = tf.shape(y)[:-1]
    static = y.shape[:-1].as_list()
    return tf.reshape(y, tf.concat([[-1], tf.shape(y)[-1:]], 0)), lead, static


def _unflatten(x: tf.Tensor, lead: tf.Tensor, static: list) -> tf.Tensor:
    out = tf.reshape(x, tf.concat([lead, tf.shape(x)[1:]], 0))
    out.set_shape(static + x.shape[1:].as_list())
    return out


# --------------------------------------------------------------------------- the eager fast path


_GRAPHS = 64  # compiled graphs kept per feature function
_EXACT_SHAPES = 8  # input shapes per argument set given a graph of their own, before one for any length


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    hash(value)
    return value


def _compiled_when_eager(fn: Callable) -> Callable:
    """`fn(y, ...)` through a cached `tf.function` when called eagerly (as a user calls it from Python).

    A graph per input shape and set of non-tensor arguments gives exactly the eager result; after
    `_EXACT_SHAPES` shapes of one argument set, further shapes share one graph for any length (equal to
    float32 rounding). At most `_GRAPHS` graphs are kept (oldest dropped). Inside a graph (tf.data, Keras
    layers) `fn` runs as it is. Each module decorates its public functions with it, so a feature that
    calls another (`log_mel` -> `melspectrogram`) calls the decorated one.
    """
    graphs: dict[Any, Callable] = {}
    shapes: dict[Any, int] = {}

    @functools.wraps(fn)
    def wrapper(y: TensorLike, *args: Any, **kwargs: Any) -> tf.Tensor:
        if not tf.executing_eagerly():
            return fn(y, *args, **kwargs)
        y = _audio(y)
        try:
            arguments = (_hashable(args), _hashable(tuple(sorted(kwargs.items()))))
        except TypeError:  # an argument that cannot key a cache: no graph
            return fn(y, *args, **kwargs)
        key = (tuple(y.shape), arguments)
        graph = graphs.get(key)
        if graph is None:
            seen = shapes.get(arguments, 0)
            if seen >= _EXACT_SHAPES:
                key = ((None,) * y.shape.rank, arguments)
                graph = graphs.get(key)
            else:
                shapes[arguments] = seen + 1
        if graph is None:
            if len(graphs) >= _GRAPHS:
                graphs.pop(next(iter(graphs)))
            spec = tf.TensorSpec(key[0], tf.float32)
            graph = tf.function(lambda t: fn(t, *args, **kwargs), input_signature=[spec], autograph=False)
            graphs[key] = graph
        return graph(y)

    wrapper.graphs = graphs  # for tests and benchmarks
    return wrapper


# --------------------------------------------------------------------------- frequencies


def num_frames(samples: int, hop_length: int = 1024, n_fft: int = 2048, center: bool = True) -> int:
    """Frames for `samples` samples: ``1 + samples // hop`` centred, as librosa."""
    if center:
        return 1 + samples // hop_length
    return max(0, 1 + (samples - n_fft) // hop_length)


def fft_frequencies(sr: float = 44100, n_fft: int = 2048) -> np.ndarray:
    """Centre frequencies of the STFT bins, `(1 + n_fft // 2,)` (as librosa)."""
    return np.fft.rfftfreq(n_fft, 1.0 / sr)


_MEL_SP = 200.0 / 3  # Slaney's mel scale: linear (200/3 Hz a mel) below 1 kHz, logarithmic above
_MEL_LOG_HZ, _MEL_LOG_STEP = 1000.0, math.log(6.4) / 27.0


def _hz_to_mel(f: np.ndarray, htk: bool) -> np.ndarray:
    f = np.asanyarray(f, np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    log_mel = _MEL_LOG_HZ / _MEL_SP
    return np.where(f >= _MEL_LOG_HZ, log_mel + np.log(np.maximum(f, 1e-10) / _MEL_LOG_HZ) / _MEL_LOG_STEP,
                    f / _MEL_SP)


def _mel_to_hz(m: np.ndarray, htk: bool) -> np.ndarray:
    m = np.asanyarray(m, np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    log_mel = _MEL_LOG_HZ / _MEL_SP
    return np.where(m >= log_mel, _MEL_LOG_HZ * np.exp(_MEL_LOG_STEP * (m - log_mel)), _MEL_SP * m)


def _mel_points(n: int, fmin: float, fmax: float, htk: bool) -> np.ndarray:
    """librosa.mel_frequencies(n, fmin, fmax, htk): `n` points evenly spaced in mels, in Hz."""
    return _mel_to_hz(np.linspace(_hz_to_mel(fmin, htk), _hz_to_mel(fmax, htk), n), htk)


def mel_frequencies(n_mels: int = 128, fmin: float = 27.5, fmax: float = 20000.0, htk: bool = False) -> np.ndarray:
    """Mel band centre frequencies (librosa.mel_frequencies), `(n_mels,)`."""
    return _mel_points(n_mels + 2, fmin, fmax, htk)[1:-1]


def _mel_filters(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm: Any) -> np.ndarray:
    """librosa.filters.mel (float32), `(n_mels, 1 + n_fft // 2)`, in numpy: librosa itself (and numba with
    it, about 1 s) is imported only for a numeric `norm`."""
    if norm not in (None, "slaney"):
        import librosa  # lazy: librosa (and numba, ~1 s) only where needed

        return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm,
                                   dtype=np.float32)
    weights = np.zeros((n_mels, 1 + n_fft // 2), np.float32)
    points = _mel_points(n_mels + 2, fmin, fmax, htk)
    step = np.diff(points)
    ramps = np.subtract.outer(points, np.fft.rfftfreq(n_fft, 1.0 / sr))
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / step[i], ramps[i + 2] / step[i + 1]))
    if norm == "slaney":
        weights *= (2.0 / (points[2:n_mels + 2] - points[:n_mels]))[:, np.newaxis]
    return weights


def cqt_frequencies(n_bins: int = 192, fmin: float = 27.5, bins_per_octave: int = 24) -> np.ndarray:
    """CQT bin centre frequencies, `(n_bins,)`."""
    return fmin * 2.0 ** (np.arange(n_bins) / bins_per_octave)


# --------------------------------------------------------------------------- STFT family


def _hann(n: int, dtype: tf.DType = tf.float32) -> tf.Tensor:
    return tf.signal.hann_window(n, periodic=True, dtype=dtype)


def _stft(y: tf.Tensor, n_fft: int, hop_length: int, center: bool) -> tf.Tensor:
    """Complex STFT `(..., frames, 1 + n_fft // 2)`, Hann window, librosa framing."""
    n_fft = integer("n_fft", n_fft, 2)
    hop_length = integer("hop_length", hop_length)
    if center:
        y = _pad_last(y, n_fft // 2, n_fft // 2)
    return tf.signal.stft(y, frame_length=n_fft, frame_step=hop_length, fft_length=n_fft,
                          window_fn=_hann, pad_end=False)


def _spectrum(y: tf.Tensor, n_fft: int, hop_length: int, center: bool, power: float,
              dtype: tf.DType = tf.float32) -> tf.Tensor:
    """|STFT| ** power, computed in `dtype`."""
    power = positive("power", power)
    X = _stft(tf.cast(y, dtype), n_fft, hop_length, center)
    if power == 2.0:
        return tf.math.square(tf.math.real(X)) + tf.math.square(tf.math.imag(X))
    S = tf.math.abs(X)
    return S if power == 1.0 else tf.math.pow(S, power)


def _to_db(S: tf.Tensor, factor: float, ref: float, amin: float, top_db: float | None) -> tf.Tensor:
    """factor * log10(max(S, amin) / max(ref, amin)), floored top_db below each example's maximum.

    An example is the last two axes (frames, bins).
    """
    amin = positive("amin", amin)
    ref = positive("ref", ref)
    top_db = optional_non_negative("top_db", top_db)
    scale = factor / math.log(10.0)
    out = scale * tf.math.log(tf.math.maximum(S, amin)) - factor * math.log10(max(ref, amin))
    if top_db is not None:
        axes = [-2, -1] if out.shape.rank >= 2 else [-1]
        peak = tf.math.reduce_max(out, axis=axes, keepdims=True)
        out = tf.math.maximum(out, peak - top_db)
    return out


@_compiled_when_eager
def power_to_db(S: TensorLike, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> tf.Tensor:
    """librosa.power_to_db of `(..., frames, bins)`, with the `top_db` floor taken per example."""
    return _to_db(_audio(S), 10.0, ref, amin, top_db)


@_compiled_when_eager
def amplitude_to_db(S: TensorLike, ref: float = 1.0, amin: float = 1e-5, top_db: float | None = 80.0) -> tf.Tensor:
    """librosa.amplitude_to_db of `(..., frames, bins)`, with the `top_db` floor taken per example."""
    return _to_db(_audio(S), 20.0, ref, amin, top_db)


@_compiled_when_eager
def stft_magnitude(y: TensorLike, n_fft: int = 2048, hop_length: int = 1024, center: bool = True) -> tf.Tensor:
    """|librosa.stft(y)| (periodic Hann), transposed: `(..., frames, 1 + n_fft // 2)`."""
    return tf.math.abs(_stft(_audio(y), n_fft, hop_length, center))


@_compiled_when_eager
def log_stft(y: TensorLike, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
             top_db: float | None = 60.0, ref: float = 1.0, amin: float = 1e-5) -> tf.Tensor:
    """STFT magnitude in dB (amplitude_to_db), floored `top_db` below each example's maximum."""
    return _to_db(stft_magnitude(y, n_fft, hop_length, center), 20.0, ref, amin, top_db)


@functools.lru_cache(maxsize=32)
def _mel_basis(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool,
               norm: Any) -> tuple[np.ndarray, int, int]:
    """librosa's mel filterbank, transposed and cut to its non-zero STFT bins: (M[lo:hi], lo, hi)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "empty filters" is checked below, with a clearer message
        M = _mel_filters(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    empty = np.flatnonzero(~M.any(axis=1))
    if len(empty):
        raise ConfigError(f"{len(empty)} of n_mels={n_mels} mel filters are empty with n_fft={n_fft} "
                          f"between {fmin:g} and {fmax:g} Hz; use fewer mels or a larger n_fft")
    used = np.flatnonzero(M.any(axis=0))
    lo, hi = int(used[0]), int(used[-1]) + 1
    return np.ascontiguousarray(M[:, lo:hi].T), lo, hi


def mel_matrix(sr: float, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None, htk: bool = False,
               norm: Any = "slaney") -> np.ndarray:
    """The mel filterbank the mel features use, dense: `(1 + n_fft // 2, n_mels)` float32 (librosa.filters.mel
    transposed), for graphs that cannot take the block-sparse projection (the ONNX front end)."""
    args = _mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    M, lo, hi = _mel_basis(*args)
    full = np.zeros((1 + args[1] // 2, args[2]), np.float32)
    full[lo:hi] = M
    return full


def _mel_args(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool,
              norm: Any) -> tuple[float, int, int, float, float, bool, Any]:
    """The mel filterbank's arguments, checked and cleaned: `_mel_basis`' and `_mel_blocks`' key."""
    sr = positive("sr", sr)
    fmin = float(fmin)
    if fmin < 0:
        raise ConfigError(f"fmin={fmin!r} must be >= 0")
    fmax = _fmax(sr, fmax)
    if fmin >= fmax:
        raise ConfigError(f"fmin={fmin:g} must be below fmax={fmax:g}")
    if norm is not None and norm != "slaney":
        norm = float(norm)
    return sr, integer("n_fft", n_fft, 2), integer("n_mels", n_mels), fmin, fmax, bool(htk), norm


_MEL_GROUP = 16  # mel bands per block of the block-sparse projection


@functools.lru_cache(maxsize=32)
def _mel_blocks(*args: Any) -> tuple[tuple[int, int, np.ndarray], ...]:
    """The mel filterbank as blocks of `_MEL_GROUP` bands, each with the STFT bins it covers: a triangle
    filterbank is mostly zeros, so projecting block by block does a fraction of the dense product's work
    (measured 1.7x faster on 128 bands of a 2048-point STFT)."""
    M, lo, _ = _mel_basis(*args)
    blocks = []
    for first in range(0, M.shape[1], _MEL_GROUP):
        cols = M[:, first:first + _MEL_GROUP]
        used = np.flatnonzero(cols.any(axis=1))
        a, b = int(used[0]), int(used[-1]) + 1
        blocks.append((lo + a, lo + b, np.ascontiguousarray(cols[a:b])))
    return tuple(blocks)


def _mel_project(S: tf.Tensor, blocks: Sequence[tuple[int, int, np.ndarray]]) -> tf.Tensor:
    """`S` `(..., bins)` through the block-sparse filterbank: `(..., n_mels)`."""
    flat = tf.reshape(S, [-1, tf.shape(S)[-1]])
    out = tf.concat([tf.matmul(flat[:, a:b], tf.constant(W)) for a, b, W in blocks], axis=1)
    lead = tf.shape(S)[:-1]
    out = tf.reshape(out, tf.concat([lead, [sum(W.shape[1] for _, _, W in blocks)]], 0))
    out.set_shape(S.shape[:-1].concatenate([sum(W.shape[1] for _, _, W in blocks)]))
    return out


@_compiled_when_eager
def melspectrogram(y: TensorLike, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024,
                   n_mels: int = 128, fmin: float = 27.5, fmax: float | None = 20000.0, power: float = 2.0,
                   htk: bool = False, norm: Any = "slaney", center: bool = True) -> tf.Tensor:
    """librosa.feature.melspectrogram (Slaney scale and norm by default): `(..., frames, n_mels)`."""
    blocks = _mel_blocks(*_mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm))
    S = _spectrum(_audio(y), n_fft, hop_length, center, power)
    return _mel_project(S, blocks)


@_compiled_when_eager
def log_mel(y: TensorLike, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024, n_mels: int = 128,
            fmin: float = 27.5, fmax: float | None = 20000.0, power: float = 2.0, htk: bool = False,
            norm: Any = "slaney", center: bool = True, top_db: float | None = 60.0, ref: float = 1.0,
            amin: float = 1e-10) -> tf.Tensor:
    """Mel power in dB (librosa.power_to_db, ref=1.0), floored `top_db` below each example's maximum.

    `(..., frames, n_mels)`. `ref` and `amin` are in power units; with power=1 the
    amplitude is converted as amplitude_to_db(ref, amin=sqrt(amin)) would.
    """
    S = melspectrogram(y, sr, n_fft, hop_length, n_mels, fmin, fmax, power, htk, norm, center)
    power = float(power)
    return _to_db(S, 20.0 / power, ref ** (power / 2.0), amin ** (power / 2.0), top_db)


@_compiled_when_eager
def log10_mel(y: TensorLike, sr: float = 16000, n_fft: int = 512, hop_length: int = 256, n_mels: int = 96,
              fmin: float = 0.0, fmax: float | None = None, power: float = 2.0, htk: bool = False,
              norm: Any = "slaney", center: bool = True, gain: float = 10000.0) -> tf.Tensor:
    """log10(1 + gain · mel power): musicnn's front end (Pons & Serra 2019), `(..., frames, n_mels)`.

    The defaults are musicnn's (16 kHz, 512/256, 96 bands, librosa's mel); no per-example floor.
    """
    S = melspectrogram(y, sr, n_fft, hop_length, n_mels, fmin, fmax, power, htk, norm, center)
    return tf.math.log1p(float(gain) * S) / np.log(10.0)


@functools.lru_cache(maxsize=32)
def dct_matrix(n_mels: int, n_mfcc: int, dct_type: int, norm: str | None, lifter: float) -> np.ndarray:
    """The MFCCs' (liftered) DCT as a matrix `(n_mels, n_mfcc)`; checks its arguments first."""
    n_mfcc = integer("n_mfcc", n_mfcc)
    if n_mfcc > n_mels:
        raise ConfigError(f"n_mfcc={n_mfcc} must not exceed n_mels={n_mels}")
    if dct_type not in (1, 2, 3, 4):
        raise ConfigError(f"dct_type={dct_type!r} must be 1, 2, 3 or 4")
    if lifter < 0:
        raise ConfigError(f"lifter={lifter!r} must be >= 0")
    D = scipy.fft.dct(np.eye(n_mels), type=int(dct_type), norm=norm, axis=0)[:n_mfcc]  # (n_mfcc, n_mels)
    if lifter > 0:
        D = D * (1 + (lifter / 2) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter))[:, None]
    return np.ascontiguousarray(D.T.astype(np.float32))  # (n_mels, n_mfcc)


@_compiled_when_eager
def mfcc(y: TensorLike, sr: float = 44100, n_mfcc: int = 20, n_fft: int = 2048, hop_length: int = 1024,
         n_mels: int = 128, fmin: float = 27.5, fmax: float | None = 20000.0, htk: bool = False,
         mel_norm: Any = "slaney", center: bool = True, top_db: float | None = 80.0, dct_type: int = 2,
         norm: str | None = "ortho", lifter: float = 0.0) -> tf.Tensor:
    """librosa.feature.mfcc: DCT of the log-mel power (top_db=80 as librosa): `(..., frames, n_mfcc)`."""
    D = dct_matrix(int(n_mels), n_mfcc, dct_type, norm, lifter)
    S = log_mel(y, sr, n_fft, hop_length, n_mels, fmin, fmax, 2.0, htk, mel_norm, center, top_db)
    return tf.tensordot(S, tf.constant(D), axes=1)
