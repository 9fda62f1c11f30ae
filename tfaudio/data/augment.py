"""The recording chain: augmentation of audio and features in the graph, each example from its own seed.

Reverb, EQ, band limit, compression and drive (`recording_chain`, `recording_effects`), noise (`add_noise`),
per-stem and per-mix chains (`augment_mix`, `augment_waveform`) and SpecAugment masks (`spec_augment`).
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import tensorflow as tf

from tfaudio.config import AugmentConfig


# ---------------------------------------------------------------------------------------------
# the recording chain: per-example effects on audio `(..., samples)`, each example from its own seed
#
# Every effect takes `audio` `(samples,)` with a stateless seed `(2,)`, or `(..., samples)` with seeds
# `(..., 2)` (one per example), and gives an example the same output whatever batch it is in. An
# example's draws are one `tf.random.stateless_uniform` vector from its seed (an in-graph loop over the
# examples, as `spec_augment`'s draws), each effect reading its own fixed slots of it, so switching one
# effect on or off changes no other's draws; the signal work is vectorised over the examples that get
# the effect. With its probability 0 an effect returns `audio` itself; an example it skips is unchanged.

_CHAIN, _STEMS, _CHANNEL, _NOISE_COLOR, _NOISE_ON = 101, 102, 103, 104, 105  # seed fold-in tags
# slots of an example's uniforms (some spare): reverb 0-11, band-limit 12-15, compressor 16-19, drive 20-23, EQ 24-
_U_REVERB, _U_BAND, _U_COMPRESS, _U_DRIVE, _U_EQ = 0, 12, 16, 20, 24

_LN10 = math.log(10.0)
#: reverb bands (Hz), two octaves apart: complementary hat-shaped masks in log frequency
_REVERB_BANDS = (250.0, 1000.0, 4000.0, 16000.0)
_TABLE = 1 << 17  # samples of the reverb's noise tables (about 3 s at 44.1 kHz)
_BLOCK = 64  # the reverb tail is read from the noise table, and its decay computed, in blocks
_GRID = 512  # points of the log-frequency grid on which EQ and filter curves are computed


def _rows(audio: tf.Tensor, seed: tf.Tensor, what: str) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """`audio` `(..., samples)` and its seeds `(..., 2)` (or `(2,)`) as rows: `(rows, samples)`,
    `(rows, 2)` and the original shape."""
    audio = tf.convert_to_tensor(audio, tf.float32)
    seed = tf.convert_to_tensor(seed)
    shape = tf.shape(audio)
    x = tf.reshape(audio, tf.stack([-1, shape[-1]]))
    seeds = tf.reshape(seed, [-1, 2])
    tf.debugging.assert_equal(tf.shape(seeds)[0], tf.shape(x)[0],
                              message=f"{what}: one seed (2,) per example needed")
    return x, seeds, shape


def _per_row(fn, seeds: tf.Tensor, signature):
    """`fn(seed)` for every row of `seeds` `(rows, 2)`, stacked (no loop for a single static row)."""
    if seeds.shape[0] == 1:
        return tf.nest.map_structure(lambda t: t[None], fn(seeds[0]))
    return tf.map_fn(fn, seeds, fn_output_signature=signature)


def _uniforms(seeds: tf.Tensor, aug: AugmentConfig) -> tf.Tensor:
    """Each row's chain draws: `(rows, slots)` uniforms in [0, 1) from its seed."""
    size = _U_EQ + 2 + 4 * aug.eq_bands
    return _per_row(lambda s: tf.random.stateless_uniform(
        [size], tf.random.experimental.stateless_fold_in(s, _CHAIN)), seeds, tf.float32)


def _lin(u: tf.Tensor, bounds: tuple[float, float]) -> tf.Tensor:
    return bounds[0] + u * (bounds[1] - bounds[0])


def _log(u: tf.Tensor, bounds: tuple[float, float]) -> tf.Tensor:
    return tf.exp(math.log(bounds[0]) + u * (math.log(bounds[1]) - math.log(bounds[0])))


def _rms(x: tf.Tensor) -> tf.Tensor:
    return tf.sqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True))


def _match_rms(y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """`y` scaled to the RMS of `x`, row by row (silence stays silence)."""
    return y * (_rms(x) / tf.maximum(_rms(y), 1e-12))


def _freqs(n: tf.Tensor, sr: float) -> tf.Tensor:
    """The rfft bin frequencies (Hz) of `n` samples."""
    return tf.cast(tf.range(n // 2 + 1), tf.float32) * (float(sr) / tf.cast(n, tf.float32))


def _grid(sr: int) -> np.ndarray:
    """log2 frequencies of the curve grid: 10 Hz to Nyquist."""
    return np.linspace(math.log2(10.0), math.log2(sr / 2), _GRID).astype(np.float32)


def _filter(x: tf.Tensor, curve_db: tf.Tensor, sr: int) -> tf.Tensor:
    """Zero-phase (circular) filtering of rows `x` `(rows, n)` by gain curves `(rows, _GRID)` in dB on the
    `_grid`, interpolated linearly in log frequency to the rfft bins."""
    n = tf.shape(x)[-1]
    grid = _grid(sr)
    lf = tf.math.log(tf.maximum(_freqs(n, sr), 1e-3)) / math.log(2.0)
    pos = tf.clip_by_value((lf - grid[0]) / (grid[1] - grid[0]), 0.0, _GRID - 1.0)
    i0 = tf.minimum(tf.cast(pos, tf.int32), _GRID - 2)
    w = (pos - tf.cast(i0, tf.float32))[:, None]
    curve = tf.transpose(curve_db) * (_LN10 / 20.0)  # (grid, rows): gathering whole rows is fast
    gain = tf.exp(tf.transpose(tf.gather(curve, i0) * (1.0 - w) + tf.gather(curve, i0 + 1) * w))
    gain = tf.cast(gain, tf.complex64)
    return tf.signal.irfft(tf.signal.rfft(x, tf.reshape(n, [1])) * gain, tf.reshape(n, [1]))


def _where_on(on: tf.Tensor, x: tf.Tensor, fn, *args: tf.Tensor) -> tf.Tensor:
    """`fn` applied to the rows of `x` (and of each of `args`) where `on`; the other rows unchanged."""
    idx = tf.where(on)
    y = fn(tf.gather_nd(x, idx), *[tf.gather_nd(a, idx) for a in args])
    return tf.tensor_scatter_nd_update(x, idx, y)


@functools.lru_cache(maxsize=8)
def _noise_bands(sr: int) -> np.ndarray:
    """Fixed Gaussian noise split into the `_REVERB_BANDS` (hat masks in log frequency, summing to 1),
    the bands up to 1 kHz (which decay alike) together: `(3, _TABLE // _BLOCK, _BLOCK)` float32, in
    blocks, circular. Each reverb tail reads it from its own random block on."""
    spec = np.fft.rfft(np.random.default_rng(20240601).standard_normal(_TABLE))
    f = np.maximum(np.fft.rfftfreq(_TABLE, 1.0 / sr), 1.0)
    pos = np.clip(np.log(f / _REVERB_BANDS[0]) / np.log(4.0), 0, len(_REVERB_BANDS) - 1)
    masks = np.maximum(1.0 - np.abs(pos[None, :] - np.arange(len(_REVERB_BANDS))[:, None]), 0.0)
    bands = np.fft.irfft(spec[None, :] * masks, _TABLE)
    bands = np.stack([bands[0] + bands[1], bands[2], bands[3]])
    return bands.reshape(3, _TABLE // _BLOCK, _BLOCK).astype(np.float32)


def _reverb(x: tf.Tensor, u: tf.Tensor, aug: AugmentConfig, sr: int) -> tf.Tensor:
    n = tf.shape(x)[-1]
    u = u[:, _U_REVERB:_U_REVERB + 12]
    rt60, damping = _lin(u[:, 1], aug.reverb_rt60), _lin(u[:, 2], aug.reverb_damping)
    predelay, wet = _lin(u[:, 3], aug.reverb_predelay), _lin(u[:, 4], aug.reverb_wet)
    # the tail's noise: blocks of the table from a random block on, (bands, rows, blocks, _BLOCK)
    blocks = (n + _BLOCK - 1) // _BLOCK
    first = tf.cast(u[:, 5] * (_TABLE // _BLOCK), tf.int32)
    noise = tf.gather(tf.constant(_noise_bands(int(sr))), (first[:, None] + tf.range(blocks)[None, :])
                      % (_TABLE // _BLOCK), axis=1)
    # decay by 60 dB in each band's RT60, RT60 x 2^(-damping x octaves above 1 kHz), from the pre-delay
    # (in whole blocks) on; the response is circular, so what would lie past its end wraps to before the
    # pre-delay, as circular convolution has it. exp(-rate age) = exp(-rate block age) exp(-rate offset)
    octaves = tf.constant([0.0, 2.0, 4.0])[:, None]  # the table's bands
    rate = 3.0 * _LN10 * tf.exp(damping[None, :] * octaves * math.log(2.0)) / rt60[None, :]  # (bands, rows)
    delay = tf.cast(tf.round(predelay * (float(sr) / _BLOCK)), tf.int32)
    age = tf.cast((tf.range(blocks)[None, :] - delay[:, None]) % blocks * _BLOCK, tf.float32) / float(sr)
    outer = tf.exp(-rate[..., None] * age[None])  # (bands, rows, blocks)
    inner = tf.exp(-rate[..., None] * (tf.range(_BLOCK, dtype=tf.float32) / float(sr)))  # (bands, rows, _BLOCK)
    tail = tf.reduce_sum(noise * outer[..., None] * inner[:, :, None, :], axis=0)  # (rows, blocks, _BLOCK)
    tail = tf.reshape(tail, tf.stack([tf.shape(x)[0], blocks * _BLOCK]))
    if x.shape[-1] is None or x.shape[-1] % _BLOCK:
        tail = tail[:, :n]
    # the response: sqrt(1 - wet) x a unit impulse + sqrt(wet) x the tail at unit energy
    scale = tf.sqrt(wet)[:, None] / tf.maximum(tf.norm(tail, axis=-1, keepdims=True), 1e-12)
    m = tf.reshape(n, [1])
    response = tf.cast(tf.sqrt(1.0 - wet)[:, None], tf.complex64) + tf.signal.rfft(tail * scale, m)
    return _match_rms(tf.signal.irfft(tf.signal.rfft(x, m) * response, m), x)


def _equalize(x: tf.Tensor, u: tf.Tensor, aug: AugmentConfig, sr: int) -> tf.Tensor:
    nb = aug.eq_bands
    tilt = _lin(u[:, _U_EQ + 1], aug.eq_tilt_db)
    lf = tf.constant(_grid(sr))
    curve = tilt[:, None] * (tf.clip_by_value(lf, math.log2(20.0), math.log2(20000.0)) - math.log2(1000.0))
    if nb:
        b = tf.reshape(u[:, _U_EQ + 2:_U_EQ + 2 + 4 * nb], tf.stack([tf.shape(u)[0], nb, 4]))
        centre = tf.math.log(_log(b[..., 0], aug.eq_hz)) / math.log(2.0)  # (rows, bands), log2 Hz
        gain, width = _lin(b[..., 1], aug.eq_gain_db), _lin(b[..., 2], (1.0 / 3.0, 2.0))
        kind = tf.cast(b[..., 3] * 4.0, tf.int32)[..., None]  # 0, 1: peaking; 2: low shelf; 3: high shelf
        d = 2.0 * (lf[None, None, :] - centre[..., None]) / width[..., None]  # (rows, bands, grid), in widths
        shelf = 0.5 * (1.0 + tf.where(kind == 2, -1.0, 1.0) * tf.tanh(d))
        curve += tf.reduce_sum(gain[..., None] * tf.where(kind < 2, tf.exp(-0.5 * tf.square(d)), shelf), axis=1)
    return _match_rms(_filter(x, curve, sr), x)


def _band_curve(u: tf.Tensor, aug: AugmentConfig, sr: int) -> tf.Tensor:
    """Low-/high-pass curves in dB `(rows, _GRID)` (0 where the row's filter is off)."""
    u = u[:, _U_BAND:_U_BAND + 4]
    lp_hi = min(aug.lowpass_hz[1], 0.45 * sr)
    lp = tf.math.log(_log(u[:, 1], (min(aug.lowpass_hz[0], lp_hi), lp_hi))) / math.log(2.0)
    hp = tf.math.log(_log(u[:, 3], aug.highpass_hz)) / math.log(2.0)
    ln = tf.constant(_grid(sr) * math.log(2.0))[None, :]  # natural log of the grid frequencies
    # Butterworth magnitude in dB, -10 log10(1 + (f / fc)^(2 order)), stably as a softplus
    low = -10.0 / _LN10 * tf.nn.softplus(16.0 * (ln - math.log(2.0) * lp[:, None]))
    high = -10.0 / _LN10 * tf.nn.softplus(8.0 * (math.log(2.0) * hp[:, None] - ln))
    return (tf.where((u[:, 0] < aug.lowpass_prob)[:, None], low, 0.0)
            + tf.where((u[:, 2] < aug.highpass_prob)[:, None], high, 0.0))


def _compress(x: tf.Tensor, u: tf.Tensor, aug: AugmentConfig, sr: int) -> tf.Tensor:
    threshold = _lin(u[:, _U_COMPRESS + 1], aug.compress_threshold_db)
    ratio = _lin(u[:, _U_COMPRESS + 2], aug.compress_ratio)
    hop = max(1, int(round(0.0025 * sr)))  # frames of 4 hops (10 ms) every hop (2.5 ms)
    n = tf.shape(x)[-1]
    m = (n - 1) // hop + 2  # frames, frame i centred on sample i hop; the last is past the end
    sq = tf.pad(tf.square(x), [[0, 0], [2 * hop, (m + 1) * hop - n]])  # (m + 3) hops
    blocks = tf.reduce_sum(tf.reshape(sq, tf.stack([tf.shape(x)[0], m + 3, hop])), axis=-1)
    power = tf.nn.avg_pool1d(blocks[..., None], 4, 1, "VALID")[..., 0] / hop  # (rows, m)
    level = 10.0 * tf.math.log(tf.maximum(power, 1e-20)) / _LN10
    over = tf.nn.relu(level - (tf.reduce_max(level, axis=-1, keepdims=True) + threshold[:, None]))
    reduction = (1.0 - 1.0 / ratio)[:, None] * over  # dB, >= 0
    reduction = tf.nn.max_pool1d(reduction[..., None], 5, 1, "SAME")  # hold +-2 hops (5 ms)
    reduction = tf.nn.avg_pool1d(reduction, 11, 1, "SAME")[..., 0]  # smooth over 11 hops (25 ms)
    g = tf.exp(reduction * (-_LN10 / 20.0))  # (rows, m)
    w = tf.range(hop, dtype=tf.float32) / hop
    g = g[:, :-1, None] * (1.0 - w) + g[:, 1:, None] * w  # linear between frame centres
    g = tf.reshape(g, tf.stack([tf.shape(x)[0], (m - 1) * hop]))[:, :n]
    return _match_rms(x * g, x)


def _drive(x: tf.Tensor, u: tf.Tensor, aug: AugmentConfig) -> tf.Tensor:
    db = _lin(u[:, _U_DRIVE + 1], aug.drive_db)
    peak = tf.maximum(tf.reduce_max(tf.abs(x), axis=-1, keepdims=True), 1e-12)
    return _match_rms(tf.tanh(tf.pow(10.0, db / 20.0)[:, None] * x / peak), x)


def _effects(x: tf.Tensor, u: tf.Tensor, aug: AugmentConfig, sr: int, which: Sequence[str]) -> tf.Tensor:
    """The effects named in `which`, in the chain's order, on rows `x` with their uniforms `u`."""
    steps = {"reverb": (aug.reverb_prob, _U_REVERB, lambda a, v: _reverb(a, v, aug, sr)),
             "eq": (aug.eq_prob, _U_EQ, lambda a, v: _equalize(a, v, aug, sr)),
             "compress": (aug.compress_prob, _U_COMPRESS, lambda a, v: _compress(a, v, aug, sr)),
             "drive": (aug.drive_prob, _U_DRIVE, lambda a, v: _drive(a, v, aug))}
    for name in ("reverb", "eq", "compress", "drive"):
        prob, slot, fn = steps[name]
        if name in which and prob >= 1:
            x = fn(x, u)
        elif name in which and prob > 0:
            x = _where_on(u[:, slot] < prob, x, fn, u)
    if "band" in which and (aug.lowpass_prob or aug.highpass_prob):
        on = (u[:, _U_BAND] < aug.lowpass_prob) | (u[:, _U_BAND + 2] < aug.highpass_prob)
        x = _where_on(on, x, lambda a, v: _filter(a, _band_curve(v, aug, sr), sr), u)
    return x


def _chain(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor, sr: int, which: Sequence[str],
           what: str) -> tf.Tensor:
    x, seeds, shape = _rows(audio, seed, what)
    return tf.reshape(_effects(x, _uniforms(seeds, aug), aug, sr, which), shape)


def reverb(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor, sr: int = 44100) -> tf.Tensor:
    """Room reverb (probability `reverb_prob`): circular FFT convolution with a synthetic impulse response.

    The response is a unit impulse (the direct sound) plus a tail of noise that starts `reverb_predelay`
    seconds late (in steps of 64 samples) and decays exponentially by 60 dB in RT60 seconds, band by
    band: RT60 is drawn from `reverb_rt60` for 1 kHz and below and is multiplied by 2^(-damping) an
    octave above (damping from `reverb_damping`; bands at 250 Hz, 1, 4 and 16 kHz). The tail holds a
    share `reverb_wet` of the response's energy. Its noise is read from fixed band-split noise tables
    (Gaussian, 2^17 samples) from a random offset, so no example generates or filters noise of its own.
    The response is as long as the audio and the convolution circular: the start of a window hears the
    tail of its end, as a window cut from a longer recording hears what came before (what would lie past
    the response's end wraps to before the pre-delay). The output keeps the input's RMS.
    """
    if not aug.reverb_prob:
        return audio
    return _chain(audio, aug, seed, sr, ("reverb",), "reverb")


def equalize(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor, sr: int = 44100) -> tf.Tensor:
    """EQ (probability `eq_prob`): a smooth random gain curve applied in the frequency domain (zero-phase).

    A spectral tilt of `eq_tilt_db` dB per octave about 1 kHz (flat outside 20 Hz-20 kHz) plus `eq_bands`
    bands at `eq_hz` (log-uniform) of `eq_gain_db` each: half of them peaking (a Gaussian bump in log
    frequency, 1/3 to 2 octaves wide), a quarter low shelves, a quarter high shelves. The output keeps
    the input's RMS: EQ colours, it does not change the level.
    """
    if not aug.eq_prob:
        return audio
    return _chain(audio, aug, seed, sr, ("eq",), "equalize")


def compress(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor, sr: int = 44100) -> tf.Tensor:
    """Feed-forward compressor (probability `compress_prob`) on the envelope.

    The level is the power of 10-ms frames every 2.5 ms; above a threshold `compress_threshold_db` below
    the example's loudest frame the gain falls by (1 - 1/ratio) dB per dB (ratio from `compress_ratio`,
    hard knee). The gain reduction is held 5 ms either side (a look-ahead attack), smoothed over 25 ms and
    interpolated between frames; make-up gain restores the input's RMS, so the peaks come down.
    """
    if not aug.compress_prob:
        return audio
    return _chain(audio, aug, seed, sr, ("compress",), "compress")


def drive(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """Soft-clipping drive (probability `drive_prob`): tanh(g x / peak) with g = `drive_db` (0 dB: only the
    peaks bend), rescaled to the input's RMS. Saturation lowers the crest factor, so the peak never grows."""
    if not aug.drive_prob:
        return audio
    return _chain(audio, aug, seed, 44100, ("drive",), "drive")


def band_limit(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor, sr: int = 44100) -> tf.Tensor:
    """Band-limiting: a low-pass (probability `lowpass_prob`, cutoff log-uniform in `lowpass_hz`, at most
    0.45 `sr`; Butterworth magnitude, 48 dB/octave) and a high-pass (`highpass_prob`, `highpass_hz`,
    24 dB/octave), zero-phase in the frequency domain. They only attenuate (no level correction)."""
    if not (aug.lowpass_prob or aug.highpass_prob):
        return audio
    return _chain(audio, aug, seed, sr, ("band",), "band_limit")


def recording_effects(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor, sr: int = 44100) -> tf.Tensor:
    """One instrument's recording: `reverb` (the room), `equalize` (microphone and desk EQ), `compress`,
    `drive`, in that order, each with its own probability and the draws it has alone."""
    if not aug.chain_active:
        return audio
    return _chain(audio, aug, seed, sr, ("reverb", "eq", "compress", "drive"), "recording_effects")


def recording_chain(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor, sr: int = 44100) -> tf.Tensor:
    """`recording_effects` then `band_limit`, from the same seed(s), as `class_dataset` applies them."""
    if not aug.chain_active:
        return audio
    return _chain(audio, aug, seed, sr, ("reverb", "eq", "compress", "drive", "band"), "recording_chain")


def _stem_chain(stems: tf.Tensor, labels: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor,
                sr: int) -> tuple[tf.Tensor, tf.Tensor]:
    """`recording_effects` on each present stem, then `band_limit`, the same for every stem of a mix.
    `stems` `(..., classes, samples)`, `labels` `(..., classes)`, `seed` `(..., 2)`. A mix's draws:
    one row of uniforms per class (a stem's recording) and one for the channel, from the mix's seed.
    Returns the stems and their sum, the mix."""
    seed = tf.convert_to_tensor(seed)
    shape = tf.shape(stems)
    flat = tf.reshape(stems, tf.stack([-1, shape[-2], shape[-1]]))  # (mixes, classes, samples)
    size = _U_EQ + 2 + 4 * aug.eq_bands

    def draws(s):
        return (tf.random.stateless_uniform(tf.stack([shape[-2], size]), tf.random.experimental.stateless_fold_in(
                    s, _STEMS)),
                tf.random.stateless_uniform([size], tf.random.experimental.stateless_fold_in(s, _CHANNEL)))

    u_stems, u_channel = _per_row(draws, tf.reshape(seed, [-1, 2]), (tf.float32, tf.float32))
    present = tf.where(tf.reshape(labels, tf.shape(flat)[:2]) > 0)  # (rows, 2): mix, class
    rows = tf.gather_nd(flat, present)
    rows = _effects(rows, tf.gather_nd(u_stems, present), aug, sr, ("reverb", "eq", "compress", "drive"))
    rows = _effects(rows, tf.gather(u_channel, present[:, 0]), aug, sr, ("band",))
    flat = tf.tensor_scatter_nd_update(flat, present, rows)
    audio = tf.math.unsorted_segment_sum(rows, present[:, 0], tf.shape(flat)[0])
    return tf.reshape(flat, shape), tf.reshape(audio, tf.concat([shape[:-2], shape[-1:]], 0))


def _mix_channel(stems: tf.Tensor, audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor,
                 sr: int) -> tuple[tf.Tensor, tf.Tensor]:
    """One mix's gain and time shift (stems and mix alike) and noise (the mix only)."""
    s = tf.random.experimental.stateless_split(seed, num=3)
    if aug.gain_db:
        g = tf.random.stateless_uniform([], s[0], aug.gain_db[0], aug.gain_db[1])
        g = tf.pow(10.0, g / 20.0)
        stems, audio = stems * g, audio * g
    if aug.max_shift:
        shift = tf.random.stateless_uniform([], s[1], -aug.max_shift, aug.max_shift + 1, dtype=tf.int32)
        stems, audio = tf.roll(stems, shift, axis=-1), tf.roll(audio, shift, axis=-1)
    if aug.noise_active:
        audio = add_noise(audio, aug.snr_db, s[2], aug.noise_color, aug.noise_prob, sr)
    return stems, audio


def _channel_batch(stems: tf.Tensor | None, audio: tf.Tensor, aug: AugmentConfig, seeds: tf.Tensor,
                   sr: int) -> tuple[tf.Tensor | None, tf.Tensor]:
    """`_mix_channel` (or `augment_waveform`'s gain, shift and noise) of a batch: audio `(batch, samples)`,
    stems `(batch, classes, samples)` or None, seeds `(batch, 2)`. The same draws, one example at a time
    (the white noise only for the examples that get noise); the rest vectorised."""
    n = tf.shape(audio)[-1]

    def draws(seed):
        s = tf.random.experimental.stateless_split(seed, num=3)
        g = (tf.pow(10.0, tf.random.stateless_uniform([], s[0], aug.gain_db[0], aug.gain_db[1]) / 20.0)
             if aug.gain_db else tf.constant(1.0))
        shift = (tf.random.stateless_uniform([], s[1], -aug.max_shift, aug.max_shift + 1, dtype=tf.int32)
                 if aug.max_shift else tf.constant(0))
        if aug.noise_active:
            noise = _noise_draws(tf.constant([], tf.int32), n, aug.snr_db, s[2], aug.noise_color, aug.noise_prob,
                                 skip_off=True)
        else:
            noise = (tf.constant(0.0), tf.zeros([0]), tf.constant(0.0), tf.constant(False))
        return (g, shift) + noise

    g, shift, snr, white, b, on = tf.map_fn(draws, seeds, fn_output_signature=(
        tf.float32, tf.int32, tf.float32, tf.float32, tf.float32, tf.bool))
    if aug.gain_db:
        audio = audio * g[:, None]
        stems = stems * g[:, None, None] if stems is not None else None
    if aug.max_shift:
        index = (tf.range(n)[None, :] - shift[:, None]) % n  # tf.roll by `shift`, row by row
        audio = tf.gather(audio, index, batch_dims=1)
        stems = tf.gather(stems, index, axis=2, batch_dims=1) if stems is not None else None
    if aug.noise_active:
        audio = _noise_apply(audio, snr, white, b, on, aug.noise_color, aug.noise_prob, sr)
    return stems, audio


def augment_mix(example: dict[str, tf.Tensor], aug: AugmentConfig, seed: tf.Tensor,
                sr: int = 44100) -> dict[str, tf.Tensor]:
    """Waveform augmentation of a mix that keeps its labels true, from the mix's stateless seed `(2,)`;
    or of a batch of mixes (stems `(batch, classes, samples)`, seeds `(batch, 2)`), each as it would be
    alone.

    1. Each present stem is its own recording: `recording_effects` (reverb, EQ, compressor, drive) with
       its own draws. Each keeps the stem's RMS, its mixing level.
    2. The channel, the same for every stem of a mix: `band_limit`, then gain and time shift (on the
       stems, so activations follow). The mix is the sum of the stems again.
    3. Background noise at an SNR, on the mix only (noise is no instrument).

    `mixtures` computes the activations afterwards, from these stems: they describe each instrument as
    the model hears it, its reverb tail included (the tail is still that instrument) and what the
    filters took out excluded. Absent instruments stay silent and get no effect.
    """
    seed = tf.convert_to_tensor(seed)
    stems, audio = example["stems"], example["audio"]
    if aug.chain_active:
        stems, audio = _stem_chain(stems, example["labels"], aug, seed, sr)
    if aug.gain_db or aug.max_shift or aug.noise_active:
        if seed.shape.rank == 1:
            stems, audio = _mix_channel(stems, audio, aug, seed, sr)
        else:
            stems, audio = _channel_batch(stems, audio, aug, seed, sr)
    return dict(example, stems=stems, audio=audio)


def _noise_draws(lead: tf.Tensor, n: tf.Tensor, snr_db: tuple[float, float], seed: tf.Tensor,
                 color: tuple[float, float] | None, prob: float, skip_off: bool = False):
    """`add_noise`'s draws for audio of shape `lead + [n]`: SNR, white noise, colour exponent, whether
    it is added. `skip_off` (one example, `lead` empty): no white noise drawn (zeros) when it is not."""
    s = tf.random.experimental.stateless_split(seed, num=2)
    snr = tf.random.stateless_uniform(lead, s[0], snr_db[0], snr_db[1])
    b = (tf.random.stateless_uniform(lead, tf.random.experimental.stateless_fold_in(seed, _NOISE_COLOR),
                                     color[0], color[1]) if color is not None else tf.zeros(lead))
    on = (tf.random.stateless_uniform(lead, tf.random.experimental.stateless_fold_in(seed, _NOISE_ON)) < prob
          if prob < 1 else tf.ones(lead, tf.bool))
    shape = tf.concat([lead, tf.reshape(n, [1])], 0)
    if skip_off and prob < 1:
        white = tf.cond(on, lambda: tf.random.stateless_normal(shape, s[1]), lambda: tf.zeros(shape))
    else:
        white = tf.random.stateless_normal(shape, s[1])
    return snr, white, b, on


def _noise_apply(audio: tf.Tensor, snr: tf.Tensor, noise: tf.Tensor, b: tf.Tensor, on: tf.Tensor,
                 color: tuple[float, float] | None, prob: float, sr: int) -> tf.Tensor:
    power = tf.reduce_mean(tf.square(audio), axis=-1)
    noise_power = power / tf.pow(10.0, snr / 10.0)
    if color is not None:
        n = tf.shape(audio)[-1]
        amplitude = tf.exp(tf.math.log(tf.maximum(_freqs(n, sr), 20.0) / 1000.0) * (-0.5 * b[..., None]))
        m = tf.reshape(n, [1])
        noise = tf.signal.irfft(tf.signal.rfft(noise, m) * tf.cast(amplitude, tf.complex64), m)
        noise = noise / tf.maximum(_rms(noise), 1e-12)  # unit power, as the white noise
    if prob < 1:
        noise = noise * tf.cast(on, tf.float32)[..., None]
    return audio + noise * tf.sqrt(noise_power)[..., None]


def add_noise(audio: tf.Tensor, snr_db: tuple[float, float], seed: tf.Tensor,
              color: tuple[float, float] | None = None, prob: float = 1.0, sr: int = 44100) -> tf.Tensor:
    """Noise at an SNR drawn uniformly from `snr_db` (dB) relative to `audio`'s power `(..., samples)`.

    White by default; `color` `(low, high)`: the exponent b of its power spectrum ~ f^-b, drawn uniformly
    (0 white, 1 pink, 2 brown, -1 blue; flat below 20 Hz), the noise then scaled to the SNR. `prob`: the
    chance it is added at all. One seed draws for every leading axis (the pipelines call it once per
    example, or draw example by example).
    """
    shape = tf.shape(audio)
    draws = _noise_draws(shape[:-1], shape[-1], snr_db, seed, color, prob)
    return _noise_apply(audio, *draws, color, prob, sr)


def _waveform_rest(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor, sr: int) -> tf.Tensor:
    """One example's gain, time shift and noise (`augment_waveform` after the recording chain)."""
    s = tf.random.experimental.stateless_split(seed, num=3)
    if aug.gain_db:
        g = tf.random.stateless_uniform([], s[0], aug.gain_db[0], aug.gain_db[1])
        audio = audio * tf.pow(10.0, g / 20.0)
    if aug.max_shift:
        shift = tf.random.stateless_uniform([], s[1], -aug.max_shift, aug.max_shift + 1, dtype=tf.int32)
        audio = tf.roll(audio, shift, axis=-1)
    if aug.noise_active:
        audio = add_noise(audio, aug.snr_db, s[2], aug.noise_color, aug.noise_prob, sr)
    return audio


def augment_waveform(audio: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor, sr: int = 44100) -> tf.Tensor:
    """Waveform augmentation of one example `(samples,)` from its stateless seed `(2,)`, as `augment_mix`
    does for a mix, or of a batch `(batch, samples)` with seeds `(batch, 2)`, each as it would be alone:
    the recording chain (`recording_chain`: reverb, EQ, compressor, drive, band-limiting), gain (uniform
    in `gain_db`), time shift (circular, uniform in ±`max_shift` samples), then noise at an SNR uniform
    in `snr_db` (probability `noise_prob`, colour `noise_color`)."""
    seed = tf.convert_to_tensor(seed)
    audio = recording_chain(audio, aug, seed, sr)
    if not (aug.gain_db or aug.max_shift or aug.noise_active):
        return audio
    if seed.shape.rank == 1:
        return _waveform_rest(audio, aug, seed, sr)
    return _channel_batch(None, audio, aug, seed, sr)[1]


def _mask_draws(aug: AugmentConfig, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """One example's SpecAugment draws from its seed `(2,)`: widths (int32) and start fractions in [0, 1)
    of its `time_masks` and `freq_masks` bands."""
    s = tf.random.experimental.stateless_split(seed, num=4)
    tw = tf.random.stateless_uniform([aug.time_masks], s[0], 0, aug.time_mask_width + 1, dtype=tf.int32)
    tu = tf.random.stateless_uniform([aug.time_masks], s[1])
    fw = tf.random.stateless_uniform([aug.freq_masks], s[2], 0, aug.freq_mask_width + 1, dtype=tf.int32)
    fu = tf.random.stateless_uniform([aug.freq_masks], s[3])
    return tw, tu, fw, fu


def _bands(widths: tf.Tensor, u: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """Which of `size` positions the bands `(n, masks)` cover: `(n, size)` bool. A band of width w starts
    uniformly in [0, size - w] (`u` in [0, 1) picks where)."""
    widths = tf.minimum(widths, size)
    room = tf.cast(size - widths + 1, tf.float32)
    start = tf.minimum(tf.cast(tf.floor(u * room), tf.int32), size - widths)
    pos = tf.range(size)[None, None, :]
    inside = (pos >= start[..., None]) & (pos < (start + widths)[..., None])  # (n, masks, size)
    return tf.reduce_any(inside, axis=1)


def spec_augment(features: tf.Tensor, aug: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """SpecAugment-style masks on `(frames, bins)` features, or a batch `(..., frames, bins)`:
    `time_masks` bands of 0 to `time_mask_width` frames and `freq_masks` of 0 to `freq_mask_width` bins,
    set to each example's minimum.

    Every example gets its own masks from its own stateless seed: `seed` is `(2,)` for one example, or
    `(..., 2)` with the features' leading (batch) axes. The same seed gives the same masks whatever
    batch the example is in. The draws (a few scalars an example; `tf.random.stateless_*` take one seed
    each) run in an in-graph loop over the batch; the masking itself is vectorised.
    """
    if not (aug.time_masks or aug.freq_masks):
        return features
    features = tf.convert_to_tensor(features)
    seed = tf.convert_to_tensor(seed)
    shape = tf.shape(features)
    frames, bins = shape[-2], shape[-1]
    flat = tf.reshape(features, tf.concat([[-1], shape[-2:]], 0))  # (n, frames, bins)
    seeds = tf.reshape(seed, [-1, 2])
    n = tf.shape(flat)[0]
    tf.debugging.assert_equal(tf.shape(seeds)[0], n, message="spec_augment: one seed (2,) per example needed")
    tw, tu, fw, fu = tf.map_fn(lambda s: _mask_draws(aug, s), seeds,
                               fn_output_signature=(tf.int32, tf.float32, tf.int32, tf.float32))
    masked_t = _bands(tw, tu, frames)  # (n, frames)
    masked_f = _bands(fw, fu, bins)  # (n, bins)
    masked = masked_t[:, :, None] | masked_f[:, None, :]
    floor = tf.reduce_min(flat, axis=[-2, -1], keepdims=True)
    out = tf.where(masked, floor, flat)
    return tf.reshape(out, shape)
