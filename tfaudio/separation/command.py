"""`tfaudio separate MODEL AUDIO... --out DIR`: per-instrument stems, guided by the model's activations.

For each AUDIO file, ``DIR/<file name>/`` receives, as one set (`tfaudio.outputs.file_set`: all or none):

    <instrument>.wav      one stem per instrument (spaces as _), 32-bit float at the input's rate, length and
                          channels; the stems add up to the input (float rounding). With --instruments, the
                          other instruments go to rest.wav
    activations.npy       (classes, frames) float32: the activations that gated the separation
    separation.json       the resolved SeparationConfig, the model, the classes, the frame times' hop, the files

The CLI wires it as a subcommand with `add_arguments(parser)` and `main(args) -> int`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import numpy as np

from tfaudio.errors import TfaudioError, printable
from tfaudio.separation import _links
from tfaudio.separation.config import SeparationConfig
from tfaudio.separation.separate import Separator, _Source

log = logging.getLogger(__name__)

HELP = "per-instrument stems of audio files, guided by an activation model's activations (activation-informed NMF)"


def _instruments(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated instrument names, got {text!r}")
    return names


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of `tfaudio separate`."""
    d = SeparationConfig()
    p.add_argument("model", metavar="MODEL", help="an activation model: a run folder, .keras, SavedModel, .tflite "
                                                  "or .onnx, or the pretrained 'activations'")
    p.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files (any length, rate and channels)")
    p.add_argument("--out", required=True, help="output folder: one sub-folder of stems per AUDIO file")
    p.add_argument("--instruments", type=_instruments, default=None,
                   help="comma-separated stems to write (default: every instrument the model knows; the others "
                        "then go to rest.wav)")
    p.add_argument("--guidance", choices=["predicted", "none"], default=d.guidance,
                   help="gate each instrument's gains by the predicted activations, or none (plain NMF) "
                        "(default: %(default)s)")
    p.add_argument("--threshold", type=float, default=d.threshold,
                   help="activation at which an instrument counts as playing (default: %(default)s)")
    p.add_argument("--iterations", type=int, default=d.iterations, help="NMF updates (default: %(default)s)")
    p.add_argument("--components", type=int, default=d.components,
                   help="templates per instrument (default: %(default)s)")
    p.add_argument("--block-seconds", type=float, default=d.block_seconds,
                   help="audio separated per block: memory stays bounded (default: %(default)s)")
    p.add_argument("--which", default="best", help="checkpoint of a run folder: best or last (default: best)")
    p.add_argument("--precision", default="float32", choices=["float32", "auto", "mixed_bfloat16"],
                   help="compute policy of a Keras model (default: float32)")
    p.add_argument("--overwrite", action="store_true", help="replace stems tfaudio wrote earlier (default: refuse)")
    p.add_argument("--trust-model", action="store_true", help="load a SavedModel without checking its ops first")


def config_from_args(args: argparse.Namespace) -> SeparationConfig:
    """The `SeparationConfig` the arguments ask for (its checks: one ConfigError line)."""
    return dataclasses.replace(SeparationConfig(), guidance=args.guidance, threshold=args.threshold,
                               iterations=args.iterations, components=args.components,
                               block_seconds=args.block_seconds)


def _stem_file(name: str) -> str:
    return f"{name.replace(' ', '_').replace('/', '_')}.wav"


def write_stems(sep: Separator, path: str, folder: Path, overwrite: bool = False,
                description: str = "") -> tuple[list[Path], float]:
    """Separate the file `path` into `folder` (one set of files, block by block). Returns (files, seconds)."""
    import soundfile as sf

    source = _Source(path=path)
    try:
        acts, times = sep._guidance(source, None, None)
        names = [_stem_file(n) for n in sep.names]
        files = [*names, "activations.npy", "separation.json"]
        with _links.outputs().file_set(folder, files, overwrite=overwrite, what="separate") as tmp:
            writers = [sf.SoundFile(tmp / n, "w", source.sr, source.channels, subtype="FLOAT") for n in names]
            try:
                for block in sep.blocks(source, acts, times):
                    for w, stem in zip(writers, block):
                        w.write(stem)
            finally:
                for w in writers:
                    w.close()
            np.save(tmp / "activations.npy", np.zeros((len(sep.classes), 0), np.float32) if acts is None
                    else np.asarray(acts, np.float32))
            hop = float(np.median(np.diff(times))) if times is not None and len(times) > 1 else None
            info = {"config": dataclasses.asdict(sep.config), "model": description, "source": path,
                    "sr": source.sr, "samples": source.frames, "channels": source.channels,
                    "classes": list(sep.classes), "stems": dict(zip(sep.names, names)),
                    "activations": {"file": "activations.npy", "shape": [len(sep.classes), 0 if acts is None
                                                                         else int(np.shape(acts)[1])],
                                    "frame_seconds": hop, "guidance": sep.config.guidance}}
            (tmp / "separation.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    finally:
        source.close()
    return [folder / f for f in files], source.frames / source.sr


def main(args: argparse.Namespace) -> int:
    """Run `tfaudio separate`; a failing file is one line on stderr and the others go on (exit 1)."""
    outputs = _links.outputs()
    config = config_from_args(args)
    with outputs.command_dir(args.out) as out:  # a bad --out is one line before the model loads
        loaded = _links.open_model(args.model, args.which, args.precision, args.trust_model)
        sep = Separator(loaded, config, args.instruments)
    print(f"model: {loaded.description}")
    failed = 0
    used: set[str] = set()
    for path in args.audio:
        stem = Path(path).stem or "audio"
        while stem in used:  # the same file name in two folders
            stem += "_"
        used.add(stem)
        try:
            files, secs = write_stems(sep, path, out / stem, args.overwrite, loaded.description)
        except TfaudioError as e:
            print(f"tfaudio: error: {e}", file=sys.stderr)
            failed += 1
            try:
                (out / stem).rmdir()  # only an empty folder goes (file_set made it for this file)
            except OSError:
                pass
            continue
        print(printable(f"{path}: {secs:.1f} s -> {len(sep.names)} stems in {out / stem}"))
    if failed:
        print(f"{failed} of {len(args.audio)} file(s) failed (see above); the others' stems are in {out}")
    return 1 if failed else 0
