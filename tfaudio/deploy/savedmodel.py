"""The SavedModel export: serving_default (waveform) and serve_wav (WAV bytes) signatures with the features,
sliding windows and stitching inside; classes and metadata as assets.
"""
from __future__ import annotations

import logging

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfaudio.errors import TfaudioError
from tfaudio.inference import DEFAULT_BATCH_WINDOWS, check_model, predict_waveform_graph, window_plan
from tfaudio.spec import RunSpec
from tfaudio.deploy.loading import float32_model
from tfaudio.deploy.metadata import _dumps, _output_key, metadata
from tfaudio.deploy.writing import _check_out_dir, _failures, _graph_model, _recover, _window_function
from tfaudio.io import outputs
from tfaudio.io.audio import decode_wav
from tfaudio.io.resample import resample

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# SavedModel


def _serving_module(model: Any, spec: RunSpec, classes_file: str, metadata_file: str,
                    batch_windows: int) -> tuple[tf.Module, dict[str, Any]]:
    """(module to save, signatures). The serving functions close over the Keras model; the module
    tracks the `tf.Variable`s those functions capture (as `keras.export.ExportArchive` does), not the
    Keras model: tracking the model's Keras variables instead saves a graph whose variables the TF1
    loaders (`saved_model_cli run`, TF Serving) cannot restore."""
    frames = check_model(model, spec)
    plan = window_plan(spec, frames or None)
    sr = spec.sr
    n = len(spec.classes)
    module = tf.Module(name="tfaudio")
    module.classes_file = tf.saved_model.Asset(classes_file)
    module.metadata_file = tf.saved_model.Asset(metadata_file)
    # the classes as constants, not read from classes.txt: a tfaudio SavedModel runs no file op (tfaudio.deploy.trust)
    init = tf.lookup.KeyValueTensorInitializer(tf.range(n, dtype=tf.int64), tf.constant(list(spec.classes)))
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
        audio, rate = decode_wav(contents)
        return resample(tf.reduce_mean(audio, axis=1), rate, sr)[None, :]

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
    # not a signature (saved_model_cli and TF Serving see the two above): the per-window outputs that
    # `tfaudio.deploy.loading.open_model` runs, so a SavedModel predicts, streams and evaluates as its run does
    module.windows = _window_function(model, spec, None)
    signatures = {"serving_default": module.serve.get_concrete_function(),
                  "serve_wav": module.serve_wav.get_concrete_function()}
    seen: set[int] = set()
    variables = []
    for fn in [*signatures.values(), module.windows.get_concrete_function()]:
        for v in fn.variables:
            if id(v) not in seen:
                seen.add(id(v))
                variables.append(v)
    module.model_variables = variables
    return module, signatures


def export_saved_model(model: Any, spec: RunSpec, out_dir: str | os.PathLike, version: str | None = None,
                       batch_windows: int = DEFAULT_BATCH_WINDOWS, config: dict[str, Any] | None = None,
                       training: dict[str, Any] | None = None) -> Path:
    """Export `model` (a Keras model fitting `spec`) as a SavedModel at `out_dir`; returns the path.

    An existing SavedModel at `out_dir` is replaced (only once the new one is complete); any other
    non-empty folder there is refused. `version` defaults to `tfaudio.__version__`. `config` (the run's
    resolved experiment config) and `training` (`tfaudio.deploy.loading.training_summary`) go into the metadata.
    """
    _graph_model(model, "a SavedModel")
    model = float32_model(model)  # deployed forms compute in float32 (see tfaudio.deploy.loading.float32_model)

    out = Path(out_dir).absolute()
    outputs.output_dir(out.parent, "export's parent folder")
    _recover(out)
    _check_out_dir(out)
    if any("\n" in c or "\r" in c for c in spec.classes):
        raise TfaudioError("class names must not contain line breaks (classes.txt holds one per line)")
    frames = check_model(model, spec)
    meta = metadata(spec, version, frames or None, config=config, training=training, export_format="savedmodel",
                    front_end="inside", windows={"inputs": {"window": f"float32 [batch, {spec.window}]"},
                                                 "outputs": {_output_key(spec): "per window, unstitched"}})
    tmp = outputs.temp_dir(out)
    try:
        with _failures(out, "export"):
            with tempfile.TemporaryDirectory(prefix="tfaudio-assets-") as staging:
                classes_file = os.path.join(staging, "classes.txt")
                metadata_file = os.path.join(staging, "metadata.json")
                Path(classes_file).write_text("".join(f"{c}\n" for c in spec.classes), encoding="utf-8")
                Path(metadata_file).write_text(_dumps(meta), encoding="utf-8")
                module, signatures = _serving_module(model, spec, classes_file, metadata_file, batch_windows)
                tf.saved_model.save(module, str(tmp / "model"), signatures=signatures)
            outputs.write_manifest(tmp / "model", [p for p in (tmp / "model").rglob("*") if p.is_file()], "export")
            outputs.atomic_replace_dir(tmp / "model", out)  # an earlier export stays whole until then
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported %s (%s, %d classes) to %s", getattr(model, "name", "model"), spec.task, len(spec.classes), out)
    return out
