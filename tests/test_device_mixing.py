"""Mixing inside the compiled training step (`train.mixing: device`) and the precision policy."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import TINY_ACTIVATION, sets
from tfaudio.data import mixing, pipeline
from tfaudio.models import precision
from tfaudio.config import FeatureConfig, MixConfig
from tfaudio.data.device_mixing import DeviceMixing, seed_batches

K, WIN = 6, 15360


def _pool() -> mixing.WindowPool:
    rng = np.random.default_rng(2)
    t = np.arange(WIN) / 44100
    audio = np.stack([0.3 * np.sin(2 * np.pi * rng.uniform(80, 4000) * t) * rng.uniform(0.2, 1.0, 1)
                      + 0.01 * rng.standard_normal(WIN) for _ in range(K * 4)]).astype(np.float32)
    return mixing.WindowPool(tf.Variable(audio, trainable=False), tf.constant(np.arange(K, dtype=np.int32) * 4),
                           tf.constant(np.full(K, 4, np.int32)), [f"c{i}" for i in range(K)])


def test_device_path_makes_the_same_examples_as_the_tf_data_path():
    pool, mix, feats = _pool(), MixConfig(), FeatureConfig(kind="log_mel", sr=44100)
    tf_data = pipeline.for_training(pipeline.mixtures([], pool.classes, mix, seed=5, features=feats, batch_size=8,
                                                      num_mixes=16, pool=pool))
    inner = keras.Sequential([keras.Input((16, 128)), keras.layers.Flatten(), keras.layers.Dense(K * 16),
                              keras.layers.Reshape((K, 16))])
    wrapped = DeviceMixing(inner, pool, mix, feats)
    compiled = tf.function(wrapped.examples, jit_compile=True)  # as inside a jit-compiled train step
    batches = list(seed_batches(5, 8, num_batches=2))
    for (x, y), seeds in zip(tf_data, batches):
        dx, dy = compiled(seeds)
        assert dx.shape == x.shape and dy.shape == y.shape
        np.testing.assert_allclose(dy.numpy(), y.numpy(), atol=1e-5)
        np.testing.assert_allclose(dx.numpy(), x.numpy(), atol=2e-3)  # dB; XLA fuses and reorders
        assert np.abs(dx.numpy() - x.numpy()).mean() < 1e-4
    assert not np.allclose(compiled(batches[0])[0].numpy(), compiled(batches[1])[0].numpy())


def test_device_path_trains_and_saves_the_plain_model(tmp_path, cache):
    from tfaudio import cli

    run = tmp_path / "run"
    assert cli.main(["train", "neuroment_mel", "--out", str(run), *sets(TINY_ACTIVATION),
                     "--set", "train.mixing=device", "--set", "train.mixed_precision=float32"]) == 0
    model = keras.models.load_model(run / "checkpoints" / "last.keras", safe_mode=True)
    assert not isinstance(model, DeviceMixing) and model.input_shape == (None, 16, 128)
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 2 and "val_loss" in history[0]
    assert json.loads((run / "config.json").read_text())["train"]["mixing"] == "device"


def test_precision_auto_picks_bfloat16_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    precision.cpu_flags.cache_clear()
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert precision.resolve("auto") == "mixed_bfloat16"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert precision.resolve("auto") == "float32"
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert precision.resolve("auto") == "float32"
    assert precision.resolve("float32") == "float32"


def test_unknown_mixing_is_a_config_error():
    from tfaudio.errors import ConfigError
    from tfaudio.experiment import TrainConfig

    with pytest.raises(ConfigError, match="train.mixing 'gpu' is not one of"):
        TrainConfig(mixing="gpu")


def test_bfloat16_inference_copy_keeps_the_weights_and_outputs_within_tolerance():
    from tfaudio import models

    keras.utils.set_random_seed(1)
    model = models.build("activation_cnn", n_instruments=4, n_frames=16, n_bins=128)
    fast = precision.with_policy(model, "mixed_bfloat16")
    assert precision.policy_of(fast) == "mixed_bfloat16" and precision.policy_of(model) == "float32"
    assert precision.with_policy(fast, "mixed_bfloat16") is fast and precision.with_policy(model, "float32") is model
    for a, b in zip(model.weights, fast.weights):
        assert b.dtype == "float32"
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    x = np.random.default_rng(0).uniform(-60, 0, (8, 16, 128)).astype(np.float32)
    ref, out = model(x).numpy(), fast(x).numpy()
    assert out.dtype == np.float32
    # bfloat16 keeps 8 bits of mantissa: outputs in [0, 1] within 0.02, on the same side of 0.5 nearly always
    assert np.abs(out - ref).max() < 0.02, np.abs(out - ref).max()
    assert ((out >= 0.5) == (ref >= 0.5)).mean() > 0.98
