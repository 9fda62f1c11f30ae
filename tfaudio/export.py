"""Export a trained model for deployment (SavedModel, TFLite, ONNX, .keras), and load what was exported.

    path = export_saved_model(model, spec, "exported/neuroment")
    path = export_tflite(model, spec, "neuroment.tflite", quantize="float16")
    path = export_onnx(model, spec, "neuroment.onnx")
    tfaudio export RUN --format {savedmodel,tflite,onnx,keras} --out PATH [--quantize none|float16|dynamic|int8]

**SavedModel** signatures (both compute the features in the graph and run `tfaudio.inference`'s sliding
windows with overlap-add or clip aggregation, so they give `tfaudio predict`'s numbers):

* ``serving_default(waveform: float32 [batch, samples])`` — mono audio at the model's rate
  (`metadata.json`'s "sr"); any length ≥ 1, all rows of a batch equally long.
* ``serve_wav(wav: string [batch])`` — WAV file bytes (PCM 8/16/24/32-bit or float), decoded with
  `tfaudio.audio.decode_wav`, downmixed (channel mean) and resampled to the model's rate in the graph.
  Items may differ in length and rate: each is processed on its own (`tf.map_fn`) and activations are
  zero-padded to the longest item; "n_frames" gives each item's frame count.

Outputs: activation models {"activations": float32 (batch, instruments, frames), "frame_times": float32
(frames,) seconds} (+ "n_frames" int32 (batch,) for serve_wav); clip models {"scores": float32 (batch,
classes) (mean of window probabilities), "label": string (batch,) (the top class)}. The restored object
also has ``windows(window: float32 [batch, window])``: the model's outputs per window (no stitching).

Assets: `assets/classes.txt` (one class per line; the "label" output looks the same names up in a table of
constants) and `assets/metadata.json` (see `metadata`). The graph runs no file, network or Python op: what
`tfaudio.trust` allows before any SavedModel is loaded.

**TFLite and ONNX** models take one window, ``window: float32 [1, window]`` at the model's rate, and give
that window's ``activations`` `(1, instruments, frames)` or ``scores`` `(1, classes)`: the host slides the
windows and stitches them (`tfaudio.inference.Stream` and `predict_file` do; the rule is in the
metadata's "aggregation"). The features are computed inside: TFLite with builtin ops only (RFFT2D, REAL,
IMAG, ...; when the converter needs select TF ops, the metadata says so in "select_tf_ops" and the model
runs only with TensorFlow's own interpreter); ONNX with the |STFT| as tf2onnx converts it (a DFT matrix
product), squared for mel power. Where a front end does not convert (CQT to ONNX), the network alone is
exported: input ``features`` `(1, frames, bins)` and "front_end": "outside" in the metadata.

**Metadata** travels inside every form: `assets/metadata.json` (SavedModel), a "tfaudio" metadata buffer
(TFLite), a "tfaudio" metadata_props entry (ONNX), a `tfaudio.json` entry of the zip (.keras). Each is the
JSON of `metadata`: classes, sample rate, window, hop, features, task, thresholds, tfaudio version, the
run spec, the training data summary and the resolved experiment config. `read_metadata(path)` reads it
from any of them; `tfaudio info MODEL` prints it.

Every file goes through `tfaudio.outputs` (temporary name, rename); a SavedModel is built in a temporary
sibling folder and renamed into place, so a failed export leaves nothing half-written. An existing output
is replaced only when it is an export of the same format (else refused).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from tfaudio.config import FeatureConfig, to_dict
from tfaudio.errors import TfaudioError
from tfaudio.inference import DEFAULT_BATCH_WINDOWS, check_model, model_inputs, predict_waveform_graph, window_plan
from tfaudio.run import RunSpec, float32_model, spec_from_metadata

log = logging.getLogger(__name__)

__all__ = ["FORMATS", "QUANTIZE", "export_saved_model", "export_tflite", "export_onnx", "export_keras", "export",
           "metadata", "load_metadata", "read_metadata", "load_exported", "calibration_windows",
           "SavedModelRunner", "TFLiteRunner", "ONNXRunner", "latency", "probe_windows"]

SIGNATURES = ("serving_default", "serve_wav")
#: `tfaudio export --format` choices, and the suffix of the file formats.
FORMATS = ("savedmodel", "tflite", "onnx", "keras")
SUFFIX = {"tflite": ".tflite", "onnx": ".onnx", "keras": ".keras"}
#: `--quantize` choices (TFLite): none, float16 weights, dynamic-range int8 weights, int8 weights and
#: activations calibrated on audio windows (float where a kernel has no int8 version; float in and out).
QUANTIZE = ("none", "float16", "dynamic", "int8")
#: Where the metadata sits: TFLite metadata name, ONNX metadata_props key; `tfaudio.json` in a .keras zip.
METADATA_KEY = "tfaudio"
KERAS_ENTRY = "tfaudio.json"
#: ONNX opset of the exports (onnxruntime >= 1.13).
ONNX_OPSET = 17
#: Name scope of the feature front end in the one-window graph.
FRONT_END_SCOPE = "front_end"


# --------------------------------------------------------------------------------------------
# metadata


def metadata(spec: RunSpec, version: str | None = None, frames: int | None = None,
             config: dict[str, Any] | None = None, training: dict[str, Any] | None = None,
             export_format: str = "savedmodel", **extra: Any) -> dict[str, Any]:
    """What travels with every form of a model (JSON-able): classes, rate, window and hops, features, task,
    thresholds, tfaudio version, the run spec (`run_spec`: what `tfaudio.run.spec_from_metadata` reads
    back), `training_data` (`tfaudio.run.training_summary`), the resolved experiment `config`, the form
    (`format`), and the form's interface. `extra` adds keys (quantize, front_end, select_tf_ops, check)."""
    if version is None:
        from tfaudio import __version__ as version
    plan = window_plan(spec, frames)
    meta: dict[str, Any] = {
        "tfaudio_version": version,
        "format": export_format,
        "task": spec.task,
        "classes": list(spec.classes),
        "sr": spec.sr,
        "window": plan.window,
        "window_seconds": plan.window / spec.sr,
        "hop": plan.hop,
        "hop_length": plan.hop_length,
        "frames_per_window": plan.frames if plan.activation else None,
        "frame_hop": plan.frame_hop if plan.activation else None,
        "model_input": spec.model_input,
        "compute_dtype": "float32",
        "threshold": spec.threshold,
        "thresholds": list(spec.class_thresholds()),
        "threshold_source": spec.threshold_source or ("run default" if spec.thresholds == () else ""),
        "features": to_dict(spec.features),
        "aggregation": ("overlap-add, Hann weights sin^2(pi (k + 1/2) / F), normalised" if plan.activation
                        else "mean of window probabilities"),
        "run_spec": spec.to_dict(),
        "training_data": training,
        "config": config,
    }
    if export_format == "savedmodel":
        meta["signatures"] = {
            "serving_default": {"inputs": {"waveform": "float32 [batch, samples] mono at sr"},
                                "outputs": _outputs_doc(plan.activation, wav=False)},
            "serve_wav": {"inputs": {"wav": "string [batch] WAV file bytes"},
                          "outputs": _outputs_doc(plan.activation, wav=True)},
        }
    meta.update(extra)
    return meta


def _outputs_doc(activation: bool, wav: bool) -> dict[str, str]:
    if activation:
        d = {"activations": "float32 [batch, instruments, frames] in [0, 1] (0 = -60 dB)",
             "frame_times": "float32 [frames] seconds"}
        if wav:
            d["n_frames"] = "int32 [batch] frames of each item (the rest is zero padding)"
        return d
    return {"scores": "float32 [batch, classes]", "label": "string [batch] top class"}


def _window_interface(spec: RunSpec, frames: int | None, outside: bool, output: str | None = None) -> dict[str, Any]:
    """The one-window interface of TFLite and ONNX exports (`output`: the output's name when not the key)."""
    plan = window_plan(spec, frames)
    if outside:
        inp = {"features": f"float32 [1, {spec.features.n_frames(spec.window)}, {spec.features.n_features}] "
                           f"({spec.features.kind} of one window, computed as tfaudio.features does)"}
    else:
        inp = {"window": f"float32 [1, {spec.window}] mono audio at {spec.sr} Hz"}
    key = output or _output_key(spec)
    out = ({key: f"float32 [1, {len(spec.classes)}, {plan.frames}] in [0, 1] (activations)"} if plan.activation
           else {key: f"float32 [1, {len(spec.classes)}] (class probabilities)"})
    return {"inputs": inp, "outputs": out,
            "host": "slide windows of `window` samples every `hop` samples (the last zero-padded) and stitch "
                    "them by `aggregation`, as tfaudio.inference does"}


def load_metadata(saved_model_dir: str | os.PathLike) -> dict[str, Any]:
    """The metadata.json asset of an exported SavedModel."""
    path = Path(saved_model_dir) / "assets" / "metadata.json"
    if not path.is_file():
        raise TfaudioError(f"{saved_model_dir}: not a tfaudio SavedModel (no assets/metadata.json)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise TfaudioError(f"{path}: malformed metadata ({e})") from None


def read_metadata(path: str | os.PathLike, form: str | None = None) -> dict[str, Any] | None:
    """The tfaudio metadata of an exported model (SavedModel folder, .tflite, .onnx or .keras file); None
    for a .keras file without it (a run's checkpoint). `TfaudioError` when an export has none."""
    path = Path(path)
    form = form or ("saved_model" if path.is_dir() else path.suffix.lower().lstrip("."))
    if form == "saved_model":
        return load_metadata(path)
    try:
        if form == "keras":
            with zipfile.ZipFile(path) as z:
                if KERAS_ENTRY not in z.namelist():
                    return None
                return json.loads(z.read(KERAS_ENTRY).decode("utf-8"))
        if form == "tflite":
            return _tflite_metadata(path.read_bytes(), path)
        if form == "onnx":
            return _onnx_metadata(path)
    except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError) as e:
        raise TfaudioError(f"{path}: cannot read its tfaudio metadata ({type(e).__name__}: "
                           f"{(str(e).splitlines() or [''])[0][:120]})") from None
    raise TfaudioError(f"{path}: unknown model form {form!r}")


def _dumps(meta: dict[str, Any]) -> str:
    return json.dumps(meta, indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------------------------
# the one-window function (TFLite, ONNX, the SavedModel's `windows`)


def _output_key(spec: RunSpec) -> str:
    return "activations" if spec.task == "activation" else "scores"


def _window_function(model: Any, spec: RunSpec, batch: int | None,
                     front_end: Callable[[tf.Tensor], tf.Tensor] | None = None, outside: bool = False):
    """tf.function: windows float32 `[batch, window]` (or, `outside`, features `[batch, frames, bins]`)
    -> {"activations": `(batch, instruments, F)`} or {"scores": `(batch, classes)`}."""
    key = _output_key(spec)
    if outside:
        shape, name = [batch, spec.features.n_frames(spec.window), spec.features.n_features], "features"
    else:
        shape, name = [batch, spec.window], "window"
    feats = front_end if front_end is not None else (lambda x: model_inputs(x, spec))

    def fn(x: tf.Tensor) -> dict[str, tf.Tensor]:
        if not outside:
            with tf.name_scope(FRONT_END_SCOPE):  # int8 TFLite keeps these ops in float32 (see tflite_bytes)
                x = feats(x)
        return {key: tf.cast(model(x, training=False), tf.float32)}

    return tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32, name=name)], autograph=False)


def probe_windows(spec: RunSpec, n: int = 2, seed: int = 0) -> np.ndarray:
    """`n` deterministic test windows `(n, window)` at the model's rate: tones with harmonics over noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(spec.window) / spec.sr
    out = []
    for i in range(n):
        f0 = 110.0 * 2 ** (i * 7 / 12)
        y = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) for k in range(1, 6))
        out.append(y * np.hanning(spec.window) ** 0.1 + 0.02 * rng.standard_normal(spec.window))
    return np.asarray(out, np.float32)


def _keras_outputs(model: Any, spec: RunSpec, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(model_inputs(tf.constant(x), spec), training=False), np.float32)


# --------------------------------------------------------------------------------------------
# output paths


#: The files of a SavedModel export written before exports carried a manifest (`_check_out_dir`).
_LEGACY_EXPORT = ("saved_model.pb", "fingerprint.pb", "assets/classes.txt", "assets/metadata.json",
                  "variables/variables.index")


def _legacy_export_file(rel: str) -> bool:
    return rel in _LEGACY_EXPORT or rel.startswith("variables/variables.data-")


def _check_out_dir(out: Path) -> None:
    """`out` must be new, empty, or an earlier tfaudio export holding nothing but the files its manifest
    lists (an export from before manifests: the files of a SavedModel export); that one is replaced.
    Else one line naming a file tfaudio did not write: nothing a user put there is deleted."""
    from tfaudio import outputs

    if out.exists() and not out.is_dir():
        raise outputs.OutputError(f"{out}: exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not _is_export(out):
        raise outputs.OutputError(f"{out}: exists, is not empty and holds no tfaudio SavedModel; refusing to "
                                  "overwrite it")
    foreign = outputs.foreign_entry(out, legacy=_legacy_export_file)
    if foreign is not None:
        raise outputs.OutputError(f"{out}: holds {foreign.relative_to(out)}, which tfaudio did not write (not in the "
                                  f"export's {outputs.MANIFEST}); refusing to replace the folder (move it away or "
                                  "choose another --out)")


def _is_export(folder: Path) -> bool:
    try:
        return (folder / "saved_model.pb").is_file() and "tfaudio_version" in load_metadata(folder)
    except (TfaudioError, ValueError, OSError):
        return False


def _check_out_file(out: Path, fmt: str) -> None:
    """A file export's path: new, or an earlier tfaudio export of the same format (replaced)."""
    from tfaudio import outputs

    if out.suffix.lower() != SUFFIX[fmt]:
        raise outputs.OutputError(f"{out}: a {fmt} export's file name must end in {SUFFIX[fmt]}")
    if out.is_dir():
        raise outputs.OutputError(f"{out}: is a folder; give the {SUFFIX[fmt]} file to write")
    if out.exists():
        try:
            ours = read_metadata(out, fmt) is not None
        except TfaudioError:
            ours = False
        if not ours:
            raise outputs.OutputError(f"{out}: exists and is not a tfaudio {fmt} export; refusing to overwrite it")
    outputs.output_dir(out.parent, "export's folder")


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


def _graph_model(model: Any, what: str) -> None:
    if not getattr(model, "runs_in_graph", True):  # the scikit-learn SVM: nothing to trace into a graph
        raise TfaudioError(f"{getattr(model, 'name', type(model).__name__)!r} is a {type(model).__name__} "
                           f"(scikit-learn), and {what} needs a Keras model; use `tfaudio predict` with the "
                           "run folder instead")
    if not hasattr(model, "get_config") or not hasattr(model, "inputs"):
        raise TfaudioError(f"{what} needs a Keras model, not {type(model).__name__} (export from the run folder "
                           "or .keras file)")


@contextlib.contextmanager
def _failures(out: Path, what: str) -> Iterator[None]:
    """Any failure of a conversion as one `TfaudioError` line naming `out`."""
    try:
        yield
    except TfaudioError:
        raise
    except Exception as e:  # noqa: BLE001 - a failed export is one line, and leaves nothing behind
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise TfaudioError(f"{out}: {what} failed ({type(e).__name__}: {first})") from e


# --------------------------------------------------------------------------------------------
# SavedModel


def _serving_module(model: Any, spec: RunSpec, classes_file: str, metadata_file: str,
                    batch_windows: int) -> tuple[tf.Module, dict[str, Any]]:
    """(module to save, signatures). The serving functions close over the Keras model; the module
    tracks the `tf.Variable`s those functions capture (as `keras.export.ExportArchive` does), not the
    Keras model: tracking the model's Keras variables instead saves a graph whose variables the TF1
    loaders (`saved_model_cli run`, TF Serving) cannot restore."""
    from tfaudio.audio import decode_wav, resample

    frames = check_model(model, spec)
    plan = window_plan(spec, frames or None)
    sr = spec.sr
    n = len(spec.classes)
    module = tf.Module(name="tfaudio")
    module.classes_file = tf.saved_model.Asset(classes_file)
    module.metadata_file = tf.saved_model.Asset(metadata_file)
    # the classes as constants, not read from classes.txt: a tfaudio SavedModel runs no file op (tfaudio.trust)
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
    # `tfaudio.run.open_model` runs, so a SavedModel predicts, streams and evaluates as its run does
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
    resolved experiment config) and `training` (`tfaudio.run.training_summary`) go into the metadata.
    """
    _graph_model(model, "a SavedModel")
    model = float32_model(model)  # deployed forms compute in float32 (see tfaudio.run.float32_model)
    from tfaudio import outputs

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


# --------------------------------------------------------------------------------------------
# TFLite


def _frozen(fn: Any) -> Any:
    """The concrete function of `fn` with its variables folded into constants (the TFLite converter
    drops Keras 3 variables it is handed as resources: their reads come back NaN)."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(fn.get_concrete_function())


def _flex_ops(data: bytes) -> list[str]:
    """Custom (select TF, "Flex...") ops of a TFLite model."""
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.Model.GetRootAsModel(data, 0)
    names = set()
    for i in range(m.OperatorCodesLength()):
        code = m.OperatorCodes(i).CustomCode()
        if code:
            names.add(code.decode())
    return sorted(names)


def _scope_nodes(data: bytes, scope: str) -> list[str]:
    """Names of the TFLite ops (their output tensors) that come from TF name scope `scope`."""
    from tensorflow.lite.python import schema_py_generated as schema

    g = schema.Model.GetRootAsModel(data, 0).Subgraphs(0)
    names = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        outs = [g.Tensors(op.Outputs(j)).Name().decode() for j in range(op.OutputsLength())]
        if any(f"{scope}/" in n for n in outs):
            names += outs
    return names


def _tflite_with_metadata(data: bytes, meta: dict[str, Any]) -> bytes:
    """`data` with `meta` as its "tfaudio" metadata buffer (replacing an earlier one)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    buf = schema.BufferT()
    buf.data = np.frombuffer(json.dumps(meta, sort_keys=True).encode("utf-8"), np.uint8)
    model.buffers = list(model.buffers or []) + [buf]
    entry = schema.MetadataT()
    entry.name = METADATA_KEY
    entry.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name not in (METADATA_KEY, METADATA_KEY.encode())]
    model.metadata.append(entry)
    b = flatbuffers.Builder(len(data) + 4096)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _tflite_metadata(data: bytes, where: Any = "") -> dict[str, Any]:
    from tensorflow.lite.python import schema_py_generated as schema

    if len(data) < 8 or data[4:8] != b"TFL3":  # the flatbuffer's file identifier
        raise TfaudioError(f"{where}: not a readable TFLite model (no TFL3 identifier)")
    try:
        m = schema.Model.GetRootAsModel(data, 0)
        for i in range(m.MetadataLength()):
            entry = m.Metadata(i)
            if entry.Name() == METADATA_KEY.encode():
                return json.loads(m.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode("utf-8"))
    except Exception as e:  # noqa: BLE001 - a damaged flatbuffer fails in many ways (struct.error, ...)
        raise TfaudioError(f"{where}: not a readable TFLite model ({type(e).__name__})") from None
    raise TfaudioError(f"{where}: a TFLite model without tfaudio metadata (not written by tfaudio export)")


def _interpreter(data: bytes, flex: bool = False) -> Any:
    """A LiteRT interpreter of model bytes: `ai_edge_litert` (pip install ai-edge-litert) when installed
    and the model has builtin ops only, else TensorFlow's own `tf.lite.Interpreter` (which also runs
    select TF ops)."""
    from tfaudio.headers import quiet_stderr

    with quiet_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        if not flex:
            try:
                from ai_edge_litert.interpreter import Interpreter

                return Interpreter(model_content=data)
            except ImportError:
                pass
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            return tf.lite.Interpreter(model_content=data)


def calibration_windows(spec: RunSpec, paths: Sequence[str | os.PathLike] = (), config: dict[str, Any] | None = None,
                        n: int = 128, seed: int = 0) -> np.ndarray:
    """Audio windows `(m, window)` at `spec.sr` for int8 calibration: cut (without overlap) from `paths`
    (audio files or folders of them), else from the training split of the run's data (`config`), keeping
    windows above -60 dBFS RMS; at most `n`, spread over the files."""
    from tfaudio.audio import load
    from tfaudio.datasets import AUDIO_EXTENSIONS

    files: list[str] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS)
        elif p.is_file():
            files.append(str(p))
        else:
            raise TfaudioError(f"{p}: calibration audio not found")
    if not paths:
        if not config:
            raise TfaudioError("int8 quantization needs calibration audio: give --calibration FILES_OR_FOLDER "
                               "(this model carries no training config to take its training split from)")
        from tfaudio.experiment import experiment_from_dict
        from tfaudio.train import split_records

        files = [r.path for r in split_records(experiment_from_dict(config), "training")]
    if not files:
        raise TfaudioError(f"no calibration audio files found ({', '.join(sorted(AUDIO_EXTENSIONS))})")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(files))[: max(1, min(len(files), n))]
    per_file = max(1, -(-n // len(order)))
    windows: list[np.ndarray] = []
    for k in order:
        y, _ = load(files[k], sr=spec.sr)
        for s in range(0, max(1, len(y) - spec.window + 1), spec.window)[:per_file]:
            w = np.pad(y[s:s + spec.window], (0, max(0, spec.window - len(y[s:s + spec.window]))))
            if np.sqrt(np.mean(w.astype(np.float64) ** 2)) > 1e-3:
                windows.append(w.astype(np.float32))
        if len(windows) >= n:
            break
    if not windows:
        raise TfaudioError("the calibration audio has no window above -60 dBFS")
    return np.stack(windows[:n])


@contextlib.contextmanager
def _quiet_converter() -> Iterator[None]:
    """The converter's own log lines (a failed builtin-only attempt logs every op it misses) and warnings
    kept off stderr: what matters is said in one line by tfaudio."""
    loggers = [logging.getLogger(n) for n in ("tensorflow", "absl", "tf2onnx")]
    levels = [q.level for q in loggers]
    for q in loggers:
        q.setLevel(logging.CRITICAL)
    from tfaudio.headers import quiet_stderr

    try:
        with warnings.catch_warnings(), quiet_stderr():  # the MLIR converter prints to fd 2 itself
            warnings.simplefilter("ignore")
            yield
    finally:
        for q, level in zip(loggers, levels):
            q.setLevel(level)


def tflite_bytes(model: Any, spec: RunSpec, quantize: str = "none", calibration: np.ndarray | None = None,
                 outside: bool = False) -> tuple[bytes, dict[str, Any]]:
    """A TFLite model of one window (features inside; `outside`: the network alone, on one window's
    features) and what its conversion needed: {"select_tf_ops": bool, "flex_ops": [...]}. Builtin ops are
    tried first; select TF ops only where they fail. "int8" calibrates on `calibration` windows."""
    if quantize not in QUANTIZE:
        raise TfaudioError(f"unknown quantization {quantize!r}; choose one of {list(QUANTIZE)}")
    if quantize == "int8" and (calibration is None or not len(calibration)):
        raise TfaudioError("int8 quantization needs calibration windows")
    frozen = _frozen(_window_function(model, spec, 1, outside=outside))
    if quantize == "int8" and outside:
        calibration = model_inputs(tf.constant(calibration), spec).numpy()
    name = "features" if outside else "window"

    def converter(select: bool, q: str) -> Any:
        conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen], tf.Module())
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + (
            [tf.lite.OpsSet.SELECT_TF_OPS] if select else [])
        if q != "none":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if q == "float16":
            conv.target_spec.supported_types = [tf.float16]
        if q == "int8":
            conv.representative_dataset = lambda: ({name: w[None]} for w in calibration)
        return conv

    def convert(select: bool) -> bytes:
        with _quiet_converter():
            if quantize == "int8" and not outside and not select:
                # int8 spectra lose the 60-dB range the model reads (measured: frame F1 0.48 -> 0.11 on the
                # seed model): the network goes int8, its feature front end stays float32
                keep = _scope_nodes(converter(False, "none").convert(), FRONT_END_SCOPE)
                debugger = tf.lite.experimental.QuantizationDebugger(
                    converter=converter(False, "int8"),
                    debug_dataset=lambda: ({name: w[None]} for w in calibration[:4]),
                    debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep))
                return debugger.get_nondebug_quantized_model()
            return converter(select, quantize).convert()

    try:
        data = convert(False)
        return data, {"select_tf_ops": False, "flex_ops": []}
    except Exception as e:  # noqa: BLE001 - ConverterError: an op without a builtin kernel
        log.info("builtin TFLite ops do not cover this model (%s); converting with select TF ops",
                 (str(e).splitlines() or [""])[0][:160])
    data = convert(True)
    return data, {"select_tf_ops": True, "flex_ops": _flex_ops(data)}


QUANTIZATION = {
    "none": "float32",
    "float16": "float16 weights, float32 compute",
    "dynamic": "int8 weights (dynamic range quantization), float32 activations",
    "int8": "int8 weights and activations of the network, calibrated; the feature front end in float32; "
            "float32 input and output",
}


def export_tflite(model: Any, spec: RunSpec, out: str | os.PathLike, quantize: str = "none",
                  calibration: np.ndarray | None = None, config: dict[str, Any] | None = None,
                  training: dict[str, Any] | None = None, version: str | None = None,
                  calibration_source: str = "") -> Path:
    """Write a TFLite model of one window (features inside, see the module doc) to `out` (.tflite).

    `quantize`: one of `QUANTIZE`; "int8" needs `calibration` windows `(m, window)` (see
    `calibration_windows`). The metadata records the quantization, whether select TF ops are needed, and
    the largest difference from the Keras model on `probe_windows` ("check"). When the model with its
    front end inside does not run under LiteRT here (e.g. the CQT's non-power-of-two FFTs: TFLite's RFFT2D
    takes powers of two only) or, unquantized, differs from Keras by more than 1e-4, the network alone
    is exported ("front_end": "outside": its input is one window's features)."""
    _graph_model(model, "a TFLite export")
    model = float32_model(model)  # deployed forms compute in float32 (see tfaudio.run.float32_model)
    out = Path(out).absolute()
    _check_out_file(out, "tflite")
    frames = check_model(model, spec) or None
    audio_in = spec.model_input == "audio" or spec.features.kind == "none"
    note = "audio in" if audio_in else f"{spec.features.kind} inside"
    with _failures(out, "TFLite conversion"):
        data, ops = tflite_bytes(model, spec, quantize, calibration)
        check = _check(_tflite_runner(data, spec, ops, False), model, spec)
        problem = check.get("error") or (
            f"differs from Keras by {check['max_abs_diff']:.2g}"
            if quantize == "none" and check["max_abs_diff"] > 1e-4 else None)
        outside = problem is not None and not audio_in
        if outside:
            log.warning("%s: the TFLite model with the %s front end inside does not run here (%s); exporting the "
                        "network alone", out, spec.features.kind, problem[:160])
            note = (f"the {spec.features.kind} front end does not run in LiteRT ({problem[:160]}); the network "
                    f"alone: compute its input with tfaudio.features ({spec.features.kind}, see 'features'), "
                    "one window at a time")
            data, ops = tflite_bytes(model, spec, quantize, calibration, outside=True)
            check = _check(_tflite_runner(data, spec, ops, True), model, spec)
    front = ("builtin ops only" if not ops["select_tf_ops"] else
             f"needs select TF ops {ops['flex_ops']}: run it with TensorFlow's tf.lite.Interpreter "
             "(ai-edge-litert has no select TF ops)")
    meta = metadata(spec, version, frames, config=config, training=training, export_format="tflite",
                    quantize=quantize, quantization=QUANTIZATION[quantize] + (
                        f" (on {len(calibration)} windows of {calibration_source or 'the given audio'})"
                        if quantize == "int8" else ""),
                    front_end="outside" if outside else "inside", front_end_note=note,
                    front_end_ops=front, check=check, interface=_window_interface(spec, frames, outside, "output_0"),
                    runtime="ai-edge-litert (LiteRT)" if not ops["select_tf_ops"] else "tensorflow (tf.lite.Interpreter)",
                    **ops)
    from tfaudio import outputs

    outputs.write_bytes(out, _tflite_with_metadata(data, meta))
    log.info("wrote %s (%.2f MB, %s, %s)", out, out.stat().st_size / 2**20, quantize, front)
    return out


def _tflite_runner(data: bytes, spec: RunSpec, ops: dict[str, Any], outside: bool
                   ) -> Callable[[np.ndarray], np.ndarray]:
    """Windows `(m, window)` -> outputs, through a TFLite model (its features computed here when `outside`)."""
    def run(x: np.ndarray) -> np.ndarray:  # the interpreter is made here, so that `_check` records its failure
        runner = TFLiteRunner(data, spec, {"front_end": "outside" if outside else "inside"}, flex=ops["select_tf_ops"])
        return runner(model_inputs(tf.constant(x), spec).numpy() if outside else x)

    return run


def _check(run: Callable[[np.ndarray], np.ndarray], model: Any, spec: RunSpec) -> dict[str, Any]:
    """The largest difference of an export (`run`: windows -> outputs) from its Keras model on
    `probe_windows`; "max_abs_diff" None and "error" when it does not run here."""
    x = probe_windows(spec)
    try:
        got = np.asarray(run(x), np.float32)
    except Exception as e:  # noqa: BLE001 - a runtime missing here is recorded, not fatal
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        return {"max_abs_diff": None, "probe": f"{len(x)} tone+noise windows", "error": first}
    diff = float(np.max(np.abs(got - _keras_outputs(model, spec, x))))
    return {"max_abs_diff": diff, "probe": f"{len(x)} tone+noise windows", "against": "the Keras model"}


# --------------------------------------------------------------------------------------------
# ONNX


def onnx_front_end(features: FeatureConfig) -> Callable[[tf.Tensor], tf.Tensor] | None:
    """The features of `features` in ops tf2onnx converts (None where there are none: CQT).

    tf2onnx converts an RFFT only when its consumer is ComplexAbs, so mel power is |STFT| squared
    (`tfaudio.features.melspectrogram` takes re² + im²): equal to float rounding."""
    from tfaudio.features import power_to_db, stft_magnitude

    fc = features
    if fc.kind == "stft":
        return fc.compute  # |STFT| is ComplexAbs already
    if fc.kind not in ("mel", "log_mel", "log10_mel", "mfcc"):
        return None
    import librosa
    import scipy.fft

    M = librosa.filters.mel(sr=fc.sr, n_fft=fc.n_fft, n_mels=fc.n_mels, fmin=fc.fmin, fmax=fc.fmax, htk=False,
                            norm="slaney", dtype=np.float32).T  # (bins, n_mels)
    D = scipy.fft.dct(np.eye(fc.n_mels), type=2, norm="ortho", axis=0)[: fc.n_mfcc].T.astype(np.float32)

    def front(x: tf.Tensor) -> tf.Tensor:
        mel = tf.tensordot(tf.square(stft_magnitude(x, fc.n_fft, fc.hop_length)), tf.constant(M), axes=1)
        if fc.kind == "mel":
            return mel
        if fc.kind == "log_mel":
            return power_to_db(mel, top_db=fc.top_db)
        if fc.kind == "log10_mel":
            return tf.math.log(10000.0 * mel + 1.0) / np.log(10.0)  # tfaudio.features.log10_mel (ONNX has no Log1p)
        return tf.tensordot(power_to_db(mel, top_db=80.0), tf.constant(D), axes=1)  # as FeatureConfig.compute

    return front


def _network_alone(model: Any, spec: RunSpec) -> tuple[Any, RunSpec]:
    """An audio-in model's network after its feature layer ("frontend") and the spec of a features-in model,
    so that ONNX gets the features in convertible ops (`onnx_front_end`); other models as they are."""
    if spec.model_input != "audio" or spec.features.kind == "none" or onnx_front_end(spec.features) is None:
        return model, spec
    try:
        layer = model.get_layer("frontend")
    except ValueError:
        return model, spec
    import keras

    return keras.Model(layer.output, model.outputs[0]), dataclasses.replace(spec, model_input="features")


def _onnx_model(fn: Any, shape: list[int], name: str) -> Any:
    import tf2onnx

    with _quiet_converter():
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=[tf.TensorSpec(shape, tf.float32, name=name)],
                                                 opset=ONNX_OPSET)
    return proto


def _onnx_session(data: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_bytes(model: Any, spec: RunSpec) -> tuple[bytes, dict[str, Any]]:
    """An ONNX model of one window and {"front_end": "inside" | "outside", "front_end_note": ...}.

    The features go inside where `onnx_front_end` has them and the result runs in onnxruntime within
    1e-4 of the Keras model; otherwise the network alone (input: one window's features)."""
    try:
        import tf2onnx  # noqa: F401
    except ImportError:
        raise TfaudioError("ONNX export needs tf2onnx (pip install tf2onnx onnxruntime, or "
                           "pip install -e \".[deploy]\")") from None
    model, spec = _network_alone(model, spec)
    inside = spec.model_input == "audio" or spec.features.kind == "none"
    front = None if inside else onnx_front_end(spec.features)
    note = ""
    if inside or front is not None:
        fn = _window_function(model, spec, 1, front_end=front)
        proto = _onnx_model(fn, [1, spec.window], "window")
        data = proto.SerializeToString()
        problem = _onnx_problem(data, model, spec, outside=False)
        if problem is None:
            return data, {"front_end": "inside", "front_end_note": "audio in" if inside else
                          f"{spec.features.kind} inside (|STFT| via tf2onnx's DFT, squared for power)"}
        note = f"the {spec.features.kind} front end did not convert ({problem}); "
        log.warning("%sexporting the network alone", note)
    else:
        note = f"tf2onnx converts no {spec.features.kind} front end (complex spectra beyond |RFFT|); "
    fn = _window_function(model, spec, 1, outside=True)
    proto = _onnx_model(fn, [1, spec.features.n_frames(spec.window), spec.features.n_features], "features")
    data = proto.SerializeToString()
    problem = _onnx_problem(data, model, spec, outside=True)
    if problem is not None:
        raise TfaudioError(f"the ONNX conversion of the network does not run: {problem}")
    return data, {"front_end": "outside",
                  "front_end_note": note + "the network alone: compute its input with tfaudio.features "
                                           f"({spec.features.kind}, see 'features'), one window at a time"}


def _onnx_problem(data: bytes, model: Any, spec: RunSpec, outside: bool) -> str | None:
    """Why an ONNX model is not usable (None if it is): it must load (onnxruntime, else the onnx checker)
    and match the Keras model within 1e-4 on `probe_windows`."""
    try:
        sess = _onnx_session(data)
    except ImportError:
        import onnx

        try:
            onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
        except Exception as e:  # noqa: BLE001
            return (str(e).splitlines() or [""])[0][:160]
        return None
    except Exception as e:  # noqa: BLE001 - unsupported ops make an invalid graph, not an exception at conversion
        return (str(e).splitlines() or [""])[0][:200]
    x = probe_windows(spec)
    name = sess.get_inputs()[0].name
    feats = model_inputs(tf.constant(x), spec).numpy() if outside else x
    got = np.concatenate([sess.run(None, {name: f[None]})[0] for f in feats])
    diff = float(np.max(np.abs(got - _keras_outputs(model, spec, x))))
    return None if diff <= 1e-4 else f"outputs differ from the Keras model by {diff:.2g}"


def _onnx_metadata(path: Path) -> dict[str, Any]:
    try:
        import onnx

        m = onnx.load(str(path), load_external_data=False)
        props = {p.key: p.value for p in m.metadata_props}
    except ImportError:
        try:
            props = dict(_onnx_session(path.read_bytes()).get_modelmeta().custom_metadata_map)
        except ImportError:
            raise TfaudioError(f"{path}: reading an ONNX model needs onnx or onnxruntime "
                               "(pip install onnxruntime)") from None
    except Exception as e:  # noqa: BLE001 - not a protobuf: one line
        raise TfaudioError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
    if METADATA_KEY not in props:
        raise TfaudioError(f"{path}: an ONNX model without tfaudio metadata (not written by tfaudio export)")
    return json.loads(props[METADATA_KEY])


def export_onnx(model: Any, spec: RunSpec, out: str | os.PathLike, config: dict[str, Any] | None = None,
                training: dict[str, Any] | None = None, version: str | None = None) -> Path:
    """Write an ONNX model of one window to `out` (.onnx) through tf2onnx (see `onnx_bytes`)."""
    _graph_model(model, "an ONNX export")
    model = float32_model(model)  # deployed forms compute in float32 (see tfaudio.run.float32_model)
    out = Path(out).absolute()
    _check_out_file(out, "onnx")
    frames = check_model(model, spec) or None
    with _failures(out, "ONNX conversion"):
        data, info = onnx_bytes(model, spec)
    import onnx

    outside = info["front_end"] == "outside"
    try:
        runner = ONNXRunner(data, spec, info)
        check = _check(lambda x: runner(model_inputs(tf.constant(x), spec).numpy() if outside else x), model, spec)
    except TfaudioError:  # no onnxruntime here
        check = {"max_abs_diff": None, "error": "onnxruntime is not installed"}
    meta = metadata(spec, version, frames, config=config, training=training, export_format="onnx",
                    check=check, interface=_window_interface(spec, frames, outside), opset=ONNX_OPSET,
                    converter=f"tf2onnx {_version('tf2onnx')}", **info)
    proto = onnx.load_from_string(data)
    del proto.metadata_props[:]
    proto.metadata_props.add(key=METADATA_KEY, value=json.dumps(meta, sort_keys=True))
    proto.metadata_props.add(key="classes", value="\n".join(spec.classes))
    proto.producer_name = "tfaudio"
    proto.doc_string = (f"tfaudio {meta['tfaudio_version']} {spec.task} model: one window of {spec.window} samples "
                        f"at {spec.sr} Hz; metadata_props['tfaudio'] holds the metadata")
    from tfaudio import outputs

    outputs.write_bytes(out, proto.SerializeToString())
    log.info("wrote %s (%.2f MB, front end %s)", out, out.stat().st_size / 2**20, info["front_end"])
    return out


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------------------------
# .keras


def export_keras(model: Any, spec: RunSpec, out: str | os.PathLike, config: dict[str, Any] | None = None,
                 training: dict[str, Any] | None = None, version: str | None = None) -> Path:
    """Write `model` as a .keras file carrying the metadata (zip entry `tfaudio.json`), so that it loads
    on its own (`tfaudio predict MODEL.keras`); Keras itself ignores the entry."""
    _graph_model(model, "a .keras export")
    model = float32_model(model)  # deployed forms compute in float32 (see tfaudio.run.float32_model)
    from tfaudio import outputs

    out = Path(out).absolute()
    _check_out_file(out, "keras")
    frames = check_model(model, spec) or None
    meta = metadata(spec, version, frames, config=config, training=training, export_format="keras",
                    front_end="inside the model" if spec.model_input == "audio" else "outside: tfaudio.features")
    def save(path: Path) -> None:
        model.save(path)
        with zipfile.ZipFile(path, "a") as z:
            z.writestr(KERAS_ENTRY, _dumps(meta))

    with _failures(out, ".keras export"):
        outputs.atomic_write(out, save)
    return out


# --------------------------------------------------------------------------------------------
# one entry point (the command line's)


def export(model: str | os.PathLike, out: str | os.PathLike, fmt: str = "savedmodel", quantize: str = "none",
           which: str = "best", calibration: Sequence[str | os.PathLike] = ()) -> tuple[Path, dict[str, Any]]:
    """`tfaudio export`: the model `model` (a run folder, pretrained name or .keras file; see
    `tfaudio.run.open_model`) in format `fmt` at `out`; returns (path, metadata)."""
    from tfaudio.run import model_form, open_model

    if fmt not in FORMATS:
        raise TfaudioError(f"unknown export format {fmt!r}; choose one of {list(FORMATS)}")
    if quantize not in QUANTIZE:
        raise TfaudioError(f"unknown quantization {quantize!r}; choose one of {list(QUANTIZE)}")
    if quantize != "none" and fmt != "tflite":
        raise TfaudioError(f"--quantize applies to --format tflite, not {fmt}")
    if calibration and quantize != "int8":
        raise TfaudioError("--calibration applies to --quantize int8")
    form = model_form(model)
    if form in ("saved_model", "tflite", "onnx"):  # refused before anything of it loads
        raise TfaudioError(f"{model}: is already an export ({form}); export from its run folder, .keras file "
                           "or pretrained name")
    with contextlib.ExitStack() as stack:
        if form == "run":  # a train or --resume of the run must not change it while it is exported
            from tfaudio import outputs
            from tfaudio.run import run_lock

            try:
                stack.enter_context(run_lock(model, "export", create=False))
            except outputs.OutputError:  # a read-only run folder: no one trains into it either
                log.debug("%s: read-only; exporting without its lock", model)
        return _export(open_model(model, which), out, fmt, quantize, calibration)


def _export(loaded: Any, out: str | os.PathLike, fmt: str, quantize: str,
            calibration: Sequence[str | os.PathLike]) -> tuple[Path, dict[str, Any]]:
    kw = dict(config=loaded.config, training=loaded.metadata.get("training_data"))
    if fmt == "savedmodel":
        path = export_saved_model(loaded.model, loaded.spec, out, **kw)
        return path, load_metadata(path)
    out = Path(out)
    if fmt == "tflite":
        cal = (calibration_windows(loaded.spec, calibration, loaded.config) if quantize == "int8" else None)
        source = (", ".join(str(c) for c in calibration) if calibration else "the run's training split")
        path = export_tflite(loaded.model, loaded.spec, out, quantize, cal, calibration_source=source, **kw)
    elif fmt == "onnx":
        path = export_onnx(loaded.model, loaded.spec, out, **kw)
    else:
        path = export_keras(loaded.model, loaded.spec, out, **kw)
    return path, read_metadata(path, fmt)


# --------------------------------------------------------------------------------------------
# running an export (what `tfaudio.run.open_model` returns for it)


@dataclasses.dataclass(frozen=True)
class _Shape:
    shape: tuple


class _Runner:
    """An exported model called like the Keras model `tfaudio.inference.Predictor` takes: `runner(x)` on
    a batch of windows `(m, window)` (features `(m, frames, bins)` when the front end is outside) ->
    numpy outputs `(m, instruments, F)` or `(m, classes)`; `inputs` / `outputs` carry the shapes."""

    runs_in_graph = False

    def __init__(self, spec: RunSpec, meta: dict[str, Any], name: str):
        self.name = name
        plan = window_plan(spec, meta.get("frames_per_window"))
        self.outside = meta.get("front_end") == "outside"
        if self.outside:
            self.inputs = [_Shape((None, spec.features.n_frames(spec.window), spec.features.n_features))]
        else:
            self.inputs = [_Shape((None, spec.window))]
        n = len(spec.classes)
        self.outputs = [_Shape((None, n, plan.frames) if plan.activation else (None, n))]
        self.key = _output_key(spec)

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if not len(x):
            return np.zeros((0, *self.outputs[0].shape[1:]), np.float32)
        return np.concatenate([self._run_one(x[i:i + 1]) for i in range(len(x))]).astype(np.float32)


class SavedModelRunner(_Runner):
    """A SavedModel from `export_saved_model`: its `windows` function (batched), or for exports older than
    it, `serving_default` on each window as a waveform of its own (one window: the same outputs).
    Unless `trust`, `tfaudio.trust.check_saved_model` reads it first and refuses ops the exporter never
    writes, before anything of it runs."""

    def __init__(self, path: str | os.PathLike, spec: RunSpec, meta: dict[str, Any], trust: bool = False):
        super().__init__(spec, meta, Path(path).name)
        if not trust:  # a SavedModel is a program: read it as data first (tfaudio.trust)
            from tfaudio.trust import check_saved_model

            check_saved_model(path)
        self._loaded = tf.saved_model.load(str(path))
        self._windows = getattr(self._loaded, "windows", None)
        self._serve = self._loaded.signatures["serving_default"]

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if self._windows is not None:
            return self._windows(tf.constant(x))[self.key].numpy()
        return super().__call__(x)

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        out = self._serve(waveform=tf.constant(x))[self.key].numpy()
        return out[..., : self.outputs[0].shape[-1]] if self.key == "activations" else out


class TFLiteRunner(_Runner):
    """A .tflite export run by LiteRT (`ai_edge_litert`; TensorFlow's interpreter for select TF ops)."""

    def __init__(self, data: bytes, spec: RunSpec, meta: dict[str, Any] | None = None, flex: bool | None = None,
                 name: str = "model.tflite"):
        meta = meta if meta is not None else {"front_end": "inside"}
        super().__init__(spec, meta, name)
        flex = bool(meta.get("select_tf_ops")) if flex is None else flex
        from tfaudio.headers import quiet_stderr

        self.interpreter = _interpreter(data, flex)
        with quiet_stderr():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            self._runner = self.interpreter.get_signature_runner()
            self._runner(**{"features" if self.outside else "window": np.zeros(self.inputs[0].shape[1:], np.float32)[None]})
        self._input = "features" if self.outside else "window"

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        out = self._runner(**{self._input: np.ascontiguousarray(x, np.float32)})
        return np.asarray(out[self.key] if self.key in out else next(iter(out.values())))  # frozen: "output_0"


class ONNXRunner(_Runner):
    """An .onnx export run by onnxruntime."""

    def __init__(self, data: bytes, spec: RunSpec, meta: dict[str, Any], name: str = "model.onnx"):
        super().__init__(spec, meta, name)
        try:
            self.session = _onnx_session(data)
        except ImportError:
            raise TfaudioError(f"{name}: running an ONNX model needs onnxruntime (pip install onnxruntime)") from None
        self._input = self.session.get_inputs()[0].name

    def _run_one(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: np.ascontiguousarray(x, np.float32)})[0]


def load_exported(path: str | os.PathLike, form: str,
                  trust: bool = False) -> tuple[_Runner, RunSpec, dict[str, Any]]:
    """(runner, spec for inference, metadata) of an export: a SavedModel folder, .tflite or .onnx file.
    The spec's `model_input` is "audio" when the export computes its features inside (it takes audio).
    A SavedModel is checked by `tfaudio.trust.check_saved_model` before it loads, unless `trust`."""
    path = Path(path)
    meta = read_metadata(path, form)
    if meta is None:
        raise TfaudioError(f"{path}: no tfaudio metadata")
    spec = spec_from_metadata(meta, path)
    if meta.get("front_end", "inside") != "outside":
        spec = dataclasses.replace(spec, model_input="audio")
    try:
        if form == "saved_model":
            runner: _Runner = SavedModelRunner(path, spec, meta, trust=trust)
        elif form == "tflite":
            runner = TFLiteRunner(path.read_bytes(), spec, meta, name=path.name)
        else:
            runner = ONNXRunner(path.read_bytes(), spec, meta, name=path.name)
    except TfaudioError:
        raise
    except Exception as e:  # noqa: BLE001 - a damaged export is one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise TfaudioError(f"{path}: cannot load this {form} export: {first}") from None
    return runner, spec, meta


def latency(model: Any, spec: RunSpec, repeats: int = 50, warmup: int = 5) -> dict[str, float]:
    """Seconds per window of `model` (a Keras model or a runner; features included), one window a call:
    {"median_ms", "p90_ms", "repeats"}."""
    from tfaudio.inference import predictor

    p = predictor(model, spec, 1)
    x = probe_windows(spec, 1)
    for _ in range(warmup):
        p.windows(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        p.windows(x)
        times.append(time.perf_counter() - t)
    return {"median_ms": float(np.median(times) * 1e3), "p90_ms": float(np.percentile(times, 90) * 1e3),
            "repeats": repeats}
