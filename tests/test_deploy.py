"""Deployment: one model argument for every saved form (run folder, .keras, SavedModel, TFLite, ONNX,
pretrained name), TFLite (LiteRT) and ONNX (onnxruntime) exports with the features inside, quantization,
and the metadata that travels with every form (`tfaudio info`)."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfaudio
from tfaudio import cli
from tfaudio.deploy import export, metadata, onnx, tflite, writing
from tfaudio import inference
from tfaudio import models
from tfaudio.config import FeatureConfig, to_dict
from tfaudio.errors import TfaudioError
from tfaudio.experiment import experiment_from_dict
from tfaudio.spec import RunSpec
from tfaudio.deploy.loading import open_model
from tfaudio.run_folder import write_spec

from tests.fixtures import instrument, noise, write_audio

pytest.importorskip("ai_edge_litert")
pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

SR = 16000
FEAT = FeatureConfig(kind="log_mel", sr=SR, n_fft=512, hop_length=256, n_mels=16, fmax=SR / 2)
FRAMES = 8
WINDOW = FEAT.window_samples(FRAMES)
CLASSES = ("piano", "violin", "flute")
#: Keys every form's metadata carries, with the same values.
SHARED = ("classes", "sr", "window", "hop", "hop_length", "frames_per_window", "features", "task", "threshold",
          "thresholds", "threshold_source", "tfaudio_version", "training_data", "run_spec", "config", "aggregation")


def make_run(folder, model, spec, task="activation", model_cfg=None):
    """A run folder: checkpoints/best.keras, run.json and a config.json (what training writes)."""
    (folder / "checkpoints").mkdir(parents=True)
    model.save(folder / "checkpoints" / "best.keras")
    write_spec(spec, folder)
    cfg = experiment_from_dict({"name": "tiny", "task": task, "model": model_cfg or {"name": "activation_cnn"},
                                "features": to_dict(spec.features), "train": {"epochs": 1}})
    (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
    return folder


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    """A tiny activation run and its four exports: {form: path}, plus the Keras model and spec."""
    keras.utils.set_random_seed(21)
    model = models.build("activation_cnn", n_instruments=3, n_frames=FRAMES, features=FEAT, filters=(2, 2, 2))
    spec = RunSpec("activation", CLASSES, FEAT, WINDOW)
    base = tmp_path_factory.mktemp("deploy")
    run = make_run(base / "run", model, spec)
    paths = {"run": run, "checkpoint": run / "checkpoints" / "best.keras"}
    for fmt, name in (("savedmodel", "sm"), ("tflite", "m.tflite"), ("onnx", "m.onnx"), ("keras", "m.keras")):
        paths[fmt], _ = export.export(run, base / name, fmt)
    return model, spec, paths


def test_metadata_travels_with_every_form(forms, capsys):
    _, spec, paths = forms
    metas = {k: open_model(p).metadata for k, p in paths.items()}
    for k in ("savedmodel", "tflite", "onnx", "keras"):
        assert metas[k] == metadata.read_metadata(paths[k])  # what open_model uses is what the file carries
    ref = metas["run"]
    assert ref["classes"] == list(CLASSES) and ref["sr"] == SR and ref["window"] == WINDOW
    assert ref["tfaudio_version"] == tfaudio.__version__ and ref["training_data"]["pipeline"] == "tiny"
    assert ref["config"]["features"]["n_mels"] == 16 and ref["run_spec"] == spec.to_dict()
    for form, meta in metas.items():
        assert {k: meta[k] for k in SHARED} == {k: ref[k] for k in SHARED}, form
    assert metas["tflite"]["quantize"] == "none" and metas["tflite"]["select_tf_ops"] is False
    assert metas["onnx"]["front_end"] == "inside" and metas["tflite"]["front_end"] == "inside"
    for form in ("tflite", "onnx", "savedmodel"):
        assert cli.main(["info", str(paths[form])]) == 0
        out = capsys.readouterr().out
        assert "piano, violin, flute" in out and f"{SR} Hz" in out and "log_mel" in out and "trained on:" in out
    assert cli.main(["info", str(paths["tflite"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_spec"] == spec.to_dict()


def test_every_form_predicts_alike(forms, tmp_path, capsys):
    """`tfaudio predict` takes each form, says which it loaded, and the activations agree (1e-5; TFLite and
    ONNX 1e-4)."""
    _, _, paths = forms
    stereo = np.stack([instrument("piano", 1.5, 44100), instrument("violin", 1.5, 44100, seed=2)], 1)
    audio = write_audio(tmp_path / "song.wav", stereo, 44100, "PCM_24")
    names = {"run": "run folder", "checkpoint": ".keras file", "savedmodel": "exported SavedModel",
             "tflite": "TFLite model", "onnx": "ONNX model", "keras": ".keras file"}
    acts = {}
    for form, path in paths.items():
        assert cli.main(["predict", str(path), str(audio), "--out", str(tmp_path / form)]) == 0
        first = capsys.readouterr().out.splitlines()[0]
        assert first.startswith(f"model: {names[form]}"), first
        acts[form] = np.load(tmp_path / form / "song.npy")
    assert acts["run"].std() > 1e-3 and acts["run"].shape == (3, 1 + int(1.5 * SR) // 256)
    for form, a in acts.items():
        np.testing.assert_allclose(a, acts["run"], atol=1e-4 if form in ("tflite", "onnx") else 1e-5, err_msg=form)


def test_tflite_runs_in_litert_and_matches_the_saved_model(forms):
    model, spec, paths = forms
    tfl = open_model(paths["tflite"])
    assert type(tfl.model.interpreter).__module__.startswith("ai_edge_litert")
    assert tflite._flex_ops(paths["tflite"].read_bytes()) == []  # builtin ops only
    sm = tf.saved_model.load(str(paths["savedmodel"]))
    x = np.concatenate([writing.probe_windows(spec, 3), np.stack([instrument("flute", WINDOW / SR, SR)[:WINDOW],
                                                            noise(WINDOW / SR, SR)[:WINDOW]])])
    want = sm.windows(tf.constant(x))["activations"].numpy()
    np.testing.assert_allclose(tfl.model(x), want, atol=1e-4)
    onnx = open_model(paths["onnx"])
    np.testing.assert_allclose(onnx.model(x), want, atol=1e-4)
    np.testing.assert_allclose(want, writing._keras_outputs(model, spec, x), atol=1e-5)
    assert want.std() > 1e-3
    older = open_model(paths["savedmodel"]).model
    older._windows = None  # an export from before `windows`: serving_default on each window as a waveform
    np.testing.assert_allclose(older(x), want, atol=1e-5)


def test_quantized_tflite(forms, tmp_path):
    """float16 halves the file, dynamic and int8 quarter it; each runs in LiteRT near the float model; int8
    calibrates on audio given, else on the run's training data (none here: a clear error)."""
    model, spec, paths = forms
    for i in range(3):
        write_audio(tmp_path / "cal" / f"{i}.wav", instrument(("piano", "violin", "flute")[i], 1.0, 22050), 22050)
    sizes = {"none": paths["tflite"].stat().st_size}
    x = writing.probe_windows(spec, 4)
    want = writing._keras_outputs(model, spec, x)
    for q in ("float16", "dynamic", "int8"):
        out, meta = export.export(paths["run"], tmp_path / f"{q}.tflite", "tflite", quantize=q,
                             calibration=[tmp_path / "cal"] if q == "int8" else ())
        assert meta["quantize"] == q and meta["check"]["max_abs_diff"] is not None
        sizes[q] = out.stat().st_size
        got = open_model(out).model(x)
        assert np.abs(got - want).max() < 0.25, q  # quantized: close, not equal
    assert sizes["float16"] < 0.75 * sizes["none"] and sizes["dynamic"] < sizes["float16"]
    # int8: the network computes in int8, the feature front end (60 dB of spectrum) stays float32
    from tensorflow.lite.python import schema_py_generated as schema

    g = schema.Model.GetRootAsModel((tmp_path / "int8.tflite").read_bytes(), 0).Subgraphs(0)
    types = {g.Tensors(i).Name().decode(): g.Tensors(i).Type() for i in range(g.TensorsLength())}
    front = [t for n, t in types.items() if f"{writing.FRONT_END_SCOPE}/" in n]
    assert schema.TensorType.FLOAT32 in front and schema.TensorType.INT8 not in front  # (int32 ones are indices)
    assert any(t == schema.TensorType.INT8 and "conv" in n for n, t in types.items())
    with pytest.raises(TfaudioError, match="calibration"):
        tflite.export_tflite(model, spec, tmp_path / "nocal.tflite", quantize="int8")
    assert not (tmp_path / "nocal.tflite").exists()


def test_clip_model_forms_and_thresholds(tmp_path):
    keras.utils.set_random_seed(22)
    model = models.build("cnn_small", n_classes=3, n_frames=FRAMES, n_bins=16, features=FEAT, multi_label=True)
    spec = RunSpec("multi_label", CLASSES, FEAT, WINDOW, thresholds=(0.3, 0.5, 0.7),
                   threshold_source="validation split")
    run = make_run(tmp_path / "run", model, spec, "multi_label",
                   {"name": "cnn_small", "n_classes": 3, "multi_label": True})
    audio = write_audio(tmp_path / "c.wav", instrument("violin", 1.1, 32000), 32000)
    want = open_model(run).predict_file(audio)
    assert want.window_scores.std() > 1e-4
    for fmt, name in (("savedmodel", "sm"), ("tflite", "c.tflite"), ("onnx", "c.onnx")):
        path, meta = export.export(run, tmp_path / name, fmt)
        assert meta["thresholds"] == [0.3, 0.5, 0.7] and meta["threshold_source"] == "validation split"
        got = open_model(path).predict_file(audio)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-4 if fmt != "savedmodel" else 1e-5)
        assert got.active == want.active and got.thresholds == (0.3, 0.5, 0.7)


def test_cqt_front_end_goes_outside(tmp_path):
    """TFLite's RFFT2D takes powers of two only and tf2onnx no complex arithmetic: a CQT model is exported as
    the network alone, says so, and still predicts as its run does (features computed by tfaudio)."""
    feat = FeatureConfig(kind="cqt", sr=SR, hop_length=256, n_bins=32, bins_per_octave=12, fmin=55.0, fmax=SR / 2)
    keras.utils.set_random_seed(23)
    model = models.build("activation_cnn", n_instruments=3, n_frames=FRAMES, features=feat, filters=(2, 2, 2))
    spec = RunSpec("activation", CLASSES, feat, feat.window_samples(FRAMES))
    y = instrument("piano", 0.9, SR)
    want = inference.predict_audio(model, spec, y).activations
    for fmt in ("tflite", "onnx"):
        path = getattr(export, f"export_{fmt}")(model, spec, tmp_path / f"cqt.{fmt}")
        meta = metadata.read_metadata(path)
        assert meta["front_end"] == "outside" and "features" in meta["interface"]["inputs"], fmt
        loaded = open_model(path)
        assert loaded.spec.model_input == "features"
        np.testing.assert_allclose(loaded.predict_audio(y).activations, want, atol=1e-4, err_msg=fmt)


def test_refusals_are_one_line(forms, tmp_path, capsys):
    model, spec, paths = forms
    keep = tmp_path / "notes.tflite"
    keep.write_text("mine\n")
    with pytest.raises(TfaudioError, match="not a tfaudio tflite export; refusing"):
        tflite.export_tflite(model, spec, keep)
    assert keep.read_text() == "mine\n"
    with pytest.raises(TfaudioError, match=r"must end in \.onnx"):
        onnx.export_onnx(model, spec, tmp_path / "m.bin")
    export.export(paths["run"], paths["tflite"], "tflite")  # an earlier export of the same format is replaced
    cases = [
        (["export", str(paths["run"]), "--format", "onnx", "--quantize", "int8", "--out", str(tmp_path / "q.onnx")],
         "--quantize applies to --format tflite"),
        (["export", str(paths["tflite"]), "--format", "onnx", "--out", str(tmp_path / "x.onnx")], "is already an export"),
        (["predict", str(tmp_path / "nonesuch.tflite"), "x.wav", "--out", str(tmp_path / "p")],
         "not a tfaudio run folder"),
        (["predict", str(keep), "x.wav", "--out", str(tmp_path / "p")], "not a readable TFLite model"),
        (["info", str(tmp_path)], "not a tfaudio run folder"),
    ]
    lone = tmp_path / "lone.keras"
    model.save(lone)
    cases.append((["predict", str(lone), "x.wav", "--out", str(tmp_path / "p")], "carries no tfaudio metadata"))
    for argv, problem in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("tfaudio: error:") and problem in err and "\n" not in err, (argv, err)
    assert not (tmp_path / "q.onnx").exists() and not any((tmp_path / "p").glob("*"))  # nothing written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.slow
def test_trained_run_every_form_predicts_and_evaluates_alike(activation_run, tmp_path, capsys, monkeypatch):
    """The issue's check: a tiny trained run, exported as SavedModel, TFLite, ONNX and .keras; `tfaudio
    predict` and `tfaudio evaluate` (the run's own test split, rendered corpus) agree across the forms."""
    monkeypatch.setenv("TFAUDIO_CACHE", str(tmp_path / "cache"))  # the corpus renders again here (seeded: same)
    files = {"run": activation_run}
    for fmt, name in (("savedmodel", "sm"), ("tflite", "m.tflite"), ("onnx", "m.onnx"), ("keras", "m.keras")):
        assert cli.main(["export", str(activation_run), "--format", fmt, "--out", str(tmp_path / name)]) == 0
        files[fmt] = tmp_path / name
    capsys.readouterr()
    audio = write_audio(tmp_path / "s.wav", np.stack([instrument("flute", 2.0, 48000), noise(2.0, 48000)], 1), 48000)
    acts, metrics = {}, {}
    for form, path in files.items():
        assert cli.main(["predict", str(path), str(audio), "--out", str(tmp_path / f"p-{form}")]) == 0
        acts[form] = np.load(tmp_path / f"p-{form}" / "s.npy")
        assert cli.main(["evaluate", str(path), "--out", str(tmp_path / f"e-{form}"), "--mixes", "64"]) == 0
        metrics[form] = json.loads((tmp_path / f"e-{form}" / "metrics.json").read_text())
        assert metrics[form]["model_form"] == {"run": "run", "savedmodel": "saved_model"}.get(form, form)
    capsys.readouterr()
    assert acts["run"].std() > 1e-4
    for form in files:
        tol = 1e-4 if form in ("tflite", "onnx") else 1e-5
        np.testing.assert_allclose(acts[form], acts["run"], atol=tol, err_msg=form)
        for key in ("bce", "frame_f1", "n_examples", "split"):
            if isinstance(metrics["run"][key], float):
                assert metrics[form][key] == pytest.approx(metrics["run"][key], abs=10 * tol), (form, key)
            else:
                assert metrics[form][key] == metrics["run"][key], (form, key)
