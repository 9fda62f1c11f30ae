"""The constant-Q transform, librosa's recursive algorithm in the graph: per octave a sparse filter FFT,
the signal halved between octaves by soxr's own decimation filter.

Imported by `tfaudio.features` (which re-exports `cqt`, `log_cqt`) and its registry (`_cqt_args`,
`_cqt_plan` check and build a layer's constants). Audio `(..., samples)` -> `(..., frames, n_bins)`.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.fft
import tensorflow as tf

from tfaudio._checks import integer, positive
from tfaudio.errors import ConfigError
from tfaudio.features.spectral import (TensorLike, _audio, _compiled_when_eager, _flatten, _pad_last, _to_db,
                                       _unflatten, cqt_frequencies)


@functools.cache
def _fast_fft_sizes() -> np.ndarray:
    """5-smooth multiples of 4 up to 2**28, sorted: FFT lengths that TensorFlow computes quickly."""
    sizes = (4 * 2**a * 3**b * 5**c for a in range(27) for b in range(18) for c in range(12))
    return np.array(sorted(n for n in sizes if n <= 1 << 28), np.int32)


def _fast_size(n: Any) -> Any:
    """The smallest fast FFT length >= n that is a multiple of 4 (Python int or scalar tensor)."""
    if isinstance(n, int):
        return 4 * scipy.fft.next_fast_len(-(-n // 4), real=True)
    # the table only for a length known in the graph alone: scipy.fft.next_fast_len takes Python ints
    t = tf.constant(_fast_fft_sizes())
    i = tf.searchsorted(t, tf.reshape(tf.cast(n, tf.int32), [1]), side="left")[0]
    return tf.gather(t, tf.minimum(i, tf.size(t) - 1))


@functools.lru_cache(maxsize=8)
def _resample_taps(factor: int, res_type: str) -> tuple[np.ndarray, int]:
    """The FIR filter of librosa.resample(orig_sr=factor, target_sr=1, res_type, scale=True).

    soxr's integer-ratio decimators are linear and time-invariant, so their impulse
    responses (one per input phase) give taps `g` with
    ``out[m] = sum_d g[d] * x[factor * m - d]``. Returns (taps, c) with ``taps[j] = g[j - c]``.
    """
    import librosa  # lazy: librosa (and numba, ~1 s) only where needed

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
        import librosa  # lazy: librosa (and numba, ~1 s) only where needed

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


_cqt_plan = functools.lru_cache(maxsize=16)(_CQTPlan)  # a plan per argument set (from `_cqt_args`)


def _cqt_args(sr: float, hop_length: int, fmin: float, n_bins: int, bins_per_octave: int, filter_scale: float,
              sparsity: float, res_type: str) -> tuple[float, int, float, int, int, float, float, str]:
    """The CQT's arguments, checked and cleaned: `_cqt_plan`'s key."""
    if not str(res_type).startswith("soxr"):
        raise ConfigError(f"res_type={res_type!r}: only librosa's soxr resamplers ('soxr_hq', ...) are supported")
    if not 0 <= sparsity < 1:
        raise ConfigError(f"sparsity={sparsity!r} must be in [0, 1)")
    return (positive("sr", sr), integer("hop_length", hop_length), positive("fmin", fmin), integer("n_bins", n_bins),
            integer("bins_per_octave", bins_per_octave), positive("filter_scale", filter_scale), float(sparsity),
            str(res_type))


@_compiled_when_eager
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


@_compiled_when_eager
def log_cqt(y: TensorLike, sr: float = 44100, hop_length: int = 1024, fmin: float = 27.5, n_bins: int = 192,
            bins_per_octave: int = 24, filter_scale: float = 1.0, sparsity: float = 0.01,
            res_type: str = "soxr_hq", top_db: float | None = 60.0, ref: float = 1.0,
            amin: float = 1e-5) -> tf.Tensor:
    """CQT magnitude in dB (amplitude_to_db), floored `top_db` below each example's maximum."""
    C = cqt(y, sr, hop_length, fmin, n_bins, bins_per_octave, filter_scale, sparsity, res_type)
    return _to_db(C, 20.0, ref, amin, top_db)
