"""Model zoo: registry, configs, the seeds' sizes, serialisation, mixed precision, and learning.

Everything trains at tiny sizes; models at the seeds' sizes are only built (to count weights).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tfaudio import models
from tfaudio.config import FeatureConfig, to_dict
from tfaudio.errors import ConfigError

from tests.harness import (assert_config_round_trip, assert_dataset_map_equal, assert_no_lambda_layers,
                           assert_saved_model_equal, dtype_policy)

ROOT = Path(__file__).resolve().parents[1]
K = 3  # classes in the toy tasks

# every Keras model at a tiny size (a few frames, bins, units)
TINY = {
    "simple_rnn": dict(n_frames=6, n_bins=5, units=(4,)),
    "gru": dict(n_frames=6, n_bins=5, units=(4,)),
    "lstm": dict(n_frames=6, n_bins=5, units=(4,)),
    "bilstm": dict(n_frames=6, n_bins=5, units=(4,)),
    "cnn_stacked": dict(n_samples=64, filters=(4,), embedding=8),
    "cnn_mrp": dict(size=8, window_sizes=(8, 16), n_samples=32, filters=(4,), embedding=8),
    "cnn_lstm": dict(n_frames=6, n_bins=5, size=8, window_sizes=(8, 16), filters=(4,), embedding=8, units=4),
    "activation_cnn": dict(n_frames=4, n_bins=16, filters=(2, 2, 2)),
    "bigru_raw": dict(n_samples=64, frame_length=8, units=(4,)),
    "dcnn_raw": dict(n_samples=64, filters=(4, 4), dense_units=8),
    "fcn_raw": dict(n_samples=64, filters=(4, 4)),
    "rfcn_raw": dict(n_samples=64, filters=(4, 4)),
    "rcnn_raw": dict(n_samples=64, filters=(4, 4), gru_units=(4,)),
    "transformer": dict(n_frames=6, n_bins=5, n_layers=1, n_heads=2, d_model=8, d_ff=8),
    "resnet18": dict(n_frames=16, n_bins=16, widths=(4, 4, 4, 4)),
    "cnn_small": dict(n_frames=8, n_bins=8, filters=(4, 4, 4), hidden=8, dropout=0.1),
    "cnn_compact": dict(n_frames=8, n_bins=8, filters=(4, 4), dropout=0.1),
    "musicnn": dict(n_frames=8, n_bins=16, frontend_filters=0.05, midend_filters=4, backend_units=4, dropout=0.1),
    "musicnn_vgg": dict(n_frames=96, n_bins=64, filters=4, dropout=0.1, dense_dropout=0.1),
    "musicnn_head": dict(n_frames=8, head_units=4, dropout=0.1),  # the backbone's 96 bins and weights
}
KERAS_MODELS = [n for n in models.available() if n != "svm"]
# a small spectral front end for the input="audio" tests (128-sample hop: 6 frames = 640 samples)
TINY_FEATURES = FeatureConfig(kind="log_mel", sr=8000, n_fft=256, hop_length=128, n_mels=16, fmin=0.0,
                              fmax=4000.0, n_mfcc=8, n_bins=24, bins_per_octave=12)


def tiny(name: str, **overrides) -> keras.Model:
    return models.build(name, n_classes=K, **{**TINY[name], **overrides})


def toy_task(model: keras.Model, n: int = 32, seed: int = 0):
    """A learnable task: the class is marked by a large value at one of the first K input positions
    (of every input); targets shaped for the model's output, and the matching loss.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, n)

    def make(shape):
        x = rng.normal(size=(n, int(np.prod(shape)))).astype(np.float32)
        x[:, :K] = 0.0
        x[np.arange(n), y] = 3.0
        return x.reshape((n, *shape))

    if isinstance(model.input, dict):
        x = {k: make(v.shape[1:]) for k, v in model.input.items()}
    else:
        x = make(model.input.shape[1:])
    out = model.output.shape
    if len(out) == 3:  # activations (batch, instruments, frames)
        target = np.repeat(np.eye(K, dtype=np.float32)[y][:, :, None], out[2], axis=2)
        return x, target, "binary_crossentropy"
    if model.get_layer("output").activation.__name__ == "sigmoid":
        return x, np.eye(K, dtype=np.float32)[y], "binary_crossentropy"
    return x, y, "sparse_categorical_crossentropy"


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


# ---------------------------------------------------------------------------------------------
# registry and configs


def test_registry_lists_every_seed_model():
    assert set(models.available()) == {
        "simple_rnn", "gru", "lstm", "bilstm", "cnn_stacked", "cnn_mrp", "cnn_lstm",  # seed 000
        "activation_cnn",  # seed 001
        "bigru_raw", "dcnn_raw", "fcn_raw", "rfcn_raw", "rcnn_raw",  # seed 003
        "transformer", "resnet18", "cnn_small", "svm",  # seed 004
        "cnn_compact",  # not from a seed: the pretrained msdb and irmas models
        "musicnn", "musicnn_vgg", "musicnn_head",  # ported (Pons & Serra 2019) and heads on it (issue 21)
    }
    assert set(TINY) == set(KERAS_MODELS)
    assert models.paper_of("cnn_compact") == "—"


def test_unknown_names_keys_and_values_raise_config_error():
    with pytest.raises(ConfigError, match="unknown model 'vgg'"):
        models.build("vgg")
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['n_filters'\]"):
        models.build("activation_cnn", n_filters=3)
    with pytest.raises(ConfigError, match="input"):
        models.model_config("lstm", input="wav")
    with pytest.raises(ConfigError, match="n_bins=100"):
        models.model_config("lstm", input="audio", n_bins=100)  # log-mel gives 128
    with pytest.raises(ConfigError, match="audio"):
        models.model_config("fcn_raw", input="features")
    with pytest.raises(ConfigError, match="takes a TransformerConfig"):
        models.build("transformer", models.model_config("lstm"))


def test_model_configs_are_frozen_json_and_keep_the_seeds_settings():
    for name in models.available():
        cfg = models.model_config(name)
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.n_classes = 2
        data = json.loads(json.dumps(to_dict(cfg)))
        assert models.model_config(name, **data) == cfg  # JSON beside a checkpoint gives the config back
    a = models.model_config("activation_cnn")
    assert (a.n_classes, a.n_frames, a.n_bins, a.filters, a.kernel_sizes, a.pools, a.spatial_dropout) == (
        8, 16, 128, (16, 32, 64), (3, 5, 7), (2, 2, 4), 0.1)
    t = models.model_config("transformer")
    assert (t.n_layers, t.n_heads, t.d_model, t.d_ff, t.dropout, t.max_length) == (3, 8, 128, 256, 0.1, 5000)
    g = models.model_config("bigru_raw")
    assert (g.units, g.dropout, g.multi_label, g.n_classes) == ((128,), 0.5, True, 11)
    assert all(models.model_config(n).multi_label for n in models.available() if n.endswith("_raw"))
    assert not any(models.model_config(n).multi_label for n in ("lstm", "cnn_mrp", "transformer", "resnet18"))
    assert models.model_config("cnn_small").dropout == 0.5 and models.model_config("cnn_small").hidden == 128


def test_build_takes_a_config_with_overrides():
    cfg = models.model_config("gru", **TINY["gru"], n_classes=2)
    m = models.build("gru", cfg, units=(3, 2))
    assert m.output.shape == (None, 2) and m.get_layer("gru2").units == 2
    assert models.build("gru", cfg, n_frames=9).input.shape == (None, 9, 5)


def test_audio_length_and_frames_follow_each_other():
    f = FeatureConfig()  # hop 1024, centred frames
    assert models.model_config("lstm", input="audio", n_frames=16).n_samples == 15360 == f.window_samples(16)
    cfg = models.model_config("lstm", input="audio", n_samples=65536)  # a Medley-Solos-DB clip
    assert cfg.n_frames == f.n_frames(65536) == 65
    assert models.build("lstm", models.model_config("lstm"), n_samples=30000, input="audio").input.shape == (None, 30000)
    with pytest.raises(ConfigError, match="gives 30 frames"):
        models.model_config("lstm", n_samples=30000, n_frames=16)
    assert models.build("lstm", models.model_config("lstm"), features=FeatureConfig(kind="mfcc")).input.shape == (None, 128, 20)


# ---------------------------------------------------------------------------------------------
# seed 001: weights at the seed's sizes


@pytest.mark.parametrize("kind, bins, seed_weights", [("log_mel", 128, 1.39e6), ("cqt", 192, 1.92e6),
                                                       ("stft", 1025, 8.73e6)])
def test_activation_cnn_weights_match_seed(kind, bins, seed_weights):
    model = models.build("activation_cnn", features=FeatureConfig(kind=kind), n_instruments=8, n_frames=16)
    assert model.input.shape == (None, 16, bins)
    assert model.output.shape == (None, 8, 16)
    assert abs(model.count_params() / seed_weights - 1) < 0.01, model.count_params()


def test_activation_cnn_takes_n_instruments_as_the_issue_names_it():
    assert models.model_config("activation_cnn", n_instruments=5).n_classes == 5
    assert models.build("activation_cnn", n_instruments=3, n_bins=32, n_frames=4).output.shape == (None, 3, 4)
    with pytest.raises(ConfigError, match="disagree"):
        models.model_config("activation_cnn", n_instruments=3, n_classes=4)
    with pytest.raises(ConfigError, match="unknown config key"):
        models.model_config("lstm", n_instruments=3)


def test_activation_cnn_pools_frequency_only():
    model = models.build("activation_cnn", n_bins=1025, n_frames=16)
    assert model.get_layer("block1_pool").output.shape[1:] == (512, 16, 16)
    assert model.get_layer("block3_pool").output.shape[1:] == (64, 16, 64)
    assert model.get_layer("block1_dropout") and model.get_layer("block2_dropout")
    assert "block3_dropout" not in [layer.name for layer in model.layers]


def test_transformer_and_resnet_weights_at_seed_sizes():
    t = models.build("transformer")  # PyTorch's 3-layer encoder, d_model 128, ff 256, 4 classes
    assert t.count_params() == 3 * (4 * (128 * 128 + 128) + 128 * 256 + 256 + 256 * 128 + 128 + 4 * 128) + 128 * 4 + 4
    r = models.build("resnet18")  # torchvision resnet18, one input channel, 4 classes: 11,172,292 trainable
    assert sum(int(np.prod(w.shape)) for w in r.trainable_weights) == 11_172_292


# ---------------------------------------------------------------------------------------------
# every Keras model: serialisation, mixed precision, learning


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_config_round_trip_and_keras_file_give_identical_outputs(name, tmp_path):
    model = tiny(name)
    x, _, _ = toy_task(model, n=4)
    clone = keras.Model.from_config(model.get_config())
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(_predict(clone, x), _predict(model, x))
    assert_saved_model_equal(model, x, tmp_path)


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_no_lambda_layers_and_named_output(name):
    model = tiny(name)
    assert_no_lambda_layers(model)
    out = model.get_layer("output")
    assert out is model.layers[-1] and out.dtype_policy.compute_dtype == "float32"


def test_output_is_float32_under_mixed_precision():
    with dtype_policy("mixed_float16"):
        for name in KERAS_MODELS:
            model = tiny(name)
            assert model.output.dtype == "float32", name
            assert model.get_layer("logits").compute_dtype == "float16", name
        model = tiny("activation_cnn", features=TINY_FEATURES, n_bins=None, input="audio")
    y = np.random.default_rng(0).normal(scale=0.3, size=(2, model.input.shape[1])).astype(np.float32)
    p = _predict(model, y)
    assert p.dtype == np.float32 and np.isfinite(p).all()


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_a_few_training_steps_lower_the_loss(name):
    keras.utils.set_random_seed(0)
    model = tiny(name)
    x, y, loss = toy_task(model)
    model.compile(keras.optimizers.Adam(0.01), loss)
    history = model.fit(x, y, epochs=12, batch_size=len(y), verbose=0).history["loss"]
    assert np.mean(history[-3:]) < history[0], history


def test_custom_layers_round_trip():
    from tfaudio.models.layers import FrameSignal, SinusoidalPositions

    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype(np.float32)
    assert_config_round_trip(SinusoidalPositions(max_length=7, name="p"), x)
    assert_config_round_trip(FrameSignal(2, name="f"), x[:, :, 0])


def test_sinusoidal_positions_match_the_formula():
    from tfaudio.models.layers import SinusoidalPositions

    x = np.zeros((1, 5, 6), np.float32)
    pe = keras.ops.convert_to_numpy(SinusoidalPositions(10)(x))[0]
    t, i = np.meshgrid(np.arange(5), np.arange(3), indexing="ij")
    np.testing.assert_allclose(pe[:, 0::2], np.sin(t / 10000 ** (2 * i / 6)), atol=1e-6)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(t / 10000 ** (2 * i / 6)), atol=1e-6)


def test_frame_signal_cuts_non_overlapping_frames():
    from tfaudio.models.layers import FrameSignal

    x = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)
    y = keras.ops.convert_to_numpy(FrameSignal(3)(x))
    np.testing.assert_array_equal(y, x[:, :9].reshape(2, 3, 3))


def test_sequence_models_take_any_number_of_frames():
    for name in ("lstm", "bilstm", "transformer"):
        model = tiny(name, n_frames=None)
        for t in (3, 9):
            assert model(np.zeros((2, t, 5), np.float32)).shape == (2, K)


# ---------------------------------------------------------------------------------------------
# input="audio": the feature layers inside the model


def _copy_weights(src: keras.Model, dst: keras.Model) -> None:
    for layer in dst.layers:
        if layer.weights:
            layer.set_weights(src.get_layer(layer.name).get_weights())


@pytest.mark.parametrize("name, kind", [("lstm", "mfcc"), ("activation_cnn", "log_mel"), ("cnn_small", "stft"),
                                        ("gru", "mel"), ("transformer", "cqt")])
def test_audio_input_equals_features_input(name, kind, tmp_path):
    f = dataclasses.replace(TINY_FEATURES, kind=kind, fmin=110.0 if kind == "cqt" else 0.0)
    on_features = tiny(name, features=f, n_bins=None)
    on_audio = tiny(name, features=f, n_bins=None, input="audio")
    _copy_weights(on_features, on_audio)
    cfg = models.model_config(name, **{**TINY[name], "features": f, "n_bins": None, "input": "audio"})
    assert on_audio.input.shape == (None, cfg.n_samples) and on_audio.get_layer("frontend")
    y = np.random.default_rng(0).normal(scale=0.3, size=(3, cfg.n_samples)).astype(np.float32)
    x = keras.ops.convert_to_numpy(f.compute(y))
    assert x.shape == (3, cfg.n_frames, f.n_features)
    np.testing.assert_allclose(_predict(on_audio, y), _predict(on_features, x), rtol=1e-4, atol=1e-5)
    assert_saved_model_equal(on_audio, y, tmp_path)


def test_seed000_images_from_audio_equal_the_feature_functions(tmp_path):
    from tfaudio import features

    rng = np.random.default_rng(0)
    f = TINY_FEATURES
    # cnn_stacked: 60 samples -> zero-padded to an 8×8 image
    feat, aud = tiny("cnn_stacked", n_samples=60), tiny("cnn_stacked", n_samples=60, input="audio")
    _copy_weights(feat, aud)
    y = rng.normal(size=(2, 60)).astype(np.float32)
    assert feat.input.shape == (None, 8, 8)
    np.testing.assert_allclose(_predict(aud, y), _predict(feat, features.stacked_image(y)), rtol=1e-5, atol=1e-6)
    # cnn_mrp
    feat, aud = tiny("cnn_mrp"), tiny("cnn_mrp", input="audio")
    _copy_weights(feat, aud)
    y = rng.normal(size=(2, 32)).astype(np.float32)
    mrp = features.multiresolution_recurrence_plot(y, window_sizes=(8, 16), size=8)
    np.testing.assert_allclose(_predict(aud, y), _predict(feat, mrp), rtol=1e-5, atol=1e-6)
    # cnn_lstm: one audio input gives the plot and the frames
    feat = tiny("cnn_lstm", features=f, n_bins=None)
    aud = tiny("cnn_lstm", features=f, n_bins=None, input="audio")
    _copy_weights(feat, aud)
    y = rng.normal(scale=0.3, size=(2, aud.input.shape[1])).astype(np.float32)
    x = {"mrp": features.multiresolution_recurrence_plot(y, window_sizes=(8, 16), size=8), "frames": f.compute(y)}
    np.testing.assert_allclose(_predict(aud, y), _predict(feat, x), rtol=1e-4, atol=1e-5)
    assert_saved_model_equal(aud, y, tmp_path)


def test_audio_model_maps_over_a_dataset():
    model = tiny("activation_cnn", features=TINY_FEATURES, n_bins=None, input="audio")
    y = np.random.default_rng(2).normal(scale=0.3, size=(4, model.input.shape[1])).astype(np.float32)
    # one example at a time through Dataset.map needs a batch axis: wrap it
    assert_dataset_map_equal(lambda e: model(e[None], training=False)[0] if e.shape.rank == 1
                             else model(e, training=False), y)


def test_saved_model_serves_audio(tmp_path):
    import tensorflow as tf

    model = tiny("lstm", features=TINY_FEATURES, n_bins=None, input="audio")
    y = np.random.default_rng(1).normal(scale=0.3, size=(2, model.input.shape[1])).astype(np.float32)
    model.export(str(tmp_path / "saved"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))  # keep a reference while serving
    served = loaded.serve(tf.constant(y))
    np.testing.assert_allclose(served.numpy(), _predict(model, y), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# seed 004's SVM baseline


def test_svm_baseline_fits_evaluates_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 10)
    x = rng.normal(size=(40, 12, 20)).astype(np.float32)
    x[np.arange(40), :, y] += 2.0
    model = models.build("svm")
    assert isinstance(model, models.SVMBaseline) and model.config.n_bins == 20
    loss, acc = model.fit(x, y).evaluate(x, np.eye(4)[y])
    assert acc == 1.0 and loss < np.log(4)
    p = model.predict(x)
    assert p.shape == (40, 4) and np.allclose(p.sum(1), 1)
    loaded = models.SVMBaseline.load(model.save(tmp_path / "svm.pkl"))
    np.testing.assert_array_equal(loaded.predict(x), p)
    flat = models.build("svm", pooling="flatten", n_frames=12).fit(x, y)
    assert flat.evaluate(x, y, return_dict=True)["accuracy"] == 1.0


# ---------------------------------------------------------------------------------------------
# the models table


@pytest.mark.slow
def test_models_table_is_current():
    """docs/models_table.md is `python -m tfaudio.models` (builds every model at the seeds' sizes)."""
    table = models.summary_table()
    assert (ROOT / "docs" / "models_table.md").read_text() == table
    readme = (ROOT / "README.md").read_text()
    assert readme.split("<!-- models-table -->\n", 1)[1].split("<!-- /models-table -->", 1)[0] == table
