"""Training correctness: checkpoint selection follows the monitor's direction, the monitor is checked up
front, SpecAugment masks and clip augmentation are drawn per example, CQT/STFT inputs are in dB."""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import fixtures
from tests.harness import db_error, relative_error
from tfaudio import cli
from tfaudio.data import augment, mixing, pipeline
from tfaudio.features import amplitude_to_db
from tfaudio.config import AugmentConfig, FeatureConfig, MixConfig
from tfaudio.data.records import Record
from tfaudio.errors import ConfigError
from tfaudio.experiment import TASK_METRICS, load_experiment, monitor_choices, monitor_mode, read_yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))
TINY = ["data.per_class=3", "train.epochs=2", "train.steps_per_epoch=2", "train.validation_steps=1",
        "train.batch_size=4", "train.verbose=0", "data.clip_seconds=0.5", "model.units=[4]"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TFAUDIO_CACHE", str(tmp_path_factory.getbasetemp() / "tfaudio-cache"))
    yield
    keras.mixed_precision.set_global_policy("float32")


def _sets(items):
    return sum([["--set", s] for s in items], [])


# ---------------------------------------------------------------------------------------------
# 1. checkpoint selection follows the monitor's direction


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    model.compile("adam", "mse")
    return model


def _epochs(cb, model, values, monitor, first_epoch=0):
    """Run `on_epoch_end` with `values` of `monitor`; epoch e's kernel is filled with e + 1."""
    for i, v in enumerate(values):
        e = first_epoch + i
        model.get_layer("dense").kernel.assign(np.full((3, 2), e + 1, np.float32))
        cb.on_epoch_end(e, {"loss": 10.0 - e, monitor: v})


def _best_epoch(run: Path) -> int:
    """Which epoch (0-based) best.keras holds, from its kernel."""
    model = keras.models.load_model(run / "checkpoints" / "best.keras", compile=False)
    kernel = model.get_layer("dense").kernel.numpy()
    assert (kernel == kernel.flat[0]).all()
    return int(kernel.flat[0]) - 1


def _state(run: Path) -> dict:
    return json.loads((run / "checkpoints" / "state.json").read_text())


def test_atomic_checkpoints_is_a_keras_callback(tmp_path):
    from tfaudio.training.callbacks import atomic_checkpoints

    cb = atomic_checkpoints(tmp_path, "val_loss")
    assert isinstance(cb, keras.callbacks.Callback)
    assert type(cb).__name__ == "AtomicCheckpoints"
    assert type(atomic_checkpoints(tmp_path / "other", "val_accuracy", write=False, mode="max")) is type(cb)
    assert cb.mode == "min" and cb.best == np.inf
    assert atomic_checkpoints(tmp_path, "val_accuracy").best == -np.inf


@pytest.mark.parametrize("monitor, mode, values, best", [
    ("val_accuracy", "auto", [0.5, 0.9, 0.7, 0.8], 1),  # accuracy: higher is better
    ("val_auc", "auto", [0.6, 0.55, 0.65, 0.64], 2),
    ("val_loss", "auto", [0.5, 0.9, 0.3, 0.4], 2),  # loss: lower is better
    ("val_mae", "auto", [0.5, 0.2, 0.3, 0.4], 1),
    ("val_accuracy", "min", [0.5, 0.9, 0.3, 0.4], 2),  # an explicit mode wins over the name
    ("val_loss", "max", [0.5, 0.9, 0.3, 0.4], 1),
])
def test_best_checkpoint_follows_the_monitor_direction(tmp_path, monitor, mode, values, best):
    from tfaudio.training.callbacks import atomic_checkpoints

    model = _model()
    cb = atomic_checkpoints(tmp_path, monitor, mode=mode)
    cb.set_model(model)
    _epochs(cb, model, values, monitor)
    assert _best_epoch(tmp_path) == best
    state = _state(tmp_path)
    expected_mode = mode if mode != "auto" else ("max" if "acc" in monitor or "auc" in monitor else "min")
    assert state == {"best": pytest.approx(values[best]), "epoch": len(values), "monitor": monitor,
                     "mode": expected_mode}
    # last.keras is the last epoch, whatever the monitor said
    last = keras.models.load_model(tmp_path / "checkpoints" / "last.keras", compile=False)
    assert (last.get_layer("dense").kernel.numpy() == len(values)).all()
    assert not list((tmp_path / "checkpoints").glob(".*tmp*"))  # saved to a temporary name, then renamed


def test_resumed_run_keeps_its_best_value(tmp_path):
    from tfaudio.training.callbacks import atomic_checkpoints

    model = _model()
    cb = atomic_checkpoints(tmp_path, "val_accuracy")
    cb.set_model(model)
    _epochs(cb, model, [0.5, 0.9], "val_accuracy")
    assert _best_epoch(tmp_path) == 1
    resumed = atomic_checkpoints(tmp_path, "val_accuracy")  # as after --resume
    resumed.set_model(model)
    assert (resumed.mode, resumed.best) == ("max", pytest.approx(0.9))
    _epochs(resumed, model, [0.7, 0.8], "val_accuracy", first_epoch=2)
    assert _best_epoch(tmp_path) == 1 and _state(tmp_path)["best"] == pytest.approx(0.9)
    _epochs(resumed, model, [0.95], "val_accuracy", first_epoch=4)
    assert _best_epoch(tmp_path) == 4 and _state(tmp_path)["epoch"] == 5


def test_resumed_run_with_another_monitor_or_mode_starts_its_best_afresh(tmp_path):
    from tfaudio.training.callbacks import atomic_checkpoints

    model = _model()
    cb = atomic_checkpoints(tmp_path, "val_loss")
    cb.set_model(model)
    _epochs(cb, model, [0.2], "val_loss")
    # the same monitor with the opposite mode: 0.2 was a minimum, it is no maximum to beat
    cb = atomic_checkpoints(tmp_path, "val_loss", mode="max")
    assert cb.best == -np.inf
    cb = atomic_checkpoints(tmp_path, "val_accuracy")
    assert (cb.mode, cb.best) == ("max", -np.inf)
    cb.set_model(model)
    _epochs(cb, model, [0.1], "val_accuracy", first_epoch=1)
    assert _best_epoch(tmp_path) == 1
    # a state.json written before modes existed (no "mode", best in "min" mode)
    (tmp_path / "checkpoints" / "state.json").write_text('{"best": 0.4, "epoch": 2, "monitor": "val_loss"}')
    cb = atomic_checkpoints(tmp_path, "val_loss")
    assert (cb.mode, cb.best) == ("min", 0.4)
    (tmp_path / "checkpoints" / "state.json").write_text('{"best": Infinity, "epoch": 2, "monitor": "val_loss"}')
    assert atomic_checkpoints(tmp_path, "val_loss").best == np.inf


def test_a_monitor_missing_from_the_logs_is_an_error_not_the_loss(tmp_path):
    from tfaudio.training.callbacks import atomic_checkpoints

    model = _model()
    cb = atomic_checkpoints(tmp_path, "val_accuracy")
    cb.set_model(model)
    with pytest.raises(ConfigError, match="val_accuracy"):
        cb.on_epoch_end(0, {"loss": 0.1, "accuracy": 0.5})
    assert not (tmp_path / "checkpoints" / "best.keras").exists()


def test_monitor_mode_rules():
    for name in ("accuracy", "val_accuracy", "binary_accuracy", "val_binary_accuracy", "acc", "auc", "val_auc",
                 "f1_macro", "val_f1", "precision", "recall", "lrap", "map", "val_map"):
        assert monitor_mode(name) == "max", name
    for name in ("loss", "val_loss", "mae", "val_mae", "mse", "mape", "val_mape", "binary_crossentropy",
                 "mean_squared_error"):
        assert monitor_mode(name) == "min", name
    assert monitor_mode("val_accuracy", "min") == "min" and monitor_mode("val_loss", "max") == "max"
    with pytest.raises(ConfigError, match="monitor_mode"):
        monitor_mode("val_weird")
    with pytest.raises(ConfigError, match="monitor_mode 'up'"):
        monitor_mode("val_loss", "up")


def test_monitor_mode_key_is_validated():
    path = ROOT / "pipelines" / "goel_lstm.yaml"
    assert load_experiment(path).train.monitor_mode == "auto"
    assert load_experiment(path, ["train.monitor_mode=max"]).train.monitor_mode == "max"
    with pytest.raises(ConfigError, match=r"train.monitor_mode 'up' is not one of \('auto', 'min', 'max'\)"):
        load_experiment(path, ["train.monitor_mode=up"])


def _history(run: Path) -> list[dict]:
    return list(csv.DictReader((run / "history.csv").open()))


@pytest.mark.slow
def test_training_selects_the_best_epoch_by_the_monitor_direction(tmp_path, monkeypatch):
    """`tfaudio train` with train.monitor=val_accuracy keeps the highest-accuracy epoch and gives
    ReduceLROnPlateau the same mode; with no validation data val_accuracy falls back to accuracy."""
    modes = []

    class Spy(keras.callbacks.ReduceLROnPlateau):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            modes.append((self.monitor, self.mode))

    monkeypatch.setattr(keras.callbacks, "ReduceLROnPlateau", Spy)
    run = tmp_path / "acc"
    assert cli.main(["train", "goel_lstm", "--out", str(run), *_sets(TINY), "--set", "train.epochs=3",
                     "--set", "train.monitor=val_accuracy"]) == 0
    state = _state(run)
    hist = [float(r["val_accuracy"]) for r in _history(run)]
    assert (state["monitor"], state["mode"], state["epoch"]) == ("val_accuracy", "max", 3)
    assert state["best"] == pytest.approx(max(hist))
    assert modes == [("val_accuracy", "max")]

    run = tmp_path / "noval"
    assert cli.main(["train", "goel_lstm", "--out", str(run), *_sets(TINY), "--set", "train.epochs=1",
                     "--set", "train.monitor=val_accuracy", "--set", "data.val_split=null",
                     "--set", "data.val_fraction=0"]) == 0
    state = _state(run)
    assert (state["monitor"], state["mode"]) == ("accuracy", "max")
    assert state["best"] == pytest.approx(float(_history(run)[0]["accuracy"]))
    assert modes[-1] == ("accuracy", "max")


# ---------------------------------------------------------------------------------------------
# 2. an unknown monitor is a ConfigError before training


def test_unknown_monitor_is_refused_before_any_data_is_loaded(tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    run = tmp_path / "run"
    monkeypatch.setenv("TFAUDIO_CACHE", str(cache))
    rc = cli.main(["train", "neuroment_mel", "--out", str(run), *_sets(TINY[:6]), "--set", "train.epochs=1",
                   "--set", "train.monitor=val_acuracy"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "train.monitor 'val_acuracy'" in err[0]
    assert "['loss', 'mae', 'val_loss', 'val_mae']" in err[0]
    assert not run.exists() and not cache.exists()  # nothing rendered, decoded or written


@pytest.mark.parametrize("pipeline, good, bad", [
    ("neuroment_mel", ["val_loss", "loss", "val_mae", "mae"], ["val_accuracy", "val_auc", "lose"]),
    ("goel_lstm", ["val_loss", "val_accuracy", "accuracy"], ["val_auc", "val_acc", "val_mae"]),
    ("avramidis_fcn_raw", ["val_loss", "val_binary_accuracy", "val_auc", "auc"], ["val_accuracy", "f1"]),
])
def test_monitor_must_be_a_metric_of_the_task(pipeline, good, bad):
    path = ROOT / "pipelines" / f"{pipeline}.yaml"
    for m in good:
        assert load_experiment(path, [f"train.monitor={m}"]).train.monitor == m
    for m in bad:
        with pytest.raises(ConfigError, match=rf"train.monitor '{m}' is not a metric of task"):
            load_experiment(path, [f"train.monitor={m}"])


@pytest.mark.parametrize("task", sorted(TASK_METRICS))
def test_monitor_choices_are_what_compile_model_logs(task):
    """The names `train.monitor` is checked against are exactly what the compiled model logs."""
    from tfaudio.training.train import compile_model

    cfg = next(c for c in (load_experiment(p) for p in PIPELINES) if c.task == task)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    inp = keras.Input((3,))
    if task == "activation":
        out = keras.layers.Reshape((2, 3))(keras.layers.Dense(6, activation="sigmoid")(inp))
        y = rng.uniform(size=(8, 2, 3)).astype(np.float32)
    elif task == "multi_label":
        out = keras.layers.Dense(3, activation="sigmoid")(inp)
        y = (rng.uniform(size=(8, 3)) > 0.5).astype(np.float32)
    else:
        out = keras.layers.Dense(3, activation="softmax")(inp)
        y = rng.integers(0, 3, 8)
    model = keras.Model(inp, out)
    compile_model(model, cfg)
    hist = model.fit(x, y, validation_data=(x, y), epochs=1, batch_size=4, verbose=0).history
    assert set(hist) - {"learning_rate"} == set(monitor_choices(task))
    hist = model.fit(x, y, epochs=1, batch_size=4, verbose=0).history
    assert set(hist) - {"learning_rate"} == set(monitor_choices(task, validation=False))


# ---------------------------------------------------------------------------------------------
# 3. SpecAugment masks are drawn per example

AUG = AugmentConfig(time_masks=1, time_mask_width=3, freq_masks=1, freq_mask_width=5)


def _masks(out: np.ndarray):
    """(masked rows `(n, frames)`, masked columns `(n, bins)`, masked cells `(n, frames, bins)`) of masked
    features whose values are all distinct: masked cells hold the example's minimum (so does its own
    minimum cell, masked or not)."""
    masked = out == out.min(axis=(-2, -1), keepdims=True)
    return masked.all(axis=-1), masked.all(axis=-2), masked


def _check_masks(out: np.ndarray, x: np.ndarray):
    """Masks are whole bands set to the minimum, the rest untouched; returns (rows, cols)."""
    rows, cols, masked = _masks(out)
    np.testing.assert_array_equal(out.min(axis=(-2, -1)), x.min(axis=(-2, -1)))
    np.testing.assert_array_equal(out[~masked], x[~masked])
    bands = rows[..., :, None] | cols[..., None, :]
    assert ((masked & ~bands).sum(axis=(-2, -1)) <= 1).all()  # at most the minimum cell itself
    return rows, cols


def _runs(flags: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D bool array."""
    padded = np.concatenate([[0], flags.astype(int), [0]])
    d = np.diff(padded)
    return list(np.flatnonzero(d == -1) - np.flatnonzero(d == 1))


def test_spec_augment_draws_masks_per_example():
    n = 200
    one = tf.random.stateless_uniform((16, 32), [0, 1], 1.0, 2.0)
    x = tf.tile(one[None], [n, 1, 1])  # identical examples
    seeds = tf.stack([tf.range(n, dtype=tf.int64), tf.fill([n], tf.constant(7, tf.int64))], axis=1)
    out = augment.spec_augment(x, AUG, seeds).numpy()
    rows, cols = _check_masks(out, x.numpy())
    # distinct seeds, distinct masks
    patterns = {(r.tobytes(), c.tobytes()) for r, c in zip(rows, cols)}
    assert len(patterns) > n // 2
    # widths obey the config: one band each, 0..3 frames and 0..5 bins, every width drawn
    t_widths = [sum(_runs(r)) for r in rows]
    f_widths = [sum(_runs(c)) for c in cols]
    assert all(len(_runs(r)) <= 1 for r in rows) and all(len(_runs(c)) <= 1 for c in cols)
    assert set(t_widths) == {0, 1, 2, 3} and set(f_widths) == {0, 1, 2, 3, 4, 5}
    # the same seed gives the same masks, alone or in any batch
    for i in (0, 5, 123):
        alone = augment.spec_augment(x[i], AUG, seeds[i]).numpy()
        np.testing.assert_array_equal(alone, out[i])
    again = augment.spec_augment(x[:4], AUG, tf.stack([seeds[9]] * 4)).numpy()
    for k in range(4):
        np.testing.assert_array_equal(again[k], out[9])
    # leading axes beyond one batch axis
    nested = augment.spec_augment(tf.reshape(x[:6], (2, 3, 16, 32)), AUG, tf.reshape(seeds[:6], (2, 3, 2))).numpy()
    np.testing.assert_array_equal(nested.reshape(6, 16, 32), out[:6])


def test_spec_augment_mask_counts_and_widths():
    aug = AugmentConfig(time_masks=2, time_mask_width=2, freq_masks=3, freq_mask_width=4)
    n = 100
    x = tf.random.stateless_uniform((n, 10, 40), [3, 4], 1.0, 2.0)
    seeds = tf.stack([tf.fill([n], tf.constant(1, tf.int64)), tf.range(n, dtype=tf.int64)], axis=1)
    rows, cols = _check_masks(augment.spec_augment(x, aug, seeds).numpy(), x.numpy())
    assert rows.sum(axis=1).max() <= 4 and cols.sum(axis=1).max() <= 12
    assert all(max(_runs(r), default=0) <= 4 for r in rows) and all(max(_runs(c), default=0) <= 12 for c in cols)
    assert rows.any() and cols.any()
    assert augment.spec_augment(x, AugmentConfig(), seeds) is x  # no masks configured: untouched


def _same_audio_pool(k: int = 4, per_class: int = 2, length: int = 15360) -> mixing.WindowPool:
    """Every window the same noise, so every mix of one instrument at a fixed level is the same audio."""
    w = (0.3 * np.random.default_rng(0).standard_normal(length)).astype(np.float32)
    audio = np.tile(w, (k * per_class, 1))
    return mixing.WindowPool(tf.Variable(audio, trainable=False), tf.constant(np.arange(k, dtype=np.int32) * per_class),
                           tf.constant(np.full(k, per_class, np.int32)), [f"c{i}" for i in range(k)])


def test_mixtures_mask_each_mix_of_a_batch_on_its_own():
    pool = _same_audio_pool()
    mix = MixConfig(n_min=1, n_max=1, level_var=0.0)
    feats = FeatureConfig(kind="mel", sr=22050, fmax=11025.0)  # power: no floor, every value distinct
    aug = AugmentConfig(time_masks=1, time_mask_width=4, freq_masks=1, freq_mask_width=20)
    kw = dict(mix=mix, seed=3, features=feats, batch_size=8, num_mixes=16, pool=pool, rerandomize=False)
    plain = list(pipeline.mixtures([], pool.classes, **kw).as_numpy_iterator())
    masked = list(pipeline.mixtures([], pool.classes, augment=aug, **kw).as_numpy_iterator())
    for p, m in zip(plain, masked):
        np.testing.assert_array_equal(p["features"], p["features"][:1].repeat(8, 0))  # the same audio
        rows, cols = _check_masks(m["features"], p["features"])
        assert len({(r.tobytes(), c.tobytes()) for r, c in zip(rows, cols)}) > 4  # not one mask a batch
        assert rows.sum(axis=1).max() <= 4 and cols.sum(axis=1).max() <= 20
    again = list(pipeline.mixtures([], pool.classes, augment=aug, **kw).as_numpy_iterator())
    for a, b in zip(masked, again):
        np.testing.assert_array_equal(a["features"], b["features"])


# ---------------------------------------------------------------------------------------------
# 4. class_dataset applies its augmentation config

SR = 22050
WIN = 2048


@pytest.fixture(scope="module")
def clip_records(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    recs = []
    for i in range(4):
        y = fixtures.sine(220.0 * (i + 1), 0.5, SR, amp=0.3) + fixtures.noise(0.5, SR, amp=0.05, seed=i)
        path = fixtures.write_audio(root / f"c{i}.wav", y, SR, "FLOAT")
        recs.append(Record(str(path), ("a" if i % 2 else "b",)))
    return recs


def _batches(recs, augment=AugmentConfig(), features=None, seed=0):
    ds = pipeline.class_dataset(recs, ["a", "b"], sr=SR, window=WIN, features=features, batch_size=64, shuffle=None,
                            seed=seed, label_mode="int", cache=None, augment=augment)
    (x, y), = list(ds.as_numpy_iterator())  # one batch holds every window
    return x, y


def _raw_windows(recs) -> np.ndarray:
    import soundfile as sf

    out = []
    for r in recs:
        y, _ = sf.read(r.path, dtype="float32")
        out.extend(y[i:i + WIN] for i in range(0, len(y) - WIN + 1, WIN))
    return np.stack(out)


def test_class_dataset_without_augment_is_unchanged(clip_records):
    raw = _raw_windows(clip_records)
    x, y = _batches(clip_records, None)
    np.testing.assert_array_equal(x, raw)
    np.testing.assert_array_equal(_batches(clip_records, AugmentConfig())[0], raw)  # inactive config
    feats = FeatureConfig(sr=SR, fmax=11025.0)
    f, _ = _batches(clip_records, None, feats)
    np.testing.assert_allclose(f, feats.compute(raw).numpy(), rtol=1e-5, atol=1e-4)


def test_class_dataset_time_shift(clip_records):
    base, _ = _batches(clip_records)
    x, _ = _batches(clip_records, AugmentConfig(max_shift=300))
    shifts = []
    for a, b in zip(x, base):
        k = next(k for k in range(-300, 301) if np.array_equal(a, np.roll(b, k)))
        shifts.append(k)
    assert len(set(shifts)) > len(shifts) // 2  # a shift per example
    assert any(s != 0 for s in shifts)


def test_class_dataset_gain(clip_records):
    base, _ = _batches(clip_records)
    x, _ = _batches(clip_records, AugmentConfig(gain_db=(-12.0, -3.0)))
    gains = 20 * np.log10(np.abs(x).max(1) / np.abs(base).max(1))
    np.testing.assert_allclose(x, base * 10 ** (gains[:, None] / 20), rtol=1e-4, atol=1e-6)
    assert gains.min() >= -12.0 - 1e-3 and gains.max() <= -3.0 + 1e-3
    assert np.ptp(gains) > 1.0  # a gain per example


def test_class_dataset_noise_at_an_snr(clip_records):
    base, _ = _batches(clip_records)
    x, _ = _batches(clip_records, AugmentConfig(snr_db=(10.0, 20.0)))
    noise = x - base
    snr = 10 * np.log10((base ** 2).mean(1) / (noise ** 2).mean(1))
    assert snr.min() > 9.0 and snr.max() < 21.0
    assert np.ptp(snr) > 1.0


def test_class_dataset_spec_augment_on_features(clip_records):
    feats = FeatureConfig(kind="mel", sr=SR, fmax=11025.0)  # power: no floor, every value distinct
    base, _ = _batches(clip_records, AugmentConfig(), feats)
    aug = AugmentConfig(time_masks=1, time_mask_width=2, freq_masks=2, freq_mask_width=10)
    f, _ = _batches(clip_records, aug, feats)
    assert (f != base).any()
    rows, cols = _check_masks(f, base)
    assert rows.sum(1).max() <= 2 and cols.sum(1).max() <= 20
    assert len({(r.tobytes(), c.tobytes()) for r, c in zip(rows, cols)}) > 2
    # raw-audio input: masks do not apply, the audio is untouched
    np.testing.assert_array_equal(_batches(clip_records, aug)[0], _batches(clip_records)[0])


def test_class_dataset_augmentation_is_seeded_and_new_every_epoch(clip_records):
    aug = AugmentConfig(gain_db=(-6.0, 0.0), max_shift=100, snr_db=(20.0, 30.0))
    a, _ = _batches(clip_records, aug, seed=5)
    b, _ = _batches(clip_records, aug, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _batches(clip_records, aug, seed=6)[0])
    ds = pipeline.class_dataset(clip_records, ["a", "b"], sr=SR, window=WIN, batch_size=64, shuffle=None, seed=5,
                            label_mode="int", cache=None, augment=aug)
    first, second = (next(iter(ds))[0].numpy() for _ in range(2))
    np.testing.assert_array_equal(first, a)
    assert not np.array_equal(first, second)


# ---------------------------------------------------------------------------------------------
# 5. CQT and STFT features in dB with the top_db floor, everywhere


def _audio(n: int = 3, seconds: float = 0.7) -> np.ndarray:
    return np.stack([fixtures.music(seconds, SR, seed=i) * (0.2 + 0.4 * i) for i in range(n)])


@pytest.mark.filterwarnings("ignore:n_fft=.* is too large:UserWarning")  # librosa.cqt's top octaves
def test_cqt_and_stft_features_are_in_db_with_the_top_db_floor():
    import librosa

    y = _audio()
    stft = FeatureConfig(kind="stft", sr=SR, fmax=11025.0, top_db=50.0)
    cqt = FeatureConfig(kind="cqt", sr=SR, fmax=11025.0, top_db=50.0, n_bins=168)
    for cfg, fn in ((stft, lambda v: np.abs(librosa.stft(v, n_fft=2048, hop_length=1024))),
                    (cqt, lambda v: np.abs(librosa.cqt(v, sr=SR, hop_length=1024, fmin=27.5, n_bins=168,
                                                       bins_per_octave=24)))):
        assert cfg.scale == "db"
        got = cfg.compute(y).numpy()
        for i in range(len(y)):
            want = librosa.amplitude_to_db(fn(y[i]), ref=1.0, amin=1e-5, top_db=50.0).T
            assert np.ptp(got[i]) == pytest.approx(50.0, abs=1e-3), cfg.kind  # floored 50 dB below the peak
            mean, worst = db_error(got[i], want, floor_db=want.max() - 45)
            assert mean < 1e-3 and worst < 0.05, (cfg.kind, mean, worst)
        linear = dataclasses.replace(cfg, scale="linear").compute(y).numpy()
        assert linear.min() >= 0
        np.testing.assert_allclose(got, amplitude_to_db(linear, top_db=50.0).numpy(), atol=1e-3)


def test_feature_scale_is_validated_and_explicit_in_the_pipelines():
    with pytest.raises(ConfigError, match="feature scale 'log' is not one of"):
        FeatureConfig(kind="cqt", scale="log")
    with pytest.raises(ConfigError, match="scale 'linear' does not apply"):
        FeatureConfig(kind="log_mel", scale="linear")
    path = ROOT / "pipelines" / "neuroment_cqt.yaml"
    with pytest.raises(ConfigError, match="features: feature scale 'dB' is not one of"):
        load_experiment(path, ["features.scale=dB"])
    assert load_experiment(path, ["features.scale=linear"]).features.scale == "linear"
    seen = set()
    for p in PIPELINES:
        feats = read_yaml(p).get("features") or {}
        if feats.get("kind") in ("cqt", "stft"):
            assert feats.get("scale") == "db", p.name  # stated, not left to the default
            seen.add(feats["kind"])
    assert seen == {"cqt", "stft"}


@pytest.mark.parametrize("kind, params", [("cqt", 1_915_120), ("stft", 8_730_864)])
def test_feature_layers_in_the_model_match_precomputed_features(kind, params):
    """activation_cnn with input="audio" computes inside what the data pipeline feeds one with
    input="features", and the weights do not change."""
    from tfaudio import models

    feats = FeatureConfig(kind=kind)
    y = np.stack([fixtures.music(0.35, 44100, seed=i)[:15360] * g for i, g in enumerate((0.1, 0.5))])
    audio_model = models.build("activation_cnn", features=feats, input="audio")
    feature_model = models.build("activation_cnn", features=feats)
    assert audio_model.count_params() == feature_model.count_params() == params
    frontend = keras.Model(audio_model.input, audio_model.get_layer("frontend").output)
    inside = frontend(y).numpy()
    outside = feats.compute(y).numpy()
    assert inside.shape == outside.shape == (2, 16, feats.n_features)
    assert relative_error(inside, outside) < 1e-6
    assert np.ptp(outside[0]) == pytest.approx(feats.top_db, abs=1e-3)  # dB, not magnitudes
    # so the two models predict the same
    feature_model.set_weights(audio_model.get_weights())
    np.testing.assert_allclose(audio_model(y).numpy(), feature_model(outside).numpy(), atol=1e-5)
    keras.backend.clear_session()
