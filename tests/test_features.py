"""tfaudio.features against librosa, on rendered instruments and chirps at 44.1 kHz; the layers' contracts."""
from __future__ import annotations

import functools

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from tests import fixtures
from tests.harness import (
    assert_config_round_trip,
    assert_dataset_map_equal,
    assert_mixed_precision_close,
    assert_relative_close,
    assert_saved_model_equal,
    db_error,
    dtype_policy,
    relative_error,
)
from tfaudio import features
from tfaudio.errors import ConfigError
from tfaudio.features.spectral import _mel_filters

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # librosa: "n_fft too large" on short octaves

SR = 44100
HOP = 1024
N_FFT = 2048
WINDOW = 15360  # 0.348 s: 16 frames
SIGNALS = ("piano", "violin", "distorted electric guitar", "flute", "chirp")


@functools.lru_cache(maxsize=None)
def signal(name: str, seconds: float = 1.0) -> np.ndarray:
    if name == "chirp":
        return fixtures.chirp(30.0, 15000.0, seconds, SR)
    return fixtures.instrument(name, seconds, SR)


def windows(n: int = 3) -> np.ndarray:
    """n different 0.348-s windows, `(n, 15360)`."""
    names = ["violin", "piano", "trumpet", "clarinet"]
    return np.stack([fixtures.instrument(names[i % 4], 1.0, SR, seed=i)[:WINDOW] for i in range(n)])


def db(x: np.ndarray, amin: float = 1e-10) -> np.ndarray:
    return 20 * np.log10(np.maximum(x, amin))


# --------------------------------------------------------------------------- agreement with librosa


@pytest.mark.parametrize("name", SIGNALS)
def test_stft_magnitude_matches_librosa(name):
    y = signal(name)
    ours = features.stft_magnitude(y, n_fft=N_FFT, hop_length=HOP).numpy()
    ref = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    assert ours.shape == (1 + len(y) // HOP, 1025)
    assert_relative_close(ours.T, ref, 1e-4, "STFT magnitude")


@pytest.mark.parametrize("name", SIGNALS)
def test_melspectrogram_matches_librosa(name):
    y = signal(name)
    ours = features.melspectrogram(y, sr=SR).numpy()
    ref = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=128, fmin=27.5,
                                         fmax=20000.0)
    assert ours.shape == (1 + len(y) // HOP, 128)
    assert_relative_close(ours.T, ref, 1e-4, "mel power")


def test_melspectrogram_htk_unnormalised_matches_librosa():
    y = signal("violin")
    ours = features.melspectrogram(y, sr=SR, n_mels=64, fmin=0.0, fmax=None, htk=True, norm=None, power=1.0).numpy()
    ref = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=64, htk=True, norm=None,
                                         power=1.0)
    assert_relative_close(ours.T, ref, 1e-4, "HTK mel magnitude")


@pytest.mark.parametrize("name", SIGNALS)
def test_log_mel_matches_librosa_within_005_db(name):
    y = signal(name)
    ours = features.log_mel(y, sr=SR).numpy().T
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, fmin=27.5, fmax=20000.0)
    ref = librosa.power_to_db(mel, ref=1.0, top_db=60.0)
    floor = ref.max() - 60.0
    _, worst = db_error(ours, ref, floor_db=floor + 1e-3)
    assert worst < 0.05, f"log-mel differs by {worst:.3g} dB above the floor"
    assert abs(ours.min() - floor) < 0.05 and ours.max() - ours.min() <= 60.0 + 1e-4


def test_log_mel_floor_is_per_example():
    loud, quiet = signal("piano")[:WINDOW], 1e-3 * signal("violin")[:WINDOW]
    both = features.log_mel(np.stack([loud, quiet])).numpy()
    for row, y in zip(both, (loud, quiet)):
        np.testing.assert_allclose(row, features.log_mel(y).numpy(), atol=1e-4)
        assert row.max() - row.min() == pytest.approx(60.0, abs=1e-3)


@pytest.mark.parametrize("name", SIGNALS)
def test_cqt_matches_librosa(name):
    y = signal(name)
    ours = features.cqt(y, sr=SR).numpy().T
    ref = np.abs(librosa.cqt(y, sr=SR, hop_length=HOP, fmin=27.5, n_bins=192, bins_per_octave=24))
    assert ours.shape == ref.shape == (192, 1 + len(y) // HOP)
    assert_relative_close(ours, ref, 0.02, "CQT magnitude")
    mean, _ = db_error(db(ours), db(ref), floor_db=db(ref).max() - 60.0)
    assert mean < 0.5, f"CQT differs by {mean:.3g} dB on average above -60 dB"


@pytest.mark.parametrize("samples", [WINDOW, WINDOW + 77, 3 * SR])
def test_cqt_matches_librosa_on_windows_and_long_clips(samples):
    y = signal("trumpet", 3.0)[:samples]
    ours = features.cqt(y, sr=SR).numpy().T
    ref = np.abs(librosa.cqt(y, sr=SR, hop_length=HOP, fmin=27.5, n_bins=192, bins_per_octave=24))
    assert ours.shape == ref.shape
    assert relative_error(ours, ref) < 1e-4  # librosa's own algorithm: float32 rounding apart
    mean, _ = db_error(db(ours), db(ref), floor_db=db(ref).max() - 60.0)
    assert mean < 0.01


@pytest.mark.parametrize("sr, kwargs", [
    (22050, dict(hop_length=512, fmin=55.0, n_bins=84, bins_per_octave=12)),
    (SR, dict(hop_length=1024, fmin=27.5, n_bins=48, bins_per_octave=12)),  # librosa downsamples by 16 first
])
def test_cqt_other_parameters_match_librosa(sr, kwargs):
    y = fixtures.chirp(30.0, 400.0, 1.0, sr) + fixtures.instrument("tenor saxophone", 1.0, sr)
    ours = features.cqt(y, sr=sr, **kwargs).numpy().T
    ref = np.abs(librosa.cqt(y, sr=sr, **kwargs))
    assert_relative_close(ours, ref, 1e-4, f"CQT {sr} Hz {kwargs}")
    traced = tf.function(lambda a: features.cqt(a, sr=sr, **kwargs),
                         input_signature=[tf.TensorSpec([None], tf.float32)])
    assert_relative_close(traced(y[:-333]).numpy().T, np.abs(librosa.cqt(y[:-333], sr=sr, **kwargs)), 1e-4,
                          "CQT of unknown length")


@pytest.mark.parametrize("name", ["piano", "chirp"])
def test_mfcc_matches_librosa(name):
    y = signal(name)
    common = dict(sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=128, fmin=27.5, fmax=20000.0)
    assert_relative_close(features.mfcc(y, sr=SR).numpy().T, librosa.feature.mfcc(y=y, **common), 1e-3, "MFCC")
    ours = features.mfcc(y, sr=SR, n_mfcc=13, lifter=22.0).numpy().T
    assert_relative_close(ours, librosa.feature.mfcc(y=y, n_mfcc=13, lifter=22, **common), 1e-3, "liftered MFCC")


def _librosa_flux(y: np.ndarray) -> np.ndarray:
    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    return librosa.onset.onset_strength(S=S, lag=1, max_size=1, aggregate=np.sum, center=False)[None]


HANDCRAFTED = {
    "rms": (features.rms, lambda y: librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP)),
    "zero_crossing_rate": (features.zero_crossing_rate,
                           lambda y: librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)),
    "spectral_centroid": (features.spectral_centroid,
                          lambda y: librosa.feature.spectral_centroid(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP)),
    "spectral_bandwidth": (features.spectral_bandwidth,
                           lambda y: librosa.feature.spectral_bandwidth(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP)),
    "spectral_rolloff": (features.spectral_rolloff,
                         lambda y: librosa.feature.spectral_rolloff(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP)),
    "spectral_flatness": (features.spectral_flatness,
                          lambda y: librosa.feature.spectral_flatness(y=y, n_fft=N_FFT, hop_length=HOP)),
    "spectral_flux": (features.spectral_flux, _librosa_flux),
}


@pytest.mark.parametrize("feature", sorted(HANDCRAFTED))
@pytest.mark.parametrize("name", ["piano", "distorted electric guitar", "chirp"])
def test_handcrafted_features_match_librosa(feature, name):
    ours_fn, ref_fn = HANDCRAFTED[feature]
    y = signal(name)
    ours = ours_fn(y).numpy()
    ref = ref_fn(y)
    assert ours.shape == (1 + len(y) // HOP, 1)
    assert_relative_close(ours.T, ref, 1e-3, feature)


def test_uncentred_frames_and_other_sizes_match_librosa():
    y = signal("violin")
    plain = dict(n_fft=N_FFT, hop_length=HOP, center=False)
    assert_relative_close(features.stft_magnitude(y, center=False).numpy().T, np.abs(librosa.stft(y, **plain)), 1e-4,
                          "STFT")
    assert_relative_close(features.rms(y, center=False).numpy().T,
                          librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP, center=False), 1e-3, "rms")
    assert_relative_close(features.zero_crossing_rate(y, center=False).numpy().T,
                          librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP, center=False),
                          1e-3, "zero crossing rate")
    assert_relative_close(features.stft_magnitude(y, n_fft=1024, hop_length=256).numpy().T,
                          np.abs(librosa.stft(y, n_fft=1024, hop_length=256)), 1e-4, "STFT 1024/256")
    ours = features.mfcc(y, n_fft=1024, hop_length=512, dct_type=3, norm=None).numpy().T
    ref = librosa.feature.mfcc(y=y, sr=SR, n_fft=1024, hop_length=512, fmin=27.5, fmax=20000.0, dct_type=3, norm=None)
    assert_relative_close(ours, ref, 1e-3, "MFCC, DCT-III")


def test_handcrafted_features_of_silence_match_librosa():
    y = np.zeros(WINDOW, np.float32)
    for feature, (ours_fn, ref_fn) in HANDCRAFTED.items():
        np.testing.assert_allclose(ours_fn(y).numpy().T, ref_fn(y), atol=1e-6, err_msg=feature)


def test_db_helpers_and_frequencies_match_librosa():
    S = np.abs(librosa.stft(signal("flute"), n_fft=N_FFT, hop_length=HOP))
    np.testing.assert_allclose(features.amplitude_to_db(S.T).numpy().T, librosa.amplitude_to_db(S), atol=1e-3)
    np.testing.assert_allclose(features.power_to_db(S.T ** 2, top_db=None).numpy().T,
                               librosa.power_to_db(S ** 2, top_db=None), atol=1e-3)
    np.testing.assert_allclose(features.fft_frequencies(SR, N_FFT), librosa.fft_frequencies(sr=SR, n_fft=N_FFT))
    np.testing.assert_allclose(features.cqt_frequencies(192, 27.5, 24),
                               librosa.cqt_frequencies(n_bins=192, fmin=27.5, bins_per_octave=24))
    assert features.mel_frequencies(128, 27.5, 20000.0).shape == (128,)
    assert features.num_frames(WINDOW) == 16 and features.num_frames(3 * SR) == 130


# --------------------------------------------------------------------------- shapes, silence, dynamic lengths


FUNCTIONS = {
    "stft_magnitude": (features.stft_magnitude, 1025),
    "log_stft": (features.log_stft, 1025),
    "melspectrogram": (features.melspectrogram, 128),
    "log_mel": (features.log_mel, 128),
    "mfcc": (features.mfcc, 20),
    "cqt": (features.cqt, 192),
    "log_cqt": (features.log_cqt, 192),
    **{name: (fn, 1) for name, (fn, _) in HANDCRAFTED.items()},
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_time_major_shapes_with_leading_dims(name):
    fn, bins = FUNCTIONS[name]
    x = windows(4).reshape(2, 2, WINDOW)
    out = fn(x)
    assert isinstance(out, tf.Tensor) and out.dtype == tf.float32
    assert out.shape == (2, 2, 16, bins)
    single = fn(x[1, 0]).numpy()
    assert single.shape == (16, bins)
    np.testing.assert_allclose(out.numpy()[1, 0], single, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(single).max()))


@pytest.mark.parametrize("name", ["log_mel", "log_cqt", "cqt", "mfcc", "spectral_rolloff"])
def test_dynamic_length_graph_matches_eager(name):
    fn, _ = FUNCTIONS[name]
    traced = tf.function(fn, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    for n in (WINDOW, 20000):
        x = np.stack([signal("piano")[:n], signal("chirp")[:n]])
        eager = fn(x).numpy()
        np.testing.assert_allclose(traced(x).numpy(), eager, rtol=1e-4, atol=1e-4 * np.abs(eager).max())


def test_silence_is_finite():
    y = np.zeros((2, WINDOW), np.float32)
    for name, (fn, _) in FUNCTIONS.items():
        assert np.all(np.isfinite(fn(y).numpy())), name
    np.testing.assert_array_equal(features.log_mel(y).numpy(), -100.0)  # amin = 1e-10
    np.testing.assert_array_equal(features.cqt(y).numpy(), 0.0)


def test_integer_audio_is_cast_to_float32():
    y = (signal("piano")[:WINDOW] * 1000).astype(np.int32)
    np.testing.assert_allclose(features.stft_magnitude(y).numpy(),
                               features.stft_magnitude(y.astype(np.float32)).numpy())


# --------------------------------------------------------------------------- waveform images


def test_stacked_image_pads_to_a_square():
    y = np.arange(1, 11, dtype=np.float32)
    out = features.stacked_image(y).numpy()
    expected = np.zeros(16, np.float32)
    expected[:10] = y
    np.testing.assert_array_equal(out, expected.reshape(4, 4))
    assert features.stacked_image(np.ones((3, 16))).shape == (3, 4, 4)
    assert features.stacked_image(np.ones(WINDOW)).shape == (124, 124)  # 124 ** 2 = 15376 >= 15360
    traced = tf.function(features.stacked_image, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    for n in (1, 15, 16, 17, 10000):
        got = traced(np.ones((2, n), np.float32)).numpy()
        side = int(np.ceil(np.sqrt(n)))
        assert got.shape == (2, side, side) and got.sum() == 2 * n


def test_recurrence_plot():
    y = np.array([[0.0, 1.0, -2.0]], np.float32)
    np.testing.assert_array_equal(features.recurrence_plot(y).numpy()[0], np.abs(y[0][:, None] - y[0][None, :]))


def _mrp_reference(y: np.ndarray, window_sizes, size) -> np.ndarray:
    out = []
    for w in window_sizes:
        x = np.pad(y, ((w - len(y)) // 2, w - len(y) - (w - len(y)) // 2)) if len(y) < w else y
        start = (len(x) - w) // 2
        seg = x[start:start + w]
        rp = np.abs(seg[:, None] - seg[None, :])
        b = w // size
        out.append(rp.reshape(size, b, size, b).mean(axis=(1, 3)))
    return np.stack(out, axis=-1)


def test_multiresolution_recurrence_plot():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(100).astype(np.float32)
    out = features.multiresolution_recurrence_plot(y, window_sizes=(16, 64, 128), size=8).numpy()
    assert out.shape == (8, 8, 3)
    np.testing.assert_allclose(out, _mrp_reference(y, (16, 64, 128), 8), rtol=1e-5, atol=1e-6)
    batch = features.multiresolution_recurrence_plot(np.stack([y, -y]), window_sizes=(16, 64, 128), size=8)
    assert batch.shape == (2, 8, 8, 3)
    np.testing.assert_allclose(batch.numpy()[0], out, rtol=1e-6)
    with pytest.raises(ConfigError, match="multiple of size"):
        features.multiresolution_recurrence_plot(y, window_sizes=(20,), size=8)


# --------------------------------------------------------------------------- layers


def _layers():
    """(name, factory, input (batch, samples), function and its kwargs)."""
    x = windows(3)
    short = x[:, :512]
    return [
        ("STFTMagnitude", lambda: features.STFTMagnitude(), x, lambda a: features.stft_magnitude(a)),
        ("LogSTFT", lambda: features.LogSTFT(top_db=80.0), x, lambda a: features.log_stft(a, top_db=80.0)),
        ("MelSpectrogram", lambda: features.MelSpectrogram(n_mels=64, htk=True), x,
         lambda a: features.melspectrogram(a, n_mels=64, htk=True)),
        ("LogMel", lambda: features.LogMel(), x, lambda a: features.log_mel(a)),
        ("Log10Mel", lambda: features.Log10Mel(sr=44100, n_fft=1024, hop_length=512), x,
         lambda a: features.log10_mel(a, sr=44100, n_fft=1024, hop_length=512)),
        ("MFCC", lambda: features.MFCC(n_mfcc=13), x, lambda a: features.mfcc(a, n_mfcc=13)),
        ("CQT", lambda: features.CQT(), x, lambda a: features.cqt(a)),
        ("LogCQT", lambda: features.LogCQT(), x, lambda a: features.log_cqt(a)),
        ("RMS", lambda: features.RMS(), x, lambda a: features.rms(a)),
        ("ZeroCrossingRate", lambda: features.ZeroCrossingRate(), x, lambda a: features.zero_crossing_rate(a)),
        ("SpectralCentroid", lambda: features.SpectralCentroid(), x, lambda a: features.spectral_centroid(a)),
        ("SpectralBandwidth", lambda: features.SpectralBandwidth(), x, lambda a: features.spectral_bandwidth(a)),
        ("SpectralRolloff", lambda: features.SpectralRolloff(roll_percent=0.9), x,
         lambda a: features.spectral_rolloff(a, roll_percent=0.9)),
        ("SpectralFlatness", lambda: features.SpectralFlatness(), x, lambda a: features.spectral_flatness(a)),
        ("SpectralFlux", lambda: features.SpectralFlux(), x, lambda a: features.spectral_flux(a)),
        ("StackedImage", lambda: features.StackedImage(), x, lambda a: features.stacked_image(a)),
        ("RecurrencePlot", lambda: features.RecurrencePlot(), short[:, :128], lambda a: features.recurrence_plot(a)),
        ("MultiresolutionRecurrencePlot",
         lambda: features.MultiresolutionRecurrencePlot(window_sizes=(64, 256), size=32),
         short, lambda a: features.multiresolution_recurrence_plot(a, window_sizes=(64, 256), size=32)),
    ]


LAYERS = {entry[0]: entry[1:] for entry in _layers()}


def test_every_function_has_a_layer():
    assert set(LAYERS) == {name for name in features.__all__ if name[0].isupper()}


def test_every_kind_is_one_registry_entry_with_one_layer_and_its_config_name():
    from tfaudio.config import FEATURE_KINDS, FeatureConfig
    from tfaudio.features.layers import LAYERS as BY_KIND
    from tfaudio.features.registry import KINDS

    assert set(BY_KIND) == set(KINDS) and all(cls.kind is KINDS[name] for name, cls in BY_KIND.items())
    assert {cls.__name__ for cls in BY_KIND.values()} == set(LAYERS)
    selectable = {k.selected_by[0] for k in KINDS.values() if k.selected_by}
    assert set(FEATURE_KINDS) == selectable | {"none"}
    for kind in selectable:  # each config kind computes its registry entry's function with its arguments
        for scale in ("db", "linear"):
            try:
                fc = FeatureConfig(kind=kind, sr=22050, fmax=11025.0, scale=scale)
            except Exception:
                continue
            name, args = fc.feature()
            assert KINDS[name].bins(**args) == fc.n_features > 0


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_contract(name, tmp_path):
    make, x, fn = LAYERS[name]
    layer = make()
    out = layer(x)
    expected = fn(x).numpy()
    scale = max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6 * scale, err_msg="layer vs function")
    assert keras.saving.get_registered_name(type(layer)) == f"tfaudio>{name}"
    assert_config_round_trip(layer, x)
    assert_saved_model_equal(make(), x, tmp_path)
    assert_dataset_map_equal(make(), x, batch_size=2, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("name", ["LogMel", "LogCQT", "MFCC", "STFTMagnitude"])
def test_layers_under_mixed_precision(name):
    make, x, _ = LAYERS[name]
    assert_mixed_precision_close(make, x, rtol=2e-3, atol=0.1 if name.startswith("Log") else 0.05)


def test_log_is_taken_before_the_cast_to_float16():
    # Mel power below float16's smallest subnormal (6e-8, -72 dB) would be 0 in float16: the dB must still be right.
    x = 1e-4 * windows(2)
    make = lambda: features.LogMel(top_db=None)  # noqa: E731
    out16, out32 = assert_mixed_precision_close(make, x, rtol=2e-3, atol=0.1)
    assert (out32 < -75).mean() > 0.2 and np.isfinite(out16).all()


def test_layer_with_unknown_length_in_a_model():
    inputs = keras.Input(shape=(None,))
    model = keras.Model(inputs, features.LogCQT()(inputs))
    for n in (WINDOW, 20000):
        x = windows(2)[:, :WINDOW] if n == WINDOW else np.stack([signal("piano")[:n], signal("flute")[:n]])
        np.testing.assert_allclose(model(x).numpy(), features.log_cqt(x).numpy(), atol=1e-3)


def test_layer_feeds_a_trainable_model_under_mixed_precision():
    x = windows(4)
    with dtype_policy("mixed_float16"):
        inputs = keras.Input(shape=(WINDOW,))
        h = features.LogMel(name="logmel")(inputs)
        h = keras.layers.Reshape((16, 128, 1))(h)
        h = keras.layers.Conv2D(2, 3, padding="same")(h)
        h = keras.layers.GlobalAveragePooling2D()(h)
        outputs = keras.layers.Dense(3, activation="softmax", dtype="float32")(h)
        model = keras.Model(inputs, outputs)
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(x, np.eye(3)[[0, 1, 2, 0]], epochs=1, verbose=0)
    assert model.get_layer("logmel").output.dtype == "float16"
    assert np.isfinite(model.predict(x, verbose=0)).all()


# --------------------------------------------------------------------------- errors


def test_clear_errors():
    y = signal("piano")[:WINDOW]
    with pytest.raises(ConfigError, match="Nyquist"):
        features.melspectrogram(y, sr=22050)  # fmax 20 kHz > 11025
    with pytest.raises(ConfigError, match="Nyquist"):
        features.CQT(sr=8000)
    with pytest.raises(ConfigError, match="n_mfcc"):
        features.mfcc(y, n_mfcc=200)
    with pytest.raises(ConfigError, match="hop_length"):
        features.stft_magnitude(y, hop_length=0)
    with pytest.raises(ConfigError, match="empty"):
        features.melspectrogram(y, n_fft=256, n_mels=128)
    with pytest.raises(ConfigError, match="rank"):
        features.rms(np.float32(1.0))
    np.testing.assert_allclose(features.melspectrogram(y, sr=22050, fmax=None).numpy(),
                               librosa.feature.melspectrogram(y=y, sr=22050, n_fft=N_FFT, hop_length=HOP,
                                                              fmin=27.5).T, rtol=1e-3, atol=1e-6)


def test_eager_calls_run_through_cached_graphs_with_the_eager_results():
    from tfaudio.errors import ConfigError

    rng = np.random.default_rng(3)
    features.log_mel.graphs.clear()
    y = (0.1 * rng.standard_normal(15360)).astype(np.float32)
    out = features.log_mel(y, n_mels=64)
    np.testing.assert_array_equal(out.numpy(), features.log_mel.__wrapped__(tf.constant(y), n_mels=64).numpy())
    features.log_mel(y, n_mels=64)
    assert len(features.log_mel.graphs) == 1  # the second call reuses the graph
    # many lengths: the first shapes get exact graphs, later ones share one graph for any length
    for n in range(4000, 4000 + 12 * 512, 512):
        z = (0.1 * rng.standard_normal((2, n))).astype(np.float32)
        np.testing.assert_allclose(features.log_mel(z, n_mels=64).numpy(),
                                   features.log_mel.__wrapped__(z, n_mels=64).numpy(), atol=1e-3)
    assert len(features.log_mel.graphs) <= 1 + 8 + 1
    assert any(None in shape for shape, _ in features.log_mel.graphs)
    with pytest.raises(ConfigError, match="n_mels"):  # argument errors are still raised at the call
        features.log_mel(y, n_mels=0)
    # inside a graph the function runs as it is (no nested tf.function)
    graph_out = tf.function(lambda t: features.log_mel(t, n_mels=64))(tf.constant(y))
    np.testing.assert_allclose(graph_out.numpy(), out.numpy(), atol=1e-5)


def test_mel_filterbank_is_librosas_without_importing_it():
    import subprocess
    import sys
    import warnings

    import librosa

    for sr, n_fft, n_mels, fmin, fmax, htk, norm in [(44100, 2048, 128, 27.5, 20000.0, False, "slaney"),
                                                     (22050, 1024, 64, 0.0, 11025.0, True, None),
                                                     (16000, 512, 40, 100.0, 4000.0, False, None),
                                                     (48000, 4096, 96, 30.0, 16000.0, True, "slaney")]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm,
                                      dtype=np.float32)
        np.testing.assert_array_equal(_mel_filters(sr, n_fft, n_mels, fmin, fmax, htk, norm), ref)
    np.testing.assert_array_equal(features.mel_frequencies(128, 27.5, 20000.0),
                                  librosa.mel_frequencies(130, fmin=27.5, fmax=20000.0)[1:-1])
    code = ("import sys, numpy as np; from tfaudio import features; features.log_mel(np.zeros(15360, np.float32)); "
            "print('librosa' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"  # log-mel needs no librosa import (about 1 s of start-up)
