"""Streaming inference (`tfaudio.inference.Stream`, `tfaudio predict MODEL - --stream`): chunks of any size,
rate and channel count give `predict_file`'s numbers, as soon as they are final, in constant memory."""
from __future__ import annotations

import csv
import io
import sys

import keras
import numpy as np
import pytest
import soundfile as sf

from tfaudio import cli
from tfaudio import models
from tfaudio.errors import TfaudioError
from tfaudio.inference import Stream, StreamOutput, predict_file, window_plan
from tfaudio.spec import RunSpec
from tfaudio.run_folder import write_spec

from tests.fixtures import instrument, noise, write_audio
from tests.test_inference import CLASSES, FEAT, FRAMES, SR, WINDOW  # the same tiny models as the offline tests


@pytest.fixture(scope="module")
def act():
    keras.utils.set_random_seed(11)
    model = models.build("activation_cnn", n_instruments=3, n_frames=FRAMES, features=FEAT, filters=(2, 2, 2))
    return model, RunSpec("activation", CLASSES, FEAT, WINDOW)


@pytest.fixture(scope="module")
def clf():
    keras.utils.set_random_seed(12)
    model = models.build("cnn_small", n_classes=3, n_frames=FRAMES, n_bins=16, features=FEAT, multi_label=True)
    return model, RunSpec("multi_label", CLASSES, FEAT, WINDOW, threshold=0.4)


def random_chunks(y: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """`y` cut at random: tiny (1-9 samples), medium and large chunks mixed."""
    out, i = [], 0
    while i < len(y):
        kind = rng.integers(3)
        n = int(rng.integers(1, 10) if kind == 0 else rng.integers(10, 1500) if kind == 1 else rng.integers(1500, 30000))
        out.append(y[i:i + n])
        i += n
    return out


def check_consecutive(outs: list[StreamOutput]) -> None:
    """Each output starts where the one before ended."""
    nxt = 0
    for o in outs:
        if len(o):
            assert o.start == nxt
            nxt += len(o)


def test_random_chunks_equal_predict_file(act, tmp_path):
    """Stereo 44.1-kHz audio (resampled to the model's 16 kHz) in random chunks: the frames equal
    `predict_file`'s, frame for frame, and only the last window's frames wait for flush()."""
    model, spec = act
    sr = 44100
    stereo = np.stack([instrument("piano", 2.0, sr), instrument("violin", 2.0, sr, seed=1)], 1)
    path = write_audio(tmp_path / "x.wav", stereo, sr, "FLOAT")
    expected = predict_file(model, spec, path)
    assert expected.activations.std() > 1e-3  # not a constant output: the comparison means something
    rng = np.random.default_rng(0)
    plan = window_plan(spec, FRAMES)
    for trial in range(3):
        stream = Stream(model, spec, rate=sr, channels=2)
        outs = [stream.push(c) for c in random_chunks(stereo, rng)]
        tail = stream.flush()
        check_consecutive([*outs, tail])
        got = StreamOutput.concatenate([*outs, tail])
        assert got.values.shape == expected.activations.T.shape, trial
        np.testing.assert_allclose(got.values, expected.activations.T, atol=1e-5)
        np.testing.assert_allclose(got.times, expected.frame_times, atol=1e-9)
        assert 0 < len(tail) <= plan.frames  # the documented tail: at most one window of frames
        assert sum(len(o) for o in outs) >= expected.activations.shape[1] - plan.frames


def test_mono_int16_chunks_at_the_model_rate(act, tmp_path):
    """int16 PCM chunks at the model's own rate (no resampling), (samples, 1) and (samples,) shapes mixed."""
    model, spec = act
    y16 = (instrument("flute", 1.3, SR) * 30000).astype(np.int16)
    path = tmp_path / "m.wav"
    sf.write(path, y16, SR, subtype="PCM_16")
    expected = predict_file(model, spec, path)
    stream = Stream(model, spec)  # rate defaults to the model's
    assert stream.rate == SR and stream.latency_samples == WINDOW
    chunks = random_chunks(y16, np.random.default_rng(1))
    got = stream.run([c[:, None] if k % 2 else c for k, c in enumerate(chunks)])
    np.testing.assert_allclose(got.values, expected.activations.T, atol=1e-5)


def test_clip_window_scores_stream(clf, tmp_path):
    """Clip models: each window's probabilities come out as it completes; their running mean is the clip score."""
    model, spec = clf
    y = instrument("violin", 1.7, 48000)
    path = write_audio(tmp_path / "c.wav", y, 48000, "FLOAT")
    expected = predict_file(model, spec, path)
    assert expected.window_scores.std() > 1e-4
    stream = Stream(model, spec, rate=48000)
    outs = [stream.push(c) for c in random_chunks(y, np.random.default_rng(2))]
    assert sum(len(o) for o in outs) == len(expected.window_scores) - 1  # all but the zero-padded last window
    got = StreamOutput.concatenate([*outs, stream.flush()])
    np.testing.assert_allclose(got.values, expected.window_scores, atol=1e-5)
    np.testing.assert_allclose(got.times, np.arange(len(got)) * (WINDOW // 2) / SR)
    np.testing.assert_allclose(stream.scores, expected.scores, atol=1e-5)
    assert stream.label == expected.label


@pytest.mark.parametrize("rate", [SR, 22050])
def test_latency_is_the_stated_bound(act, rate):
    """Every frame is out by the push that brings `latency_samples` input samples after its centre; at the
    model's rate (no resampler) the frames at the start of each hop need exactly that many."""
    model, spec = act
    stream = Stream(model, spec, rate=rate)
    y = noise(1.5, rate, seed=3)
    rng = np.random.default_rng(4)
    before: dict[int, int] = {}  # frame -> input samples in before the push that gave it
    i = 0
    while i < len(y):
        n = int(rng.integers(1, 40))
        out = stream.push(y[i:i + n])
        for k in range(len(out)):
            before[out.start + k] = i
        i += n
    hl = FEAT.hop_length
    waits = [n_in - t * hl * rate / SR for t, n_in in before.items()]  # samples after the centre, then
    assert len(before) > 40
    assert max(waits) < stream.latency_samples  # it had not had its latency's worth of samples yet
    if rate == SR:
        assert max(waits) >= stream.latency_samples - 40  # chunks of < 40 samples: the bound is met, not loose
    assert stream.latency_seconds == pytest.approx(stream.latency_samples / rate)


def test_memory_stays_constant(act):
    """A long stream holds no more than a short one: the buffers do not grow with the input."""
    model, spec = act
    stream = Stream(model, spec, rate=22050, batch_windows=8)
    sizes = [1, 4096, 333, 7919, 50, 12000]
    block = noise(5.0, 22050, seed=5)

    def feed(seconds: float) -> int:
        peak, fed, k = 0, 0, 0
        while fed < seconds * 22050:
            n = sizes[k % len(sizes)]
            start = fed % (len(block) - n)
            stream.push(block[start:start + n])
            fed += n
            k += 1
            peak = max(peak, stream.buffered)
        return peak

    early = feed(10)
    late = feed(50)
    assert stream.samples_in >= 60 * 22050
    assert late <= early * 1.25  # a buffer growing with the stream would be ~5x larger after 60 s than after 10
    assert late < 4 * WINDOW + 2 * max(sizes)


def test_bad_chunks_are_one_line(act):
    model, spec = act
    stream = Stream(model, spec, channels=2)
    with pytest.raises(TfaudioError, match="does not hold 2 channel"):
        stream.push(np.zeros((10, 3), np.float32))
    with pytest.raises(TfaudioError, match="not whole frames"):
        stream.push(np.zeros(11, np.float32))
    with pytest.raises(TfaudioError, match="NaN or Inf"):
        stream.push(np.full((4, 2), np.nan, np.float32))
    with pytest.raises(TfaudioError, match="sample rate"):
        Stream(model, spec, rate=0)
    assert len(stream.flush()) == 0  # no audio: no rows
    with pytest.raises(TfaudioError, match="ended"):
        stream.push(np.zeros((4, 2), np.float32))


@pytest.fixture(scope="module")
def tiny_run(act, tmp_path_factory):
    """A run folder of the tiny activation model (run.json + checkpoints/best.keras)."""
    model, spec = act
    run = tmp_path_factory.mktemp("stream-run") / "run"
    (run / "checkpoints").mkdir(parents=True)
    model.save(run / "checkpoints" / "best.keras")
    write_spec(spec, run)
    return run


def read_csv(text: str) -> tuple[list[str], np.ndarray]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], np.array(rows[1:], dtype=np.float64)


@pytest.mark.parametrize("sample_format", ["s16le", "f32le"])
def test_cli_streams_raw_pcm_from_stdin(act, tiny_run, tmp_path, monkeypatch, capsys, sample_format):
    """`tfaudio predict RUN - --stream --rate 22050 --channels 2` on raw PCM: CSV with a header and one row
    per frame equal to `tfaudio predict` on the same audio in a WAV file."""
    model, spec = act
    y = np.stack([instrument("piano", 1.2, 22050), noise(1.2, 22050, seed=6)], 1)
    if sample_format == "s16le":
        pcm = (y * 30000).astype("<i2")
        path = tmp_path / "x.wav"
        sf.write(path, pcm, 22050, subtype="PCM_16")
    else:
        pcm = y.astype("<f4")
        path = write_audio(tmp_path / "x.wav", pcm, 22050, "FLOAT")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pcm.tobytes())))
    rc = cli.main(["predict", str(tiny_run), "-", "--stream", "--rate", "22050", "--channels", "2",
                   "--sample-format", sample_format])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    header, rows = read_csv(captured.out)
    assert header == ["time", *CLASSES]
    expected = predict_file(model, spec, path)
    assert rows.shape == (expected.activations.shape[1], 1 + len(CLASSES))
    np.testing.assert_allclose(rows[:, 0], expected.frame_times, atol=1e-6)
    np.testing.assert_allclose(rows[:, 1:], expected.activations.T, atol=2e-6)  # CSV: 6 decimals
    assert "latency" in captured.err and "model: run folder" in captured.err


def test_cli_stream_refusals(tiny_run, tmp_path, monkeypatch, capsys):
    for argv, problem in ((["-"], "add --stream"), (["x.wav", "--stream"], "give - as the only AUDIO"),
                          (["-", "--stream", "--out", str(tmp_path / "o")], "--out and --plot do not apply")):
        assert cli.main(["predict", str(tiny_run), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("tfaudio: error:") and problem in err and "\n" not in err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert cli.main(["predict", str(tiny_run), "-", "--stream", "-q"]) == 2
    assert "no audio samples" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
