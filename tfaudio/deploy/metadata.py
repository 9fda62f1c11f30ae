"""The metadata that travels inside every saved form: written (`metadata`) and read from any form
(`read_metadata`: SavedModel assets, TFLite buffer, ONNX metadata_props, .keras zip entry).
"""
from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import tensorflow as tf

from tfaudio.config import to_dict
from tfaudio.errors import TfaudioError
from tfaudio.inference import window_plan
from tfaudio.spec import RunSpec
from importlib.metadata import PackageNotFoundError, version
from tensorflow.lite.python import schema_py_generated as schema
from tfaudio.io.headers import quiet_stderr
#: Where the metadata sits: TFLite metadata name, ONNX metadata_props key; `tfaudio.json` in a .keras zip.
METADATA_KEY = "tfaudio"
KERAS_ENTRY = "tfaudio.json"


# --------------------------------------------------------------------------------------------
# metadata


def metadata(spec: RunSpec, version: str | None = None, frames: int | None = None,
             config: dict[str, Any] | None = None, training: dict[str, Any] | None = None,
             export_format: str = "savedmodel", **extra: Any) -> dict[str, Any]:
    """What travels with every form of a model (JSON-able): classes, rate, window and hops, features, task,
    thresholds, tfaudio version, the run spec (`run_spec`: what `tfaudio.spec.spec_from_metadata` reads
    back), `training_data` (`tfaudio.deploy.loading.training_summary`), the resolved experiment `config`, the form
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


def _tflite_metadata(data: bytes, where: Any = "") -> dict[str, Any]:
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
    with quiet_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        if not flex:
            try:
                from ai_edge_litert.interpreter import Interpreter  # lazy: optional: TFLite models only

                return Interpreter(model_content=data)
            except ImportError:
                pass
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            return tf.lite.Interpreter(model_content=data)


def _onnx_session(data: bytes) -> Any:
    import onnxruntime as ort  # lazy: optional: ONNX models only

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def _onnx_metadata(path: Path) -> dict[str, Any]:
    try:
        import onnx  # lazy: optional: the ONNX export only

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


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"
