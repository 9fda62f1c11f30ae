"""`tfaudio export`: a model as SavedModel, TFLite, ONNX or .keras."""
from __future__ import annotations

import argparse


# The commands import TensorFlow-backed modules inside their functions: `tfaudio --help` imports no TensorFlow.


def add_parser(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser("export", help="export a model that takes raw audio: SavedModel, TFLite, ONNX or .keras")
    x.add_argument("run", metavar="MODEL", help="a run folder, a .keras file or a pretrained model: msdb, irmas, "
                                                "activations")
    x.add_argument("--out", required=True, help="SavedModel folder, or the .tflite / .onnx / .keras file")
    x.add_argument("--format", choices=["savedmodel", "tflite", "onnx", "keras"], default="savedmodel",
                   help="what to write (default: %(default)s); all carry the same metadata (tfaudio info)")
    x.add_argument("--quantize", choices=["none", "float16", "dynamic", "int8"], default="none",
                   help="TFLite: float16 or int8 weights (dynamic), int8 weights and activations (int8, "
                        "calibrated on --calibration or the run's training split) (default: %(default)s)")
    x.add_argument("--calibration", nargs="+", default=None, metavar="AUDIO",
                   help="--quantize int8: audio files or folders to calibrate on (default: the run's training split)")
    x.add_argument("--which", default="best", help="checkpoint: best, last or a .keras path (default: best)")


def cmd_export(args: argparse.Namespace) -> int:
    from tfaudio.deploy.export import export

    path, meta = export(args.run, args.out, args.format, args.quantize, args.which, args.calibration or ())
    if args.format == "savedmodel":
        print(f"SavedModel written to {path} (signatures: serving_default [batch, samples] float32 at {meta['sr']} "
              f"Hz, serve_wav [batch] WAV bytes); inspect with: saved_model_cli show --all --dir {path}")
        return 0
    size = path.stat().st_size / 2**20
    check = (meta.get("check") or {}).get("max_abs_diff")
    parts = [f"{size:.2f} MB"]
    if args.format == "tflite":
        parts.append(f"quantize {meta['quantize']}")
        parts.append("builtin ops only" if not meta.get("select_tf_ops") else
                     f"needs select TF ops {meta.get('flex_ops')} (TensorFlow's interpreter)")
    if args.format == "onnx":
        parts.append("features inside" if meta.get("front_end") == "inside" else
                     "the network alone: features computed outside (see tfaudio info)")
    if check is not None:
        parts.append(f"max |difference| from the Keras model {check:.2g}")
    io = "" if args.format == "keras" else f"; one window [1, {meta['window']}] float32 at {meta['sr']} Hz in"
    print(f"{args.format} model written to {path} ({', '.join(parts)}){io}; inspect with: tfaudio info {path}")
    return 0
