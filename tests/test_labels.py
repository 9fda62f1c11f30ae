"""tfaudio.data.labels: class encoders and seed 001's activation matrix."""
from __future__ import annotations

import librosa
import numpy as np
import pytest
import tensorflow as tf

from tests import fixtures
from tests.harness import assert_dataset_map_equal
from tfaudio import features
from tfaudio.errors import ConfigError, DatasetError
from tfaudio.data.labels import (
    MultiHotEncoder,
    OneHotEncoder,
    UnknownLabelError,
    activations,
    activations_to_db,
    multi_hot,
    one_hot,
)

CLASSES = ["clarinet", "distorted electric guitar", "female singer", "flute", "piano", "tenor saxophone",
           "trumpet", "violin"]
SR = 44100


# --------------------------------------------------------------------------- encoders


def test_one_hot_encoder():
    enc = OneHotEncoder(CLASSES)
    assert enc.num_classes == len(enc) == 8
    np.testing.assert_array_equal(enc.encode("flute"), np.eye(8, dtype=np.float32)[3])
    np.testing.assert_array_equal(enc.encode(4), np.eye(8)[4])  # an index is a label too
    batch = enc.encode_batch(["violin", "clarinet"])
    assert batch.dtype == np.float32 and batch.shape == (2, 8)
    assert enc.decode(batch) == ["violin", "clarinet"] and enc.decode(batch[0]) == "violin"
    assert enc.encode_batch([]).shape == (0, 8)
    assert np.array_equal(one_hot("piano", CLASSES), enc.encode("piano"))
    assert np.array_equal(one_hot(["piano", "flute"], CLASSES), enc.encode_batch(["piano", "flute"]))
    assert OneHotEncoder.from_config(enc.get_config()) == enc


def test_multi_hot_encoder():
    enc = MultiHotEncoder(CLASSES)
    np.testing.assert_array_equal(enc.encode(["piano", "violin", "piano"]), [0, 0, 0, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(enc.encode([]), np.zeros(8))
    np.testing.assert_array_equal(enc.encode("flute"), np.eye(8)[3])
    batch = enc.encode_batch([["flute"], [], ["trumpet", "clarinet"]])
    assert batch.shape == (3, 8)
    assert enc.decode(batch) == [["flute"], [], ["clarinet", "trumpet"]]
    assert enc.decode([0.2, 0.7, 0, 0, 0, 0, 0, 0.5]) == ["distorted electric guitar", "violin"]
    assert np.array_equal(multi_hot(["piano"], CLASSES), enc.encode(["piano"]))
    assert MultiHotEncoder.from_config(enc.get_config()) == enc


@pytest.mark.parametrize("encoder", [OneHotEncoder, MultiHotEncoder])
def test_unknown_label_is_named(encoder):
    enc = encoder(CLASSES)
    with pytest.raises(UnknownLabelError, match="'banjo'") as info:
        enc.encode("banjo") if encoder is OneHotEncoder else enc.encode(["piano", "banjo"])
    assert isinstance(info.value, DatasetError) and isinstance(info.value, KeyError)
    assert info.value.label == "banjo"
    assert "piano" in str(info.value)  # the message lists the classes
    with pytest.raises(UnknownLabelError, match="8"):
        enc.index(8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="banjo"):
        enc(tf.constant(["piano", "banjo"]))


def test_bad_class_lists():
    with pytest.raises(ConfigError, match="twice"):
        OneHotEncoder(["a", "b", "a"])
    with pytest.raises(ConfigError, match="at least one"):
        MultiHotEncoder([])
    with pytest.raises(ConfigError, match="string"):
        OneHotEncoder("piano")


def test_encoders_in_the_graph():
    one, multi = OneHotEncoder(CLASSES), MultiHotEncoder(CLASSES)
    labels = ["violin", "clarinet", "piano"]
    np.testing.assert_array_equal(one(tf.constant(labels)).numpy(), one.encode_batch(labels))
    np.testing.assert_array_equal(one(tf.constant([7, 0])).numpy(), one.encode_batch([7, 0]))
    ds = tf.data.Dataset.from_tensor_slices(labels).map(one)
    np.testing.assert_array_equal(np.stack(list(ds.as_numpy_iterator())), one.encode_batch(labels))
    sets = [["flute", "piano"], [], ["trumpet"]]
    ragged = tf.ragged.constant(sets, dtype=tf.string)
    np.testing.assert_array_equal(multi(ragged).numpy(), multi.encode_batch(sets))
    np.testing.assert_array_equal(multi(tf.constant(["flute", "piano"])).numpy(), multi.encode(["flute", "piano"]))
    np.testing.assert_array_equal(multi(tf.constant([], tf.string)).numpy(), np.zeros(8))
    ds = tf.data.Dataset.from_tensor_slices(ragged).map(multi)
    np.testing.assert_array_equal(np.stack(list(ds.as_numpy_iterator())), multi.encode_batch(sets))


# --------------------------------------------------------------------------- activations


def test_activation_levels():
    n = 15360  # one 0.348-s window: 16 frames
    t = np.arange(n) / SR
    full = np.sin(2 * np.pi * 1000 * t).astype(np.float32)  # RMS 1/sqrt(2): -3.01 dB
    stems = np.stack([full, 10 ** (-30 / 20) * full, 10 ** (-70 / 20) * full, np.zeros(n, np.float32)])
    act = activations(stems).numpy()
    assert act.shape == (4, 16) and act.dtype == np.float32
    inner = act[:, 2:-2]  # away from the zero-padded edges
    # 2048 samples hold 46.4 periods, so the frames' RMS is within 0.01 dB of 1/sqrt(2)
    np.testing.assert_allclose(inner[0], 1 - 3.0103 / 60, atol=3e-4)
    np.testing.assert_allclose(inner[1], 1 - 33.0103 / 60, atol=3e-4)
    np.testing.assert_array_equal(inner[2], 0.0)  # below the 60-dB range
    np.testing.assert_array_equal(act[3], 0.0)  # silent stem
    assert act.min() >= 0 and act.max() <= 1
    np.testing.assert_allclose(activations_to_db(inner[1]).numpy(), -33.0103, atol=0.02)


def test_activations_match_librosa_rms_and_use_the_feature_framing():
    stems = np.stack([fixtures.instrument(name, 1.0, SR) for name in ("violin", "piano", "flute")])
    gains = np.array([0.5, 0.25, 0.1], np.float32)
    act = activations(stems, gains=gains).numpy()
    assert act.shape == (3, features.num_frames(stems.shape[-1])) == (3, features.log_mel(stems[0]).shape[0])
    level = librosa.feature.rms(y=stems * gains[:, None], frame_length=2048, hop_length=1024)[:, 0]
    expected = np.clip(librosa.amplitude_to_db(level, ref=1.0, amin=1e-12, top_db=None) / 60 + 1, 0, 1)
    np.testing.assert_allclose(act, expected, atol=1e-4)
    # levels compare across mixes: the reference is fixed, not each mix's maximum
    np.testing.assert_allclose(activations(0.5 * stems, gains=gains).numpy(),
                               np.clip(act - 6.0206 / 60, 0, 1), atol=1e-4)


def test_activations_batched_and_in_dataset_map():
    stems = np.stack([np.stack([fixtures.instrument(n, 0.5, SR, seed=s) for n in ("trumpet", "clarinet")])
                      for s in range(3)])  # (3 mixes, 2 instruments, samples)
    out = assert_dataset_map_equal(activations, stems, batch_size=2)
    assert out.shape == (3, 2, 1 + stems.shape[-1] // 1024)


def test_activation_errors():
    with pytest.raises(ConfigError, match="instruments, samples"):
        activations(np.zeros(100))
    with pytest.raises(ConfigError, match="top_db"):
        activations(np.zeros((2, 100)), top_db=0)
