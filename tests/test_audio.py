"""tfaudio.io.audio: in-graph WAV decoding, resampling against librosa/soxr, load() and its errors."""
from __future__ import annotations

import os

import io
import struct

import librosa
import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from tests import fixtures
import tfaudio.io.audio
from tfaudio.errors import AudioFileError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:audioread")  # via librosa.load

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]
RATE_PAIRS = [(44100, 22050), (22050, 44100), (48000, 44100), (44100, 48000),
              (16000, 22050), (22050, 16000), (8000, 44100)]


def err_db(y: np.ndarray, ref: np.ndarray) -> float:
    """Error energy relative to the reference, in dB."""
    ref = np.asarray(ref, np.float64)
    err = np.sum((np.asarray(y, np.float64) - ref) ** 2)
    return float(10 * np.log10(err / np.sum(ref ** 2))) if err > 0 else -np.inf


def noise_signal(frames: int, channels: int, seed: int = 0) -> np.ndarray:
    """Noise in [-1, 1) with the full-scale extremes in it, float64 `(frames, channels)`."""
    y = np.random.default_rng(seed).uniform(-1, 1, (frames, channels))
    y[0] = -1.0
    y[1] = 1 - 2.0 ** -23
    return y


def wav_bytes_with_chunks(y: np.ndarray, sr: int, extra: bytes) -> bytes:
    """A PCM_16 WAV with `extra` chunk bytes inserted before its data chunk."""
    buf = io.BytesIO()
    sf.write(buf, y, sr, subtype="PCM_16", format="WAV")
    raw = buf.getvalue()
    i = raw.index(b"data")
    raw = raw[:i] + extra + raw[i:]
    return raw[:4] + struct.pack("<I", len(raw) - 8) + raw[8:]


# ------------------------------------------------------------------------------ WAV


@pytest.mark.parametrize("fmt", ["WAV", "WAVEX"])
@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("subtype", SUBTYPES)
def test_decode_wav_matches_soundfile(tmp_path, subtype, channels, fmt):
    path = fixtures.write_audio(tmp_path / "x.wav", noise_signal(501, channels), 44100, subtype, format=fmt)
    tag = path.read_bytes()[20:22]
    plain = b"\x03\x00" if subtype in ("FLOAT", "DOUBLE") else b"\x01\x00"  # IEEE_FLOAT / PCM
    assert tag == (b"\xfe\xff" if fmt == "WAVEX" else plain)  # WAVE_FORMAT_EXTENSIBLE
    ref, sr = sf.read(path, dtype="float32", always_2d=True)
    audio, rate = tfaudio.io.audio.decode_wav(tf.io.read_file(str(path)))
    assert audio.dtype == tf.float32 and rate.dtype == tf.int32
    assert int(rate) == sr == 44100
    np.testing.assert_array_equal(audio.numpy(), ref)


def test_decode_wav_in_tf_function(tmp_path):
    path = fixtures.write_audio(tmp_path / "x.wav", noise_signal(300, 2), 16000, "PCM_24")
    fn = tf.function(tfaudio.io.audio.decode_wav, input_signature=[tf.TensorSpec([], tf.string)])
    audio, rate = fn(tf.io.read_file(str(path)))
    assert audio.shape.rank == 2 and int(rate) == 16000
    np.testing.assert_array_equal(audio.numpy(), sf.read(path, dtype="float32", always_2d=True)[0])


def test_decode_wav_skips_list_and_odd_sized_chunks():
    y = fixtures.sine(seconds=0.05)
    info_chunk = b"LIST" + struct.pack("<I", 13) + b"INFOISFT" + struct.pack("<I", 5) + b"x" + b"\x00"  # odd + pad
    odd_chunk = b"junk" + struct.pack("<I", 3) + b"abc" + b"\x00"
    raw = wav_bytes_with_chunks(y, 22050, info_chunk + odd_chunk)
    audio, rate = tfaudio.io.audio.decode_wav(raw)
    ref = sf.read(io.BytesIO(raw), dtype="float32", always_2d=True)[0]
    assert int(rate) == 22050
    np.testing.assert_array_equal(audio.numpy(), ref)


def test_decode_wav_streamed_unknown_data_size():
    raw = wav_bytes_with_chunks(fixtures.sine(seconds=0.05), 22050, b"")
    i = raw.index(b"data")
    streamed = raw[:i + 4] + b"\xff\xff\xff\xff" + raw[i + 8:]
    np.testing.assert_array_equal(tfaudio.io.audio.decode_wav(streamed)[0].numpy(), tfaudio.io.audio.decode_wav(raw)[0].numpy())


@pytest.mark.parametrize("make, words", [
    (lambda raw: b"not a wav file at all, just text" * 4, "not a WAV file"),
    (lambda raw: raw[:30], "truncated"),
    (lambda raw: raw[:44], "truncated"),
    (lambda raw: raw[:60], "truncated"),
    (lambda raw: raw[:36] + b"LIST" + struct.pack("<I", 4) + b"INFO", "no data chunk"),
    (lambda raw: raw[:20] + struct.pack("<H", 2) + raw[22:], "unsupported WAV encoding"),
])
def test_decode_wav_malformed_raises(make, words):
    raw = wav_bytes_with_chunks(fixtures.sine(seconds=0.05), 22050, b"")
    with pytest.raises(tf.errors.InvalidArgumentError, match=words):
        tfaudio.io.audio.decode_wav(make(raw))
    fn = tf.function(tfaudio.io.audio.decode_wav, input_signature=[tf.TensorSpec([], tf.string)])
    with pytest.raises(tf.errors.InvalidArgumentError, match=words):
        fn(make(raw))


def test_wav_encodings_we_do_not_parse_go_to_soundfile(tmp_path):
    path = fixtures.write_audio(tmp_path / "ulaw.wav", fixtures.sine(seconds=0.1, sr=8000), 8000, "ULAW")
    y, sr = tfaudio.io.audio.load(path)
    np.testing.assert_array_equal(y, sf.read(path, dtype="float32")[0])
    assert sr == 8000


def test_read_audio_in_tf_data(tmp_path):
    paths, refs = [], []
    for i, (sr, channels, subtype) in enumerate([(22050, 1, "PCM_16"), (44100, 2, "PCM_24"), (8000, 6, "FLOAT")]):
        y = noise_signal(sr // 10, channels, seed=i) * 0.5
        paths.append(str(fixtures.write_audio(tmp_path / f"{i}.wav", y, sr, subtype, format="WAVEX")))
        refs.append(sf.read(paths[-1], dtype="float32", always_2d=True))
    ds = tf.data.Dataset.from_tensor_slices(paths).map(lambda p: tfaudio.io.audio.read_audio(p, mono=False),
                                                       num_parallel_calls=2, deterministic=True)
    for (audio, rate), (ref, sr) in zip(ds, refs):
        assert int(rate) == sr
        np.testing.assert_array_equal(audio.numpy(), ref.T)  # (channels, samples)
    mono = tf.data.Dataset.from_tensor_slices(paths).map(lambda p: tfaudio.io.audio.read_audio(p)[0])
    for audio, (ref, _) in zip(mono, refs):
        np.testing.assert_allclose(audio.numpy(), ref.mean(axis=1), atol=1e-7)


# ---------------------------------------------------------------- other formats


@pytest.mark.parametrize("ext", ["flac", "ogg", "mp3"])
def test_other_formats_through_soundfile_fallback(tmp_path, monkeypatch, ext):
    monkeypatch.setattr(tfaudio.io.audio, "has_tfio", lambda: False)
    y = np.stack([fixtures.sine(seconds=0.5), fixtures.sine(660, seconds=0.5)], 1)
    path = fixtures.write_audio(tmp_path / f"x.{ext}", y, 22050)
    ref, sr = sf.read(path, dtype="float32", always_2d=True)
    audio, rate = tfaudio.io.audio.decode_audio(tf.io.read_file(str(path)), mono=False)
    assert int(rate) == sr
    np.testing.assert_array_equal(audio.numpy(), ref.T)


# ----------------------------------------------------------------------- resample


@pytest.mark.parametrize("orig, target", RATE_PAIRS)
def test_resample_matches_librosa_soxr_hq(orig, target):
    y = fixtures.music(2.0, orig)
    ref = librosa.resample(y, orig_sr=orig, target_sr=target, res_type="soxr_hq")
    out = tfaudio.io.resample.resample(y, orig, target).numpy()
    assert out.shape == ref.shape
    assert err_db(out, ref) < -60


def test_resample_rendered_instrument_and_stereo():
    y = np.stack([fixtures.instrument("violin", 1.5, 44100), fixtures.instrument("piano", 1.5, 44100, seed=1)])
    ref = librosa.resample(y, orig_sr=44100, target_sr=16000)
    out = tfaudio.io.resample.resample(y, 44100, 16000).numpy()
    assert out.shape == ref.shape
    assert err_db(out, ref) < -60


@pytest.mark.parametrize("orig, target", [(44100, 22050), (8000, 44100), (22051, 22050)])
def test_resample_rate_known_only_at_run_time(orig, target):
    """The rate is a tensor: the kernel is built in-graph (22051 -> 22050: the gather path)."""
    y = fixtures.music(0.5, orig)
    fn = tf.function(tfaudio.io.resample.resample, input_signature=[tf.TensorSpec([None], tf.float32),
                                                  tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    ref = librosa.resample(y, orig_sr=orig, target_sr=target)
    out = fn(y, orig, target).numpy()
    assert out.shape == ref.shape
    assert err_db(out, ref) < -60
    np.testing.assert_array_equal(fn(y, orig, orig).numpy(), y)  # equal rates: unchanged


def test_resample_in_tf_data_with_rate_from_header(tmp_path):
    rates = [8000, 16000, 22050, 44100, 48000, 32001]
    paths = [str(fixtures.write_audio(tmp_path / f"{sr}.wav", fixtures.music(0.5, sr), sr, "FLOAT")) for sr in rates]
    ds = tf.data.Dataset.from_tensor_slices(paths).map(lambda p: tfaudio.io.audio.read_audio(p, sr=22050))
    for (audio, rate), path in zip(ds, paths):
        ref, _ = librosa.load(path, sr=22050)
        assert int(rate) == 22050 and audio.shape == ref.shape
        assert err_db(audio.numpy(), ref) < -60, path


def test_resample_shapes_and_edges():
    x = np.random.default_rng(0).standard_normal((2, 3, 1000)).astype(np.float32)
    out = tfaudio.io.resample.resample(x, 22050, 16000)
    assert out.shape == (2, 3, int(np.ceil(1000 * 16000 / 22050)))
    np.testing.assert_allclose(out.numpy()[1, 2], tfaudio.io.resample.resample(x[1, 2], 22050, 16000).numpy(), atol=1e-6)
    assert tfaudio.io.resample.resample(x, 22050, 22050) is not None and np.array_equal(tfaudio.io.resample.resample(x, 22050, 22050).numpy(), x)
    assert tfaudio.io.resample.resample(np.zeros(0, np.float32), 44100, 22050).shape == (0,)
    short = fixtures.sine(300, 1.0, 16000)[:50]  # shorter than the filter (the abrupt ends differ by ~1e-3)
    np.testing.assert_allclose(tfaudio.io.resample.resample(short, 16000, 44100).numpy(),
                               librosa.resample(short, orig_sr=16000, target_sr=44100), atol=2e-3)
    assert tfaudio.io.resample.resample(x.astype(np.float64), 2, 1).dtype == tf.float64
    # librosa's length, computed in float64: 44100 * (48000 / 44100) rounds up to 48001
    assert tfaudio.io.resample.resample(np.zeros(44100, np.float32), 44100, 48000).shape == (48001,)
    with pytest.raises(ValueError, match="positive"):
        tfaudio.io.resample.resample(x, 0, 16000)


# --------------------------------------------------------------------------- load


@pytest.fixture(scope="module")
def stereo_wav(tmp_path_factory):
    y = np.stack([fixtures.music(1.5, 44100), fixtures.instrument("flute", 1.5, 44100)], 1)
    return fixtures.write_audio(tmp_path_factory.mktemp("load") / "stereo.wav", y, 44100, "PCM_16")


@pytest.mark.parametrize("sr, mono", [(None, True), (None, False), (22050, True), (22050, False), (16000, True)])
def test_load_matches_librosa_load(stereo_wav, sr, mono):
    ref, ref_sr = librosa.load(stereo_wav, sr=sr, mono=mono)
    y, rate = tfaudio.io.audio.load(stereo_wav, sr=sr, mono=mono)
    assert rate == ref_sr and y.shape == ref.shape and y.dtype == np.float32
    if sr is None:
        np.testing.assert_allclose(y, ref, atol=1e-7)
    else:
        assert err_db(y, ref) < -60


@pytest.mark.parametrize("kind, words", [
    ("empty", "empty"), ("truncated", "truncated"), ("not_audio", "not a recognised audio"),
    ("header_only", "truncated"), ("nan", "NaN"), ("missing", "not found"),
])
def test_load_bad_files_raise_one_line(tmp_path, kind, words):
    path = fixtures.write_bad_files(tmp_path)[kind]
    with pytest.raises(AudioFileError) as info:
        tfaudio.io.audio.load(path)
    message = str(info.value)
    assert path.name in message and words in message
    assert "\n" not in message and "Traceback" not in message and "node" not in message
    error = info.value  # no chained TensorFlow traceback is shown
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_load_zero_samples(tmp_path):
    path = fixtures.write_audio(tmp_path / "zero.wav", np.zeros(0, np.float32), 22050, "PCM_16")
    with pytest.raises(AudioFileError, match="no audio samples"):
        tfaudio.io.audio.load(path)
    with pytest.raises(AudioFileError, match="no audio samples"):
        tfaudio.io.audio.load(path, sr=16000)


def test_graph_errors_name_the_file_and_check_finite(tmp_path):
    bad = fixtures.write_bad_files(tmp_path)
    ds = tf.data.Dataset.from_tensor_slices([str(bad["truncated"])]).map(lambda p: tfaudio.io.audio.read_audio(p))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"truncated\.wav: WAV file is truncated"):
        list(ds)
    nan = str(bad["nan"])
    audio, _ = tfaudio.io.audio.read_audio(nan)  # decodes: NaN/Inf pass unless asked
    assert not np.all(np.isfinite(audio.numpy()))
    ds = tf.data.Dataset.from_tensor_slices([nan]).map(lambda p: tfaudio.io.audio.read_audio(p, check_finite=True))
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        list(ds)


def test_has_tfio_is_the_same_while_tracing():
    tfaudio.io.audio.has_tfio.cache_clear()
    in_graph = tf.function(lambda: tf.constant(tfaudio.io.audio.has_tfio()))()
    assert bool(in_graph) == tfaudio.io.audio.has_tfio()


def test_info_and_has_tfio(tmp_path):
    path = fixtures.write_audio(tmp_path / "x.flac", np.zeros((1000, 2), np.float32), 16000)
    assert tfaudio.io.audio.info(path) == dict(sr=16000, channels=2, frames=1000, format="FLAC", subtype="PCM_16",
                                duration=1000 / 16000)
    with pytest.raises(AudioFileError, match="not found"):
        tfaudio.io.audio.info(tmp_path / "missing.wav")
    assert isinstance(tfaudio.io.audio.has_tfio(), bool)


# ---------------------------------------------------------------- tensorflow-io


@pytest.mark.tfio
@pytest.mark.parametrize("ext, subtype", [("flac", "PCM_16"), ("flac", "PCM_24"), ("ogg", "VORBIS"),
                                          ("mp3", "MPEG_LAYER_III")])
def test_tfio_formats_match_soundfile(tmp_path, ext, subtype):
    """Decoding through whichever path read_audio uses (tensorflow-io's ops when they load).

    In CI's tensorflow-io environment (TFAUDIO_REQUIRE_TFIO=1) the native ops must load: no skip.
    """
    if os.environ.get("TFAUDIO_REQUIRE_TFIO"):
        assert tfaudio.io.audio.has_tfio(), "tensorflow-io is required in this environment but its native ops do not load"
    pytest.importorskip("tensorflow_io")
    tfaudio.io.audio.has_tfio.cache_clear()  # first asked while tracing the tf.data function below
    y = np.stack([fixtures.music(1.0, 22050), fixtures.sine(660, 1.0, 22050)], 1)
    path = str(fixtures.write_audio(tmp_path / f"x.{ext}", y, 22050, subtype))
    ref, sr = sf.read(path, dtype="float32", always_2d=True)
    ds = tf.data.Dataset.from_tensor_slices([path]).map(lambda p: tfaudio.io.audio.read_audio(p, mono=False))
    audio, rate = next(iter(ds))
    assert int(rate) == sr == 22050 and audio.shape == ref.T.shape
    if ext == "flac":
        np.testing.assert_array_equal(audio.numpy(), ref.T)
    else:  # lossy: another decoder may round differently
        assert err_db(audio.numpy(), ref.T) < -60
    y16, rate16 = tfaudio.io.audio.load(path, sr=16000)
    assert rate16 == 16000 and err_db(y16, librosa.load(path, sr=16000)[0]) < -60
    graph = tf.function(tfaudio.io.audio.read_audio).get_concrete_function(tf.TensorSpec([], tf.string)).graph.as_graph_def()
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert any(op.startswith("IO>AudioDecode") for op in ops) == tfaudio.io.audio.has_tfio()
