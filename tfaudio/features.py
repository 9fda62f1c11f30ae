"""Audio features computed inside TensorFlow graphs, matching librosa.

Every function takes audio of shape `(..., samples)` (a `tf.Tensor` or an
ndarray, cast to float32) and returns a float32 `tf.Tensor`, time-major:
`(..., frames, bins)`. Keyword names follow librosa's. Frames are centred as
librosa's ``center=True`` with zero padding (librosa >= 0.10's
``pad_mode='constant'``), so `n` samples give ``1 + n // hop_length`` frames.
Features with one value per frame (RMS, spectral centroid, ...) return
`(..., frames, 1)`.

Each function has a registered, serializable Keras layer that gives the same
numbers (`LogMel`, `CQT`, ...). The layers never autocast their input: they
compute in float32, take logarithms in float32 and cast only the result to the
layer's compute dtype, so they work under a ``mixed_float16`` policy.

Constant matrices (mel filterbank, CQT kernels, resampling filters) are built
once with numpy/librosa, on first use, and cached.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from tfaudio.errors import ConfigError

__all__ = [
    "stft_magnitude", "log_stft", "melspectrogram", "log_mel", "mfcc", "cqt", "log_cqt",
    "power_to_db", "amplitude_to_db",
    "rms", "zero_crossing_rate", "spectral_centroid", "spectral_bandwidth", "spectral_rolloff",
    "spectral_flatness", "spectral_flux",
    "stacked_image", "recurrence_plot", "multiresolution_recurrence_plot",
    "fft_frequencies", "mel_frequencies", "cqt_frequencies", "num_frames",
    "STFTMagnitude", "LogSTFT", "MelSpectrogram", "LogMel", "MFCC", "CQT", "LogCQT",
    "RMS", "ZeroCrossingRate", "SpectralCentroid", "SpectralBandwidth", "SpectralRolloff",
    "SpectralFlatness", "SpectralFlux", "StackedImage", "RecurrencePlot",
    "MultiresolutionRecurrencePlot",
]

TensorLike = Union[tf.Tensor, np.ndarray, Sequence[float]]


# --------------------------------------------------------------------------- checks


def _int(name: str, value: Any, minimum: int = 1) -> int:
    try:
        ok = not isinstance(value, (bool, np.bool_)) and int(value) == value and int(value) >= minimum
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _positive(name: str, value: Any) -> float:
    try:
        ok = not isinstance(value, (bool, np.bool_)) and bool(np.isfinite(value)) and float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"{name}={value!r} must be a positive number")
    return float(value)


def _top_db(top_db: float | None) -> float | None:
    if top_db is None:
        return None
    if not np.isfinite(top_db) or top_db < 0:
        raise ConfigError(f"top_db={top_db!r} must be a non-negative number or None")
    return float(top_db)


def _fmax(sr: float, fmax: float | None) -> float:
    if fmax is None:
        return sr / 2.0
    fmax = _positive("fmax", fmax)
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
        import librosa

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


# The hand-crafted spectral features weight far-away bins by (f - centroid)**p, so a
# float32 FFT's rounding floor (~1e-7 of the peak) would dominate them for near-pure
# tones; librosa's FFT is float64 inside. They are computed in float64, returned as float32.
_HAND = tf.float64


def _stft(y: tf.Tensor, n_fft: int, hop_length: int, center: bool) -> tf.Tensor:
    """Complex STFT `(..., frames, 1 + n_fft // 2)`, Hann window, librosa framing."""
    n_fft = _int("n_fft", n_fft, 2)
    hop_length = _int("hop_length", hop_length)
    if center:
        y = _pad_last(y, n_fft // 2, n_fft // 2)
    return tf.signal.stft(y, frame_length=n_fft, frame_step=hop_length, fft_length=n_fft,
                          window_fn=_hann, pad_end=False)


def _spectrum(y: tf.Tensor, n_fft: int, hop_length: int, center: bool, power: float,
              dtype: tf.DType = tf.float32) -> tf.Tensor:
    """|STFT| ** power, computed in `dtype`."""
    power = _positive("power", power)
    X = _stft(tf.cast(y, dtype), n_fft, hop_length, center)
    if power == 2.0:
        return tf.math.square(tf.math.real(X)) + tf.math.square(tf.math.imag(X))
    S = tf.math.abs(X)
    return S if power == 1.0 else tf.math.pow(S, power)


def _to_db(S: tf.Tensor, factor: float, ref: float, amin: float, top_db: float | None) -> tf.Tensor:
    """factor * log10(max(S, amin) / max(ref, amin)), floored top_db below each example's maximum.

    An example is the last two axes (frames, bins).
    """
    amin = _positive("amin", amin)
    ref = _positive("ref", ref)
    top_db = _top_db(top_db)
    scale = factor / math.log(10.0)
    out = scale * tf.math.log(tf.math.maximum(S, amin)) - factor * math.log10(max(ref, amin))
    if top_db is not None:
        axes = [-2, -1] if out.shape.rank >= 2 else [-1]
        peak = tf.math.reduce_max(out, axis=axes, keepdims=True)
        out = tf.math.maximum(out, peak - top_db)
    return out


def power_to_db(S: TensorLike, ref: float = 1.0, amin: float = 1e-10, top_db: float | None = 80.0) -> tf.Tensor:
    """librosa.power_to_db of `(..., frames, bins)`, with the `top_db` floor taken per example."""
    return _to_db(_audio(S), 10.0, ref, amin, top_db)


def amplitude_to_db(S: TensorLike, ref: float = 1.0, amin: float = 1e-5, top_db: float | None = 80.0) -> tf.Tensor:
    """librosa.amplitude_to_db of `(..., frames, bins)`, with the `top_db` floor taken per example."""
    return _to_db(_audio(S), 20.0, ref, amin, top_db)


def stft_magnitude(y: TensorLike, n_fft: int = 2048, hop_length: int = 1024, center: bool = True) -> tf.Tensor:
    """|librosa.stft(y)| (periodic Hann), transposed: `(..., frames, 1 + n_fft // 2)`."""
    return tf.math.abs(_stft(_audio(y), n_fft, hop_length, center))


def log_stft(y: TensorLike, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
             top_db: float | None = 60.0, ref: float = 1.0, amin: float = 1e-5) -> tf.Tensor:
    """STFT magnitude in dB (amplitude_to_db), floored `top_db` below each example's maximum."""
    return _to_db(stft_magnitude(y, n_fft, hop_length, center), 20.0, ref, amin, top_db)


@functools.lru_cache(maxsize=32)
def _mel_basis(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool,
               norm: Any) -> tuple[np.ndarray, int, int]:
    """librosa's mel filterbank, transposed and cut to its non-zero STFT bins: (M[lo:hi], lo, hi)."""
    import warnings

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


def _mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    sr = _positive("sr", sr)
    fmin = float(fmin)
    if fmin < 0:
        raise ConfigError(f"fmin={fmin!r} must be >= 0")
    fmax = _fmax(sr, fmax)
    if fmin >= fmax:
        raise ConfigError(f"fmin={fmin:g} must be below fmax={fmax:g}")
    if norm is not None and norm != "slaney":
        norm = float(norm)
    return sr, _int("n_fft", n_fft, 2), _int("n_mels", n_mels), fmin, fmax, bool(htk), norm


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


def melspectrogram(y: TensorLike, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024,
                   n_mels: int = 128, fmin: float = 27.5, fmax: float | None = 20000.0, power: float = 2.0,
                   htk: bool = False, norm: Any = "slaney", center: bool = True) -> tf.Tensor:
    """librosa.feature.melspectrogram (Slaney scale and norm by default): `(..., frames, n_mels)`."""
    blocks = _mel_blocks(*_mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm))
    S = _spectrum(_audio(y), n_fft, hop_length, center, power)
    return _mel_project(S, blocks)


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


@functools.lru_cache(maxsize=32)
def _dct_matrix(n_mels: int, n_mfcc: int, dct_type: int, norm: str | None, lifter: float) -> np.ndarray:
    import scipy.fft

    D = scipy.fft.dct(np.eye(n_mels), type=dct_type, norm=norm, axis=0)[:n_mfcc]  # (n_mfcc, n_mels)
    if lifter > 0:
        D = D * (1 + (lifter / 2) * np.sin(np.pi * np.arange(1, 1 + n_mfcc) / lifter))[:, None]
    return np.ascontiguousarray(D.T.astype(np.float32))  # (n_mels, n_mfcc)


def mfcc(y: TensorLike, sr: float = 44100, n_mfcc: int = 20, n_fft: int = 2048, hop_length: int = 1024,
         n_mels: int = 128, fmin: float = 27.5, fmax: float | None = 20000.0, htk: bool = False,
         mel_norm: Any = "slaney", center: bool = True, top_db: float | None = 80.0, dct_type: int = 2,
         norm: str | None = "ortho", lifter: float = 0.0) -> tf.Tensor:
    """librosa.feature.mfcc: DCT of the log-mel power (top_db=80 as librosa): `(..., frames, n_mfcc)`."""
    n_mfcc = _int("n_mfcc", n_mfcc)
    if n_mfcc > n_mels:
        raise ConfigError(f"n_mfcc={n_mfcc} must not exceed n_mels={n_mels}")
    if dct_type not in (1, 2, 3, 4):
        raise ConfigError(f"dct_type={dct_type!r} must be 1, 2, 3 or 4")
    if lifter < 0:
        raise ConfigError(f"lifter={lifter!r} must be >= 0")
    S = log_mel(y, sr, n_fft, hop_length, n_mels, fmin, fmax, 2.0, htk, mel_norm, center, top_db)
    D = _dct_matrix(int(n_mels), n_mfcc, int(dct_type), norm, float(lifter))
    return tf.tensordot(S, tf.constant(D), axes=1)


# --------------------------------------------------------------------------- CQT


_FAST_SIZES: np.ndarray | None = None


def _fast_fft_sizes() -> np.ndarray:
    """5-smooth multiples of 4 up to 2**28: FFT lengths that TensorFlow computes quickly."""
    global _FAST_SIZES
    if _FAST_SIZES is None:
        limit = 1 << 28
        sizes = []
        p2 = 4
        while p2 <= limit:
            p3 = p2
            while p3 <= limit:
                p5 = p3
                while p5 <= limit:
                    sizes.append(p5)
                    p5 *= 5
                p3 *= 3
            p2 *= 2
        _FAST_SIZES = np.array(sorted(sizes), np.int32)
    return _FAST_SIZES


def _fast_size(n: Any) -> Any:
    """The smallest fast FFT length >= n (Python int or scalar tensor)."""
    table = _fast_fft_sizes()
    if isinstance(n, int):
        return int(table[min(int(np.searchsorted(table, n)), len(table) - 1)])
    t = tf.constant(table)
    i = tf.searchsorted(t, tf.reshape(tf.cast(n, tf.int32), [1]), side="left")[0]
    return tf.gather(t, tf.minimum(i, tf.size(t) - 1))


@functools.lru_cache(maxsize=8)
def _resample_taps(factor: int, res_type: str) -> tuple[np.ndarray, int]:
    """The FIR filter of librosa.resample(orig_sr=factor, target_sr=1, res_type, scale=True).

    soxr's integer-ratio decimators are linear and time-invariant, so their impulse
    responses (one per input phase) give taps `g` with
    ``out[m] = sum_d g[d] * x[factor * m - d]``. Returns (taps, c) with ``taps[j] = g[j - c]``.
    """
    import librosa

    n = 8192 * factor
    k0 = (n // 2) // factor * factor
    g: dict[int, float] = {}
    for r in range(factor):
        x = np.zeros(n)
        x[k0 + r] = 1.0
        out = librosa.resample(x, orig_sr=factor, target_sr=1, res_type=res_type, scale=True)
        for m, v in enumerate(out):
            g[factor * m - (k0 + r)] = v
    d = np.array(sorted(g))
    v = np.array([g[i] for i in d])
    keep = np.flatnonzero(np.abs(v) > 1e-7 * np.abs(v).max())  # below that: soxr's rounding noise
    d, v = d[keep[0]:keep[-1] + 1], v[keep[0]:keep[-1] + 1]
    return v.astype(np.float32), int(-d[0])


def _taps_spectrum(taps: np.ndarray, c: int, length: int) -> np.ndarray:
    """rfft of the taps, advanced by c samples, at FFT length `length` (complex64)."""
    k = np.arange(length // 2 + 1)
    return (np.fft.rfft(taps.astype(np.float64), length) * np.exp(2j * np.pi * k * c / length)).astype(np.complex64)


def _decimate(y: tf.Tensor, taps: np.ndarray, c: int, factor: int) -> tf.Tensor:
    """`(batch, n)` -> `(batch, ceil(n / factor))`: FIR filter then keep every factor-th sample.

    Samples outside the input are zeros and the output stops at ceil(n / factor), as
    librosa.resample does (so a short clip's filter tails are cut, as in librosa);
    like soxr, samples from round(n / factor) on are zeros. For factor 2 (where the
    two agree) the spectrum is folded so that the inverse FFT is half as long.
    """
    n = y.shape[-1]
    static = n is not None
    if not static:
        n = tf.shape(y)[-1]
    m = (n + factor - 1) // factor
    length = _fast_size(n + len(taps) - 1)  # no wrap-around: linear convolution
    if static:
        kernel = tf.constant(_taps_spectrum(taps, c, length))
    else:  # advance by c samples: out[m] = full[c + factor * m]
        k = tf.cast(tf.range(length // 2 + 1), tf.float64)
        phase = 2 * np.pi * k * c / tf.cast(length, tf.float64)
        shift = tf.complex(tf.cast(tf.cos(phase), tf.float32), tf.cast(tf.sin(phase), tf.float32))
        kernel = tf.signal.rfft(tf.constant(taps), fft_length=[length]) * shift
    spec = tf.signal.rfft(y, fft_length=[length]) * kernel  # (batch, length // 2 + 1)
    if factor == 2:  # DFT of the even samples: (W[k] + conj(W[length / 2 - k])) / 2, k <= length / 4
        quarter = length // 4
        folded = 0.5 * (spec[:, :quarter + 1] + tf.math.conj(tf.reverse(spec[:, quarter:], axis=[1])))
        return tf.signal.irfft(folded, fft_length=[length // 2])[:, :m]
    full = tf.signal.irfft(spec, fft_length=[length])
    # soxr returns round(n / factor) samples; librosa pads them with zeros to ceil(n / factor)
    kept = (n + factor // 2) // factor
    out = full[:, :factor * kept:factor]
    return tf.pad(out, [[0, 0], [0, m - kept]])


class _CQTPlan:
    """librosa.vqt's recursive plan, with its constants: per octave, the sparse filter FFT."""

    def __init__(self, sr: float, hop_length: int, fmin: float, n_bins: int, bins_per_octave: int,
                 filter_scale: float, sparsity: float, res_type: str):
        import librosa

        self.n_bins = n_bins
        freqs = cqt_frequencies(n_bins, fmin, bins_per_octave)
        if n_bins > 1:
            logf = np.log2(freqs)
            bpo = np.empty_like(freqs)
            bpo[0] = 1 / (logf[1] - logf[0])
            bpo[-1] = 1 / (logf[-1] - logf[-2])
            bpo[1:-1] = 2 / (logf[2:] - logf[:-2])
        else:
            bpo = np.full(1, float(bins_per_octave))
        alpha = (2.0 ** (2 / bpo) - 1) / (2.0 ** (2 / bpo) + 1)
        lengths, cutoff = librosa.filters.wavelet_lengths(freqs=freqs, sr=sr, window="hann",
                                                          filter_scale=filter_scale, gamma=0, alpha=alpha)
        if cutoff > sr / 2:
            raise ConfigError(f"the CQT's top filter reaches {cutoff:.0f} Hz, above the Nyquist frequency "
                              f"{sr / 2:g} Hz of sr={sr:g}; use fewer bins or a lower fmin")
        n_octaves = int(np.ceil(n_bins / bins_per_octave))
        n_filters = min(bins_per_octave, n_bins)
        # librosa's early downsampling
        count1 = max(0, int(np.ceil(np.log2(sr / 2 / cutoff)) - 1) - 1)
        twos = 0
        h = hop_length
        while h % 2 == 0 and h > 0:
            h //= 2
            twos += 1
        count2 = max(0, twos - n_octaves + 1)
        early = min(count1, count2)
        self.early = None
        if early > 0:
            factor = 2 ** early
            if hop_length % factor:
                early = 0
            else:
                self.early = (*_resample_taps(factor, res_type), factor)
                sr /= factor
                hop_length //= factor
                # librosa scales by the filter lengths at the downsampled rate
                lengths, _ = librosa.filters.wavelet_lengths(freqs=freqs, sr=sr, window="hann",
                                                             filter_scale=filter_scale, gamma=0, alpha=alpha)
        # per octave: (decimate first, n_fft, hop, first and last + 1 STFT bin used, real filter matrix)
        self.octaves: list[tuple[bool, int, int, int, int, np.ndarray]] = []
        my_sr, my_hop, decimate = sr, hop_length, False
        for i in range(n_octaves):
            sl = slice(-n_filters * (i + 1), None if i == 0 else -n_filters * i)
            basis, blen = librosa.filters.wavelet(freqs=freqs[sl], sr=my_sr, filter_scale=filter_scale, norm=1,
                                                  pad_fft=True, window="hann", gamma=0, alpha=alpha[sl])
            n_fft = basis.shape[1]
            basis *= blen[:, np.newaxis] / float(n_fft)
            fft_basis = np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
            fft_basis = librosa.util.sparsify_rows(fft_basis, quantile=sparsity, dtype=np.complex64).toarray()
            fft_basis *= np.sqrt(sr / my_sr)
            # [Re D, Im D] @ [[Re B, Im B], [-Im B, Re B]] = [Re, Im] of D @ B, as one real matmul
            # (only the STFT bins where some filter of the octave is non-zero)
            used = np.flatnonzero(np.any(fft_basis != 0, axis=0))
            lo, hi = int(used[0]), int(used[-1]) + 1
            b = fft_basis[:, lo:hi].T.astype(np.complex64)
            real = np.block([[b.real, b.imag], [-b.imag, b.real]]).astype(np.float32)
            self.octaves.append((decimate, n_fft, my_hop, lo, hi, np.ascontiguousarray(real)))
            decimate = my_hop % 2 == 0
            if decimate:
                my_hop //= 2
                my_sr /= 2.0
        self.taps = _resample_taps(2, res_type) if any(o[0] for o in self.octaves) else None
        self.inv_sqrt_lengths = (1.0 / np.sqrt(lengths)).astype(np.float32)

    def __call__(self, y: tf.Tensor) -> tf.Tensor:
        """`(batch, samples)` float32 -> `(batch, frames, n_bins)` magnitudes."""
        if self.early is not None:
            taps, c, factor = self.early
            y = _decimate(y, taps, c, factor)
        responses = []
        for decimate, n_fft, hop, lo, hi, basis in self.octaves:
            if decimate:
                y = _decimate(y, self.taps[0], self.taps[1], 2)
            frames = tf.signal.frame(_pad_last(y, n_fft // 2, n_fft // 2), n_fft, hop)
            D = tf.signal.rfft(frames, fft_length=[n_fft])[..., lo:hi]  # (batch, frames, used bins)
            D = tf.concat([tf.math.real(D), tf.math.imag(D)], axis=-1)
            responses.append(tf.tensordot(D, tf.constant(basis), axes=1))  # (batch, frames, 2 * bins)
        if all(r.shape[1] is not None for r in responses):
            n = min(r.shape[1] for r in responses)
        else:
            n = tf.reduce_min(tf.stack([tf.shape(r)[1] for r in responses]))
        responses = [r[:, :n] for r in reversed(responses)]
        half = [r.shape[-1] // 2 for r in responses]
        re = tf.concat([r[..., :h] for r, h in zip(responses, half)], axis=-1)[..., -self.n_bins:]
        im = tf.concat([r[..., h:] for r, h in zip(responses, half)], axis=-1)[..., -self.n_bins:]
        return tf.math.sqrt(tf.math.square(re) + tf.math.square(im)) * tf.constant(self.inv_sqrt_lengths)


@functools.lru_cache(maxsize=16)
def _cqt_plan(sr: float, hop_length: int, fmin: float, n_bins: int, bins_per_octave: int,
              filter_scale: float, sparsity: float, res_type: str) -> _CQTPlan:
    return _CQTPlan(sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, sparsity, res_type)


def _cqt_args(sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, sparsity, res_type):
    if not str(res_type).startswith("soxr"):
        raise ConfigError(f"res_type={res_type!r}: only librosa's soxr resamplers ('soxr_hq', ...) are supported")
    if not 0 <= sparsity < 1:
        raise ConfigError(f"sparsity={sparsity!r} must be in [0, 1)")
    return (_positive("sr", sr), _int("hop_length", hop_length), _positive("fmin", fmin), _int("n_bins", n_bins),
            _int("bins_per_octave", bins_per_octave), _positive("filter_scale", filter_scale), float(sparsity),
            str(res_type))


def cqt(y: TensorLike, sr: float = 44100, hop_length: int = 1024, fmin: float = 27.5, n_bins: int = 192,
        bins_per_octave: int = 24, filter_scale: float = 1.0, sparsity: float = 0.01,
        res_type: str = "soxr_hq") -> tf.Tensor:
    """|librosa.cqt(y)| with its defaults (tuning 0, Hann, L1 norm, scale=True): `(..., frames, n_bins)`.

    librosa's recursive algorithm, in the graph: per octave, one FFT frame per hop
    multiplied by the octave's sparse filter spectra, the signal halved between
    octaves by soxr's own decimation filter (its impulse response, measured once
    through librosa.resample). So it also reproduces librosa on clips shorter than
    the lowest filters (1.3 s at 27.5 Hz), where each halving drops the filter tails
    past the clip's end.
    """
    plan = _cqt_plan(*_cqt_args(sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, sparsity, res_type))
    flat, lead, static = _flatten(_audio(y))
    return _unflatten(plan(flat), lead, static)


def log_cqt(y: TensorLike, sr: float = 44100, hop_length: int = 1024, fmin: float = 27.5, n_bins: int = 192,
            bins_per_octave: int = 24, filter_scale: float = 1.0, sparsity: float = 0.01,
            res_type: str = "soxr_hq", top_db: float | None = 60.0, ref: float = 1.0,
            amin: float = 1e-5) -> tf.Tensor:
    """CQT magnitude in dB (amplitude_to_db), floored `top_db` below each example's maximum."""
    C = cqt(y, sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, sparsity, res_type)
    return _to_db(C, 20.0, ref, amin, top_db)


# --------------------------------------------------------------------------- hand-crafted features


def _frames(y: tf.Tensor, frame_length: int, hop_length: int, center: bool, mode: str = "CONSTANT") -> tf.Tensor:
    frame_length = _int("frame_length", frame_length)
    hop_length = _int("hop_length", hop_length)
    if center:
        if mode == "EDGE":
            p = frame_length // 2
            first = tf.repeat(y[..., :1], p, axis=-1)
            last = tf.repeat(y[..., -1:], p, axis=-1)
            y = tf.concat([first, y, last], axis=-1)
        else:
            y = _pad_last(y, frame_length // 2, frame_length // 2)
    return tf.signal.frame(y, frame_length, hop_length)


def rms(y: TensorLike, frame_length: int = 2048, hop_length: int = 1024, center: bool = True) -> tf.Tensor:
    """librosa.feature.rms (zero-padded frames): `(..., frames, 1)`."""
    x = _frames(_audio(y), frame_length, hop_length, center)
    return tf.math.sqrt(tf.math.reduce_mean(tf.math.square(x), axis=-1, keepdims=True))


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
    return tf.constant(fft_frequencies(_positive("sr", sr), _int("n_fft", n_fft, 2)), _HAND)


def _l1_normalize(S: tf.Tensor) -> tf.Tensor:
    total = tf.math.reduce_sum(S, axis=-1, keepdims=True)
    tiny = np.finfo(np.float32).tiny  # librosa's threshold for its float32 |X|
    return S / tf.where(total < tiny, tf.ones_like(total), total)


def spectral_centroid(y: TensorLike, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024,
                      center: bool = True) -> tf.Tensor:
    """librosa.feature.spectral_centroid in Hz: `(..., frames, 1)`."""
    S = _spectrum(_audio(y), n_fft, hop_length, center, 1.0, _HAND)
    out = tf.tensordot(_l1_normalize(S), _freqs(sr, n_fft), axes=1)[..., tf.newaxis]
    return tf.cast(out, tf.float32)


def spectral_bandwidth(y: TensorLike, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024,
                       center: bool = True, p: float = 2.0) -> tf.Tensor:
    """librosa.feature.spectral_bandwidth (order p, normalised) in Hz: `(..., frames, 1)`."""
    p = _positive("p", p)
    S = _l1_normalize(_spectrum(_audio(y), n_fft, hop_length, center, 1.0, _HAND))
    f = _freqs(sr, n_fft)
    centroid = tf.tensordot(S, f, axes=1)[..., tf.newaxis]
    deviation = tf.math.abs(f - centroid)
    dev_p = tf.math.square(deviation) if p == 2.0 else tf.math.pow(deviation, p)
    total = tf.math.reduce_sum(S * dev_p, axis=-1, keepdims=True)
    return tf.cast(tf.math.sqrt(total) if p == 2.0 else tf.math.pow(total, 1.0 / p), tf.float32)


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


def spectral_flatness(y: TensorLike, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
                      amin: float = 1e-10, power: float = 2.0) -> tf.Tensor:
    """librosa.feature.spectral_flatness (geometric over arithmetic mean of |X|**power): `(..., frames, 1)`."""
    S = _spectrum(_audio(y), n_fft, hop_length, center, 1.0, _HAND)
    S = tf.cast(tf.cast(S, tf.float32), _HAND)  # librosa's |X| is float32; the means are taken in float64
    S = tf.math.maximum(S if power == 1.0 else tf.math.pow(S, _positive("power", power)), _positive("amin", amin))
    gmean = tf.math.exp(tf.math.reduce_mean(tf.math.log(S), axis=-1, keepdims=True))
    return tf.cast(gmean / tf.math.reduce_mean(S, axis=-1, keepdims=True), tf.float32)


def spectral_flux(y: TensorLike, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
                  lag: int = 1) -> tf.Tensor:
    """Spectral flux: sum over bins of max(0, |X[t]| - |X[t - lag]|); 0 for the first `lag` frames.

    `(..., frames, 1)`; equals librosa.onset.onset_strength(S=|X|, lag=lag, max_size=1,
    aggregate=np.sum, center=False).
    """
    lag = _int("lag", lag)
    S = _spectrum(_audio(y), n_fft, hop_length, center, 1.0, _HAND)
    diff = tf.nn.relu(S[..., lag:, :] - S[..., :-lag, :])
    flux = tf.math.reduce_sum(diff, axis=-1, keepdims=True)
    paddings = [[0, 0]] * (flux.shape.rank - 2) + [[lag, 0], [0, 0]]
    out = tf.pad(flux, paddings)[..., :tf.shape(S)[-2], :]
    out.set_shape(S.shape[:-1].concatenate([1]))
    return tf.cast(out, tf.float32)


# --------------------------------------------------------------------------- images of the waveform


def _side(n: Any) -> Any:
    """Smallest s with s * s >= n (Python int or scalar tensor)."""
    if isinstance(n, int):
        s = math.isqrt(n)
        return s if s * s >= n else s + 1
    s = tf.cast(tf.math.ceil(tf.math.sqrt(tf.cast(n, tf.float64))), tf.int32)
    s = s - tf.cast((s - 1) * (s - 1) >= n, tf.int32)
    return s + tf.cast(s * s < n, tf.int32)


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


def recurrence_plot(y: TensorLike) -> tf.Tensor:
    """R[i, j] = |y[i] - y[j]|: `(..., samples, samples)` (memory grows as samples squared)."""
    y = _audio(y)
    return tf.math.abs(y[..., :, tf.newaxis] - y[..., tf.newaxis, :])


def _mrp_args(window_sizes: Sequence[int], size: int) -> tuple[tuple[int, ...], int]:
    size = _int("size", size)
    sizes = tuple(_int("window_sizes", w) for w in window_sizes)
    if not sizes:
        raise ConfigError("window_sizes must name at least one window size")
    for w in sizes:
        if w % size:
            raise ConfigError(f"window size {w} is not a multiple of size={size}: "
                              "each window is average-pooled by an integer factor")
    return sizes, size


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
    layers) `fn` runs as it is.
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


for _name in ("stft_magnitude", "log_stft", "melspectrogram", "log_mel", "mfcc", "cqt", "log_cqt", "power_to_db",
              "amplitude_to_db", "rms", "zero_crossing_rate", "spectral_centroid", "spectral_bandwidth",
              "spectral_rolloff", "spectral_flatness", "spectral_flux", "stacked_image", "recurrence_plot",
              "multiresolution_recurrence_plot"):
    globals()[_name] = _compiled_when_eager(globals()[_name])
del _name


# --------------------------------------------------------------------------- Keras layers


class _Feature(keras.layers.Layer):
    """Base of the feature layers: float32 maths, output cast to the compute dtype.

    Subclasses set `_function` and pass their constructor arguments to `_set_args`
    (they are the function's keyword arguments and the layer's config). Constant
    matrices are built (and checked) in the constructor, once per parameter set.
    The layers hold no weights.
    """

    _function: Callable[..., tf.Tensor]

    def __init__(self, **kwargs: Any):
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self._args: dict[str, Any] = {}

    def _set_args(self, **args: Any) -> None:
        self._args = dict(args)

    def call(self, inputs: Any) -> tf.Tensor:
        out = type(self)._function(tf.cast(inputs, tf.float32), **self._args)
        if out.dtype != self.compute_dtype:
            out = tf.cast(out, self.compute_dtype)
        return out

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({k: list(v) if isinstance(v, tuple) else v for k, v in self._args.items()})
        return config


def _register(cls: type) -> type:
    return keras.saving.register_keras_serializable(package="tfaudio")(cls)


@_register
class STFTMagnitude(_Feature):
    """`stft_magnitude` as a layer: `(batch, samples)` -> `(batch, frames, 1 + n_fft // 2)`."""

    _function = staticmethod(stft_magnitude)

    def __init__(self, n_fft: int = 2048, hop_length: int = 1024, center: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args(n_fft=int(n_fft), hop_length=int(hop_length), center=bool(center))


@_register
class LogSTFT(_Feature):
    """`log_stft` as a layer: `(batch, samples)` -> `(batch, frames, 1 + n_fft // 2)` dB."""

    _function = staticmethod(log_stft)

    def __init__(self, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
                 top_db: float | None = 60.0, ref: float = 1.0, amin: float = 1e-5, **kwargs: Any):
        super().__init__(**kwargs)
        _top_db(top_db)
        self._set_args(n_fft=int(n_fft), hop_length=int(hop_length), center=bool(center), top_db=top_db,
                       ref=float(ref), amin=float(amin))


@_register
class MelSpectrogram(_Feature):
    """`melspectrogram` as a layer: `(batch, samples)` -> `(batch, frames, n_mels)`."""

    _function = staticmethod(melspectrogram)

    def __init__(self, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024, n_mels: int = 128,
                 fmin: float = 27.5, fmax: float | None = 20000.0, power: float = 2.0, htk: bool = False,
                 norm: Any = "slaney", center: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        _mel_basis(*_mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm))
        self._set_args(sr=sr, n_fft=int(n_fft), hop_length=int(hop_length), n_mels=int(n_mels), fmin=float(fmin),
                       fmax=None if fmax is None else float(fmax), power=float(power), htk=bool(htk), norm=norm,
                       center=bool(center))


@_register
class LogMel(_Feature):
    """`log_mel` as a layer: `(batch, samples)` -> `(batch, frames, n_mels)` dB."""

    _function = staticmethod(log_mel)

    def __init__(self, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024, n_mels: int = 128,
                 fmin: float = 27.5, fmax: float | None = 20000.0, power: float = 2.0, htk: bool = False,
                 norm: Any = "slaney", center: bool = True, top_db: float | None = 60.0, ref: float = 1.0,
                 amin: float = 1e-10, **kwargs: Any):
        super().__init__(**kwargs)
        _mel_basis(*_mel_args(sr, n_fft, n_mels, fmin, fmax, htk, norm))
        _top_db(top_db)
        self._set_args(sr=sr, n_fft=int(n_fft), hop_length=int(hop_length), n_mels=int(n_mels), fmin=float(fmin),
                       fmax=None if fmax is None else float(fmax), power=float(power), htk=bool(htk), norm=norm,
                       center=bool(center), top_db=top_db, ref=float(ref), amin=float(amin))


@_register
class MFCC(_Feature):
    """`mfcc` as a layer: `(batch, samples)` -> `(batch, frames, n_mfcc)`."""

    _function = staticmethod(mfcc)

    def __init__(self, sr: float = 44100, n_mfcc: int = 20, n_fft: int = 2048, hop_length: int = 1024,
                 n_mels: int = 128, fmin: float = 27.5, fmax: float | None = 20000.0, htk: bool = False,
                 mel_norm: Any = "slaney", center: bool = True, top_db: float | None = 80.0, dct_type: int = 2,
                 norm: str | None = "ortho", lifter: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        _mel_basis(*_mel_args(sr, n_fft, n_mels, fmin, fmax, htk, mel_norm))
        self._set_args(sr=sr, n_mfcc=int(n_mfcc), n_fft=int(n_fft), hop_length=int(hop_length), n_mels=int(n_mels),
                       fmin=float(fmin), fmax=None if fmax is None else float(fmax), htk=bool(htk),
                       mel_norm=mel_norm, center=bool(center), top_db=top_db, dct_type=int(dct_type), norm=norm,
                       lifter=float(lifter))


@_register
class CQT(_Feature):
    """`cqt` as a layer: `(batch, samples)` -> `(batch, frames, n_bins)`."""

    _function = staticmethod(cqt)

    def __init__(self, sr: float = 44100, hop_length: int = 1024, fmin: float = 27.5, n_bins: int = 192,
                 bins_per_octave: int = 24, filter_scale: float = 1.0, sparsity: float = 0.01,
                 res_type: str = "soxr_hq", **kwargs: Any):
        super().__init__(**kwargs)
        _cqt_plan(*_cqt_args(sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, sparsity, res_type))
        self._set_args(sr=sr, hop_length=int(hop_length), fmin=float(fmin), n_bins=int(n_bins),
                       bins_per_octave=int(bins_per_octave), filter_scale=float(filter_scale),
                       sparsity=float(sparsity), res_type=str(res_type))


@_register
class LogCQT(CQT):
    """`log_cqt` as a layer: `(batch, samples)` -> `(batch, frames, n_bins)` dB."""

    _function = staticmethod(log_cqt)

    def __init__(self, sr: float = 44100, hop_length: int = 1024, fmin: float = 27.5, n_bins: int = 192,
                 bins_per_octave: int = 24, filter_scale: float = 1.0, sparsity: float = 0.01,
                 res_type: str = "soxr_hq", top_db: float | None = 60.0, ref: float = 1.0, amin: float = 1e-5,
                 **kwargs: Any):
        super().__init__(sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, sparsity, res_type, **kwargs)
        _top_db(top_db)
        self._set_args(**self._args, top_db=top_db, ref=float(ref), amin=float(amin))


@_register
class RMS(_Feature):
    """`rms` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    _function = staticmethod(rms)

    def __init__(self, frame_length: int = 2048, hop_length: int = 1024, center: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args(frame_length=int(frame_length), hop_length=int(hop_length), center=bool(center))


@_register
class ZeroCrossingRate(_Feature):
    """`zero_crossing_rate` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    _function = staticmethod(zero_crossing_rate)

    def __init__(self, frame_length: int = 2048, hop_length: int = 1024, center: bool = True,
                 threshold: float = 1e-10, **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args(frame_length=int(frame_length), hop_length=int(hop_length), center=bool(center),
                       threshold=float(threshold))


@_register
class SpectralCentroid(_Feature):
    """`spectral_centroid` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    _function = staticmethod(spectral_centroid)

    def __init__(self, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args(sr=sr, n_fft=int(n_fft), hop_length=int(hop_length), center=bool(center))


@_register
class SpectralBandwidth(_Feature):
    """`spectral_bandwidth` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    _function = staticmethod(spectral_bandwidth)

    def __init__(self, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
                 p: float = 2.0, **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args(sr=sr, n_fft=int(n_fft), hop_length=int(hop_length), center=bool(center), p=float(p))


@_register
class SpectralRolloff(_Feature):
    """`spectral_rolloff` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    _function = staticmethod(spectral_rolloff)

    def __init__(self, sr: float = 44100, n_fft: int = 2048, hop_length: int = 1024, center: bool = True,
                 roll_percent: float = 0.85, **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args(sr=sr, n_fft=int(n_fft), hop_length=int(hop_length), center=bool(center),
                       roll_percent=float(roll_percent))


@_register
class SpectralFlatness(_Feature):
    """`spectral_flatness` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    _function = staticmethod(spectral_flatness)

    def __init__(self, n_fft: int = 2048, hop_length: int = 1024, center: bool = True, amin: float = 1e-10,
                 power: float = 2.0, **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args(n_fft=int(n_fft), hop_length=int(hop_length), center=bool(center), amin=float(amin),
                       power=float(power))


@_register
class SpectralFlux(_Feature):
    """`spectral_flux` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    _function = staticmethod(spectral_flux)

    def __init__(self, n_fft: int = 2048, hop_length: int = 1024, center: bool = True, lag: int = 1,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args(n_fft=int(n_fft), hop_length=int(hop_length), center=bool(center), lag=int(lag))


@_register
class StackedImage(_Feature):
    """`stacked_image` as a layer: `(batch, samples)` -> `(batch, N, N)`."""

    _function = staticmethod(stacked_image)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args()


@_register
class RecurrencePlot(_Feature):
    """`recurrence_plot` as a layer: `(batch, samples)` -> `(batch, samples, samples)`."""

    _function = staticmethod(recurrence_plot)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._set_args()


@_register
class MultiresolutionRecurrencePlot(_Feature):
    """`multiresolution_recurrence_plot` as a layer: `(batch, samples)` -> `(batch, size, size, channels)`."""

    _function = staticmethod(multiresolution_recurrence_plot)

    def __init__(self, window_sizes: Sequence[int] = (256, 512, 1024, 2048), size: int = 128, **kwargs: Any):
        super().__init__(**kwargs)
        sizes, size = _mrp_args(window_sizes, size)
        self._set_args(window_sizes=sizes, size=size)
