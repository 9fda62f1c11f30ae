"""`tfaudio evaluate`, `predict`, `export` and `demo`, as a user types them, at tiny sizes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from tests import fixtures
from tfaudio import cli
from tfaudio.data import multitrack

TINY = ["data.per_class=3", "train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=1",
        "train.batch_size=4", "train.verbose=0"]


def _sets(items):
    return sum([["--set", s] for s in items], [])


@pytest.fixture(scope="module")
def sequence_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("audio")
    mix, _, _ = multitrack.render_sequence(["piano", "flute", "violin"], seconds_each=1.0, sr=48000, seed=2)
    fixtures.write_audio(d / "seq48k.wav", mix, 48000, "PCM_24")
    fixtures.write_audio(d / "stereo.flac", np.stack([mix, 0.5 * mix], 1), 22050, "PCM_16")
    (d / "broken.wav").write_bytes(b"RIFF junk")
    return d


def test_evaluate_activation_run(activation_run, tmp_path, capsys):
    out = tmp_path / "report"
    assert cli.main(["evaluate", str(activation_run), "--out", str(out), "--mixes", "64"]) == 0
    assert "bce" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "activation" and metrics["n_examples"] == 64
    assert 0 < metrics["bce"] < 5 and 0 <= metrics["frame_f1"] <= 1
    noise = np.array(metrics["noise_matrix_db"], dtype=float)
    assert noise.shape == (8, 8) and np.nanmax(noise) <= 0 and np.nanmin(noise) >= -60
    assert np.isnan(np.array(metrics["leakage_matrix_db"], dtype=float).diagonal()).all()
    for png in ("noise_matrix.png", "leakage_matrix.png", "training_curves.png", "example_0.png"):
        assert (out / png).stat().st_size > 1000, png


def test_predict_files_of_any_rate_and_channels(activation_run, sequence_files, tmp_path, capsys):
    out = tmp_path / "pred"
    files = [str(sequence_files / n) for n in ("seq48k.wav", "broken.wav", "stereo.flac")]
    assert cli.main(["predict", str(activation_run), *files, "--out", str(out), "--plot"]) == 1
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1 and "broken.wav" in captured.err
    for stem, name in (("seq48k", "seq48k.wav"), ("stereo", "stereo.flac")):
        a = np.load(out / f"{stem}.npy")
        samples_44k = int(np.ceil(sf.info(sequence_files / name).duration * 44100))
        assert a.shape == (8, 1 + samples_44k // 1024) and a.min() >= 0 and a.max() <= 1
        rows = (out / f"{stem}.csv").read_text().splitlines()
        assert rows[0].startswith("time,clarinet,") and len(rows) == a.shape[1] + 1
        assert (out / f"{stem}.png").stat().st_size > 1000


def test_export_matches_predict(activation_run, sequence_files, tmp_path):
    out = tmp_path / "sm"
    assert cli.main(["export", str(activation_run), "--out", str(out)]) == 0
    assert (out / "assets" / "classes.txt").read_text().split("\n")[0] == "clarinet"
    meta = json.loads((out / "assets" / "metadata.json").read_text())
    assert meta["sr"] == 44100 and meta["task"] == "activation"
    loaded = tf.saved_model.load(str(out))
    y, sr = sf.read(sequence_files / "seq48k.wav", dtype="float32")
    from tfaudio.io.audio import load

    y44, _ = load(sequence_files / "seq48k.wav", sr=44100)
    got = loaded.signatures["serving_default"](waveform=tf.constant(y44[None]))["activations"].numpy()[0]
    pred = tmp_path / "pred"
    cli.main(["predict", str(activation_run), str(sequence_files / "seq48k.wav"), "--out", str(pred)])
    np.testing.assert_allclose(got, np.load(pred / "seq48k.npy"), atol=1e-4)
    wav = tf.constant([(sequence_files / "seq48k.wav").read_bytes()])
    via_wav = loaded.signatures["serve_wav"](wav=wav)["activations"].numpy()[0]
    np.testing.assert_allclose(via_wav, got, atol=1e-4)


def test_single_label_run_evaluate_and_predict(cache, sequence_files, tmp_path):
    run = tmp_path / "lstm"
    assert cli.main(["train", "goel_lstm", "--out", str(run), *_sets(TINY), "--set", "data.clip_seconds=0.5",
                     "--set", "model.units=[8]"]) == 0
    assert cli.main(["evaluate", str(run), "--out", str(tmp_path / "rep")]) == 0
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and np.array(metrics["confusion_matrix"]).shape == (8, 8)
    assert (tmp_path / "rep" / "confusion_matrix.png").is_file()
    assert cli.main(["predict", str(run), str(sequence_files / "stereo.flac"), "--out", str(tmp_path / "p")]) == 0
    scores = json.loads((tmp_path / "p" / "stereo.json").read_text())
    assert scores["label"] in scores["scores"] and abs(sum(scores["scores"].values()) - 1) < 1e-4


def test_commands_refuse_a_folder_that_is_not_a_run(tmp_path, capsys):
    for cmd in (["evaluate", str(tmp_path), "--out", str(tmp_path / "r")], ["export", str(tmp_path), "--out",
                str(tmp_path / "e")], ["predict", str(tmp_path), "x.wav", "--out", str(tmp_path / "p")]):
        assert cli.main(cmd) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("tfaudio: error:") and "not a tfaudio run folder" in err and "\n" not in err


def test_demo_at_tiny_size(cache, tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--per-class", "3", "--epochs", "1", "--steps", "2",
                     "--sequence-seconds", "0.5", "-q"]) == 0
    out = capsys.readouterr().out
    assert "[6/6] summary" in out and "frame F1" in out
    for rel in ("run/checkpoints/best.keras", "report/metrics.json", "report/sequence/metrics.json",
                "saved_model/saved_model.pb", "prediction/sequence.npy", "prediction/sequence.png", "sequence.wav"):
        assert (tmp_path / rel).is_file(), rel


def test_a_command_plugin_that_fails_to_load_says_so_in_one_line(monkeypatch, capsys):
    from importlib import metadata

    from tfaudio import cli

    class Broken:
        name = "tune"

        def load(self):
            raise ImportError("cannot import name 'x'")

    monkeypatch.setattr(metadata, "entry_points", lambda group: [Broken()])
    monkeypatch.setattr(cli, "_PLUGIN_ERRORS", {})
    assert cli.main(["tune", "neuroment_mel", "--out", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tfaudio: error: the 'tune' command did not load (ImportError: cannot import name 'x')"]
