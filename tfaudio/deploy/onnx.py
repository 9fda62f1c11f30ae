"""The ONNX export (tf2onnx), with the features inside in ops ONNX converts (`onnx_front_end`)."""
from __future__ import annotations

import logging

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from tfaudio.config import FeatureConfig
from tfaudio.features import power_to_db, stft_magnitude
from tfaudio.features.registry import KINDS
from tfaudio.features.spectral import dct_matrix, mel_matrix
from tfaudio.errors import TfaudioError
from tfaudio.inference import check_model, model_inputs
from tfaudio.spec import RunSpec
from tfaudio.deploy.loading import float32_model
from tfaudio.deploy.metadata import METADATA_KEY, _onnx_session, _version, _window_interface, metadata
from tfaudio.deploy.runners import ONNXRunner
from tfaudio.deploy.writing import _quiet_converter, _check, _check_out_file, _failures, _graph_model, _keras_outputs, _window_function, probe_windows
from tfaudio.io import outputs

log = logging.getLogger(__name__)
#: ONNX opset of the exports (onnxruntime >= 1.13).
ONNX_OPSET = 17


# --------------------------------------------------------------------------------------------
# ONNX


def onnx_front_end(features: FeatureConfig) -> Callable[[tf.Tensor], tf.Tensor] | None:
    """The features of `features` in ops tf2onnx converts (None where there are none: CQT).

    tf2onnx converts an RFFT only when its consumer is ComplexAbs, so mel power is |STFT| squared
    (`tfaudio.features.melspectrogram` takes re² + im²): equal to float rounding. The mel filterbank and the
    DCT are the features' own (`mel_matrix`, `dct_matrix`), with their arguments and defaults."""
    feature = features.feature()
    if feature is None or features.kind not in ("stft", "mel", "log_mel", "log10_mel", "mfcc"):
        return None
    name, given = feature
    if features.kind == "stft":
        return features.compute  # |STFT| is ComplexAbs already
    args = KINDS[name].args(**given)  # every argument, the defaults included
    M = mel_matrix(args["sr"], args["n_fft"], args["n_mels"], args["fmin"], args["fmax"], args["htk"],
                   args["mel_norm" if name == "mfcc" else "norm"])  # numpy: made a constant inside the graph

    def front(x: tf.Tensor) -> tf.Tensor:
        mel = tf.tensordot(tf.square(stft_magnitude(x, args["n_fft"], args["hop_length"])), tf.constant(M), axes=1)
        if name == "melspectrogram":
            return mel
        if name == "log_mel":
            return power_to_db(mel, args["ref"], args["amin"], args["top_db"])
        if name == "log10_mel":  # tfaudio.features.log10_mel (ONNX has no Log1p)
            return tf.math.log(args["gain"] * mel + 1.0) / np.log(10.0)
        D = dct_matrix(args["n_mels"], args["n_mfcc"], args["dct_type"], args["norm"], args["lifter"])
        return tf.tensordot(power_to_db(mel, top_db=args["top_db"]), tf.constant(D), axes=1)  # tfaudio.features.mfcc

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
    import tf2onnx  # lazy: optional: the ONNX export only

    with _quiet_converter():
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=[tf.TensorSpec(shape, tf.float32, name=name)],
                                                 opset=ONNX_OPSET)
    return proto


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
        import onnx  # lazy: optional: the ONNX export only

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


def export_onnx(model: Any, spec: RunSpec, out: str | os.PathLike, config: dict[str, Any] | None = None,
                training: dict[str, Any] | None = None, version: str | None = None) -> Path:
    """Write an ONNX model of one window to `out` (.onnx) through tf2onnx (see `onnx_bytes`)."""
    _graph_model(model, "an ONNX export")
    model = float32_model(model)  # deployed forms compute in float32 (see tfaudio.deploy.loading.float32_model)
    out = Path(out).absolute()
    _check_out_file(out, "onnx")
    frames = check_model(model, spec) or None
    with _failures(out, "ONNX conversion"):
        data, info = onnx_bytes(model, spec)
    import onnx  # lazy: optional: the ONNX export only

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

    outputs.write_bytes(out, proto.SerializeToString())
    log.info("wrote %s (%.2f MB, front end %s)", out, out.stat().st_size / 2**20, info["front_end"])
    return out
