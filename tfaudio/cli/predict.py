"""`tfaudio predict`: activations or clip labels for audio files of any length, or raw PCM streamed from stdin."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfaudio._checks import bounded_int_arg, seconds
from tfaudio.cli.common import MODEL_HELP, TRUST_HELP
from tfaudio.io import headers

# The commands import TensorFlow-backed modules inside their functions: `tfaudio --help` imports no TensorFlow.


def add_parser(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser("predict", help="predict activations or clip labels for audio files of any length, or "
                                        "stream raw PCM from standard input")
    pr.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    pr.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG, MP3; any rate and channels), or - with "
                                             "--stream: raw PCM on standard input")
    pr.add_argument("--out", default=None, help="output folder: NPY+CSV (activations) or JSON (clips); required "
                                                "for files")
    pr.add_argument("--stream", action="store_true",
                    help="read raw PCM from standard input (AUDIO -) and write CSV rows (time, one column per class) "
                         "to standard output as each becomes final; memory stays constant")
    pr.add_argument("--rate", type=bounded_int_arg(headers.MIN_RATE, headers.MAX_RATE), default=None,
                    help=f"--stream: input sample rate, {headers.MIN_RATE} to {headers.MAX_RATE} "
                         "(default: the model's)")
    pr.add_argument("--channels", type=bounded_int_arg(1, headers.MAX_CHANNELS), default=1,
                    help=f"--stream: interleaved channels, 1 to {headers.MAX_CHANNELS} (default: 1)")
    pr.add_argument("--sample-format", choices=["s16le", "f32le"], default="s16le",
                    help="--stream: 16-bit integer or 32-bit float, little-endian (default: %(default)s)")
    pr.add_argument("--plot", action="store_true", help="also write a PNG per file")
    pr.add_argument("--which", default="best", help="checkpoint: best, last or a .keras path (default: best)")
    pr.add_argument("--precision", default="float32", choices=["float32", "auto", "mixed_bfloat16"],
                    help="compute policy of a Keras model: auto = bfloat16 on CPUs with AMX/AVX512-BF16 (several times faster, activations within about 0.01 of float32; default: float32)")
    pr.add_argument("--block-seconds", type=float, default=30.0, help="streaming block length (default: %(default)s)")
    pr.add_argument("--overwrite", action="store_true", help="replace existing output files (default: refuse)")
    pr.add_argument("--trust-model", action="store_true", help=TRUST_HELP)


def cmd_predict(args: argparse.Namespace) -> int:
    from tfaudio.io import outputs
    from tfaudio.errors import TfaudioError
    from tfaudio.deploy.loading import model_form, open_model

    if args.stream or "-" in args.audio:
        return _predict_stream(args)
    seconds("--block-seconds", args.block_seconds)
    if args.out is None:
        raise TfaudioError("--out is required: the folder the predictions are written to")
    from tfaudio.inference import predict_file, write_prediction  # TensorFlow (its start-up lines with -v)

    model_form(args.model)  # any saved form of a model; else one line, before anything is written
    with outputs.command_dir(args.out) as out:  # before the model loads: a bad --out is one line at once
        loaded = open_model(args.model, args.which, args.precision, trust=args.trust_model)  # failed: no empty --out
    print(f"model: {loaded.description}")
    model, spec = loaded.predictor(), loaded.spec

    from tfaudio.errors import printable

    failed = 0
    stems: set[str] = set()
    for path in args.audio:
        stem = Path(path).stem
        while stem in stems:  # same file name in two folders
            stem += "_"
        stems.add(stem)
        try:
            result = predict_file(model, spec, path, block_seconds=args.block_seconds)
            files = write_prediction(result, out, stem, plot=args.plot, overwrite=args.overwrite)
        except TfaudioError as e:
            print(f"tfaudio: error: {e}", file=sys.stderr)
            failed += 1
            continue
        if spec.task == "activation":
            what = f"activations {result.activations.shape[0]} x {result.activations.shape[1]} frames"
        else:
            what = f"{result.label} ({max(result.scores):.2f})"
        line = f"{path}: {result.duration:.1f} s -> {what}: {', '.join(str(f) for f in files)}"
        print(printable(line))  # a newline in a file name is escaped, as on stderr
    if failed:
        print(f"{failed} of {len(args.audio)} file(s) failed (see above); the others' outputs are in {out}")
    return 1 if failed else 0


def _predict_stream(args: argparse.Namespace) -> int:
    """`tfaudio predict MODEL - --stream`: raw PCM on stdin -> CSV rows on stdout as they become final."""
    import os

    from tfaudio.errors import TfaudioError
    from tfaudio.deploy.loading import open_model

    if not args.stream:
        raise TfaudioError("- reads raw PCM from standard input: add --stream (and --rate R --channels C)")
    if args.audio != ["-"]:
        raise TfaudioError("--stream reads raw PCM from standard input: give - as the only AUDIO")
    if args.out is not None or args.plot:
        raise TfaudioError("--stream writes CSV to standard output: --out and --plot do not apply")
    for name, stream_ in (("<stdin>", sys.stdin), ("<stdout>", sys.stdout)):
        if stream_ is None or getattr(stream_, "closed", False):  # `0<&-` or `1>&-`
            raise TfaudioError(f"{name}: is closed; --stream reads raw PCM from standard input and writes CSV to "
                               "standard output")
    loaded = open_model(args.model, args.which, args.precision, trust=args.trust_model)
    from tfaudio.inference import Stream, stream_pcm

    stream = Stream(loaded, rate=args.rate, channels=args.channels, source="<stdin>")
    if not args.quiet:
        print(f"model: {loaded.description}; streaming {stream.rate} Hz x {stream.channels} channel(s) "
              f"{args.sample_format}; latency {stream.latency_samples} samples ({stream.latency_seconds:.3f} s)",
              file=sys.stderr)
    try:
        rows = stream_pcm(stream, sys.stdin.buffer, sys.stdout, args.sample_format)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if not args.quiet:
        what = "frames" if stream.plan.activation else "windows"
        line = f"{rows} {what} from {stream.samples_in} samples"
        if not stream.plan.activation:
            line += f"; clip scores (mean of the windows): {stream.label} ({float(stream.scores.max()):.2f})"
        print(line, file=sys.stderr)
    return 0
