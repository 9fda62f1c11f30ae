"""Export a trained model as a TensorFlow SavedModel that takes audio and does all of inference inside.

    path = export_saved_model(model, spec, "exported/neuroment")

Signatures (both compute the features in the graph and run `tfaudio.inference`'s sliding windows with
overlap-add or clip aggregation, so they give `tfaudio predict`'s numbers):

* ``serving_default(waveform: float32 [batch, samples])`` — mono audio at the model's rate
  (`metadata.json`'s "sr"); any length ≥ 1, all rows of a batch equally long.
* ``serve_wav(wav: string [batch])`` — WAV file bytes (PCM 8/16/24/32-bit or float), decoded with
  `tfaudio.audio.decode_wav`, downmixed (channel mean) and resampled to the model's rate in the graph.
  Items may differ in length and rate: each is processed on its own (`tf.map_fn`) and activations are
  zero-padded to the longest item; "n_frames" gives each item's frame count.

Outputs: activation models {"activations": float32 (batch, instruments, frames), "frame_times": float32
(frames,) seconds} (+ "n_frames" int32 (batch,) for serve_wav); clip models {"scores": float32 (batch,
classes) (mean of window probabilities), "label": string (batch,) (the top class)}.

Assets: `assets/classes.txt` (one class per line; the "label" output reads it through a lookup table)
and `assets/metadata.json` (sample rate, window, hops, task, features, classes, threshold, tfaudio
version, signatures). The SavedModel is written to a temporary folder next to `out_dir` and renamed
into place, so a failed export leaves nothing half-written.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfaudio.config import to_dict
from tfaudio.errors import TfaudioError
from tfaudio.inference import DEFAULT_BATCH_WINDOWS, check_model, predict_waveform_graph, window_plan
from tfaudio.run import RunSpec

log = logging.getLogger(__name__)

__all__ = ["export_saved_model", "metadata", "load_metadata"]

SIGNATURES = ("serving_default", "serve_wav")


def metadata(spec: RunSpec, version: str, frames: int | None = None) -> dict[str, Any]:
    """What the metadata.json asset records."""
    plan = window_plan(spec, frames)
    return {
        "tfaudio_version": version,
        "task": spec.task,
        "classes": list(spec.classes),
        "sr": spec.sr,
        "window": plan.window,
        "hop": plan.hop,
        "hop_length": plan.hop_length,
        "frames_per_window": plan.frames if plan.activation else None,
        "frame_hop": plan.frame_hop if plan.activation else None,
        "model_input": spec.model_input,
        "threshold": spec.threshold,
        "features": to_dict(spec.features),
        "aggregation": ("overlap-add, Hann weights sin^2(pi (k + 1/2) / F), normalised" if plan.activation
                        else "mean of window probabilities"),
        "signatures": {
            "serving_default": {"inputs": {"waveform": "float32 [batch, samples] mono at sr"},
                                "outputs": _outputs_doc(plan.activation, wav=False)},
            "serve_wav": {"inputs": {"wav": "string [batch] WAV file bytes"},
                          "outputs": _outputs_doc(plan.activation, wav=True)},
        },
    }


def _outputs_doc(activation: bool, wav: bool) -> dict[str, str]:
    if activation:
        d = {"activations": "float32 [batch, instruments, frames] in [0, 1] (0 = -60 dB)",
             "frame_times": "float32 [frames] seconds"}
        if wav:
            d["n_frames"] = "int32 [batch] frames of each item (the rest is zero padding)"
        return d
    return {"scores": "float32 [batch, classes]", "label": "string [batch] top class"}


def _serving_module(model: Any, spec: RunSpec, classes_file: str, metadata_file: str,
                    batch_windows: int) -> tuple[tf.Module, dict[str, Any]]:
    """(module to save, signatures). The serving functions close over the Keras model; the module
    tracks the `tf.Variable`s those functions capture (as `keras.export.ExportArchive` does), not the
    Keras model: tracking the model's Keras variables instead saves a graph whose variables the TF1
    loaders (`saved_model_cli run`, TF Serving) cannot restore."""
    from tfaudio import audio as A

    frames = check_model(model, spec)
    plan = window_plan(spec, frames or None)
    sr = spec.sr
    n = len(spec.classes)
    module = tf.Module(name="tfaudio")
    module.classes_file = tf.saved_model.Asset(classes_file)
    module.metadata_file = tf.saved_model.Asset(metadata_file)
    init = tf.lookup.TextFileInitializer(module.classes_file, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                                         tf.string, tf.lookup.TextFileIndex.WHOLE_LINE)
    table = module.class_table = tf.lookup.StaticHashTable(init, default_value="")

    def core(waveform: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict_waveform_graph(model, spec, plan, waveform, batch_windows)

    def clip_outputs(scores: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"scores": scores, "label": table.lookup(tf.argmax(scores, axis=-1, output_type=tf.int64))}

    def serve(waveform: tf.Tensor) -> dict[str, tf.Tensor]:
        out = core(waveform)
        if plan.activation:
            return {"activations": out["activations"], "frame_times": out["frame_times"]}
        return clip_outputs(out["scores"])

    def mono(contents: tf.Tensor) -> tf.Tensor:
        audio, rate = A.decode_wav(contents)
        return A.resample(tf.reduce_mean(audio, axis=1), rate, sr)[None, :]

    def serve_wav(wav: tf.Tensor) -> dict[str, tf.Tensor]:
        if plan.activation:
            def one(contents):
                return tf.transpose(core(mono(contents))["activations"][0])  # (frames, instruments)

            acts = tf.map_fn(one, wav, fn_output_signature=tf.RaggedTensorSpec([None, n], tf.float32, ragged_rank=0),
                             parallel_iterations=1)
            dense = tf.transpose(acts.to_tensor(0.0, shape=[None, None, n]), [0, 2, 1])
            times = tf.cast(tf.range(tf.shape(dense)[2]), tf.float32) * (plan.hop_length / sr)
            return {"activations": dense, "frame_times": times,
                    "n_frames": tf.cast(acts.row_lengths(), tf.int32)}
        scores = tf.map_fn(lambda c: core(mono(c))["scores"][0], wav,
                           fn_output_signature=tf.TensorSpec([n], tf.float32), parallel_iterations=1)
        return clip_outputs(scores)

    module.serve = tf.function(serve, input_signature=[tf.TensorSpec([None, None], tf.float32, name="waveform")],
                               autograph=False)
    module.serve_wav = tf.function(serve_wav, input_signature=[tf.TensorSpec([None], tf.string, name="wav")],
                                   autograph=False)
    signatures = {"serving_default": module.serve.get_concrete_function(),
                  "serve_wav": module.serve_wav.get_concrete_function()}
    seen: set[int] = set()
    variables = []
    for fn in signatures.values():
        for v in fn.variables:
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    module.model_variables = variables
    return module, signatures


def _check_out_dir(out: Path) -> None:
    """`out` must be new, empty, or an earlier tfaudio export (which is replaced)."""
    from tfaudio import outputs

    if out.exists() and not out.is_dir():
        raise outputs.OutputError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not _is_export(out):
        raise outputs.OutputError(f"{out}: exists, is not empty and holds no tfaudio SavedModel; refusing to "
                                  "overwrite it")


def _is_export(folder: Path) -> bool:
    try:
        return (folder / "saved_model.pb").is_file() and "tfaudio_version" in load_metadata(folder)
    except (TfaudioError, ValueError, OSError):
        return False


def _recover(out: Path) -> None:
    """Undo what killed exports to `out` left: their temporary folders go; a previous export that one
    had moved aside (``.NAME.old-PID``) is put back if `out` is missing, else removed."""
    from tfaudio import outputs

    outputs.clean_stale(out)
    for old in outputs.stale_siblings(out, ("old",)):
        if not out.exists() and _is_export(old):
            os.replace(old, out)
            log.warning("%s: put back the previous export that a killed export had moved aside", out)
        else:
            shutil.rmtree(old, ignore_errors=True)


def export_saved_model(model: Any, spec: RunSpec, out_dir: str | os.PathLike, version: str | None = None,
                       batch_windows: int = DEFAULT_BATCH_WINDOWS) -> Path:
    """Export `model` (a Keras model fitting `spec`) as a SavedModel at `out_dir`; returns the path.

    An existing SavedModel at `out_dir` is replaced (only once the new one is complete); any other
    non-empty folder there is refused. `version` defaults to `tfaudio.__version__`.
    """
    if not getattr(model, "runs_in_graph", True):  # the scikit-learn SVM: nothing to trace into a graph
        raise TfaudioError(f"{getattr(model, 'name', type(model).__name__)!r} is a {type(model).__name__} "
                           "(scikit-learn), and a SavedModel needs a Keras model; use `tfaudio predict` with the "
                           "run folder instead")
    if version is None:
        from tfaudio import __version__ as version
    from tfaudio import outputs

    out = Path(out_dir).absolute()
    outputs.output_dir(out.parent, "export's parent folder")
    _recover(out)
    _check_out_dir(out)
    if any("\n" in c or "\r" in c for c in spec.classes):
        raise TfaudioError("class names must not contain line breaks (classes.txt holds one per line)")
    frames = check_model(model, spec)
    meta = metadata(spec, version, frames or None)
    tmp = outputs.temp_dir(out)
    try:
        with tempfile.TemporaryDirectory(prefix="tfaudio-assets-") as staging:
            classes_file = os.path.join(staging, "classes.txt")
            metadata_file = os.path.join(staging, "metadata.json")
            Path(classes_file).write_text("".join(f"{c}\n" for c in spec.classes), encoding="utf-8")
            Path(metadata_file).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            module, signatures = _serving_module(model, spec, classes_file, metadata_file, batch_windows)
            target = tmp / "model"
            tf.saved_model.save(module, str(target), signatures=signatures)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        try:
            os.replace(target, out)
        except OSError:
            if old is not None:
                os.replace(old, out)  # put the previous export back
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except TfaudioError:
        raise
    except Exception as e:  # noqa: BLE001 - a failed export is one line, and leaves nothing behind
        raise TfaudioError(f"{out}: export failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") \
            from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported %s (%s, %d classes) to %s", getattr(model, "name", "model"), spec.task, len(spec.classes), out)
    return out


def load_metadata(saved_model_dir: str | os.PathLike) -> dict[str, Any]:
    """The metadata.json asset of an exported model."""
    path = Path(saved_model_dir) / "assets" / "metadata.json"
    if not path.is_file():
        raise TfaudioError(f"{saved_model_dir}: not a tfaudio SavedModel (no assets/metadata.json)")
    return json.loads(path.read_text(encoding="utf-8"))
