"""The TFLite export: builtin ops, optional float16 / dynamic / int8 quantization calibrated on audio."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from tfaudio.errors import TfaudioError
from tfaudio.inference import check_model, model_inputs
from tfaudio.spec import RunSpec
from tfaudio.deploy.loading import float32_model
from tfaudio.deploy.metadata import METADATA_KEY, _window_interface, metadata
from tfaudio.deploy.runners import _tflite_runner
from tfaudio.deploy.writing import FRONT_END_SCOPE, _quiet_converter, _check, _check_out_file, _failures, _graph_model, _window_function
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
from tfaudio.data.records import AUDIO_EXTENSIONS
from tfaudio.io import outputs
from tfaudio.io.audio import load

log = logging.getLogger(__name__)
#: `--quantize` choices (TFLite): none, float16 weights, dynamic-range int8 weights, int8 weights and
#: activations calibrated on audio windows (float where a kernel has no int8 version; float in and out).
QUANTIZE = ("none", "float16", "dynamic", "int8")


# --------------------------------------------------------------------------------------------
# TFLite


def _frozen(fn: Any) -> Any:
    """The concrete function of `fn` with its variables folded into constants (the TFLite converter
    drops Keras 3 variables it is handed as resources: their reads come back NaN)."""
    return convert_variables_to_constants_v2(fn.get_concrete_function())


def _flex_ops(data: bytes) -> list[str]:
    """Custom (select TF, "Flex...") ops of a TFLite model."""
    m = schema.Model.GetRootAsModel(data, 0)
    names = set()
    for i in range(m.OperatorCodesLength()):
        code = m.OperatorCodes(i).CustomCode()
        if code:
            names.add(code.decode())
    return sorted(names)


def _scope_nodes(data: bytes, scope: str) -> list[str]:
    """Names of the TFLite ops (their output tensors) that come from TF name scope `scope`."""
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


def calibration_windows(spec: RunSpec, paths: Sequence[str | os.PathLike] = (), config: dict[str, Any] | None = None,
                        n: int = 128, seed: int = 0) -> np.ndarray:
    """Audio windows `(m, window)` at `spec.sr` for int8 calibration: cut (without overlap) from `paths`
    (audio files or folders of them), else from the training split of the run's data (`config`), keeping
    windows above -60 dBFS RMS; at most `n`, spread over the files."""
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
        from tfaudio.data.sources import split_records

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
    model = float32_model(model)  # deployed forms compute in float32 (see tfaudio.deploy.loading.float32_model)
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

    outputs.write_bytes(out, _tflite_with_metadata(data, meta))
    log.info("wrote %s (%.2f MB, %s, %s)", out, out.stat().st_size / 2**20, quantize, front)
    return out
