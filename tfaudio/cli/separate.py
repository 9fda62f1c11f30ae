"""`tfaudio separate MODEL AUDIO... --out DIR`: per-instrument stems, guided by the model's activations."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from tfaudio.cli.common import MODEL_HELP, TRUST_HELP
from tfaudio.errors import TfaudioError, printable

# The command imports TensorFlow-backed modules inside its functions: `tfaudio --help` imports no TensorFlow.

HELP = "per-instrument stems of audio files, guided by an activation model's activations (activation-informed NMF)"


def _instruments(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated instrument names, got {text!r}")
    return names


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`tfaudio separate` and its arguments. Settings left out take `SeparationConfig`'s defaults (not read here:
    the separation package imports TensorFlow, and building the parser must not)."""
    p = sub.add_parser("separate", help=HELP)
    p.add_argument("model", metavar="MODEL", help="an activation model: " + MODEL_HELP)
    p.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files (any length, rate and channels)")
    p.add_argument("--out", required=True, help="output folder: one sub-folder of stems per AUDIO file")
    p.add_argument("--instruments", type=_instruments, default=None,
                   help="comma-separated stems to write (default: every instrument the model knows; the others "
                        "then go to rest.wav)")
    p.add_argument("--guidance", choices=["predicted", "none"], default=None,
                   help="gate each instrument's gains by the predicted activations, or none (plain NMF) "
                        "(default: SeparationConfig's)")
    p.add_argument("--threshold", type=float, default=None,
                   help="activation at which an instrument counts as playing (default: SeparationConfig's)")
    p.add_argument("--iterations", type=int, default=None, help="NMF updates (default: SeparationConfig's)")
    p.add_argument("--components", type=int, default=None,
                   help="templates per instrument (default: SeparationConfig's)")
    p.add_argument("--block-seconds", type=float, default=None,
                   help="audio separated per block: memory stays bounded (default: SeparationConfig's)")
    p.add_argument("--which", default="best", help="checkpoint of a run folder: best or last (default: best)")
    p.add_argument("--precision", default="float32", choices=["float32", "auto", "mixed_bfloat16"],
                   help="compute policy of a Keras model (default: float32)")
    p.add_argument("--overwrite", action="store_true", help="replace stems tfaudio wrote earlier (default: refuse)")
    p.add_argument("--trust-model", action="store_true", help=TRUST_HELP)


def config_from_args(args: argparse.Namespace):
    """The `SeparationConfig` the arguments ask for (its checks: one ConfigError line)."""
    from tfaudio.separation.config import SeparationConfig

    given = {k: getattr(args, k) for k in ("guidance", "threshold", "iterations", "components", "block_seconds")}
    return dataclasses.replace(SeparationConfig(), **{k: v for k, v in given.items() if v is not None})


def cmd_separate(args: argparse.Namespace) -> int:
    """Run `tfaudio separate`; a failing file is one line on stderr and the others go on (exit 1)."""
    from tfaudio.deploy.loading import open_model
    from tfaudio.io import outputs
    from tfaudio.separation import Separator
    from tfaudio.separation.files import write_stems

    config = config_from_args(args)
    with outputs.command_dir(args.out) as out:  # a bad --out is one line before the model loads
        loaded = open_model(args.model, args.which, args.precision, trust=args.trust_model)
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
