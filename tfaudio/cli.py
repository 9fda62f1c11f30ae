"""The `tfaudio` command line. TensorFlow is imported only by the subcommands that need it."""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Callable, Sequence

from tfaudio import __version__
from tfaudio import headers
from tfaudio._checks import bounded_int_arg, positive_int_arg, seconds

log = logging.getLogger("tfaudio")


def _programs(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated GM program numbers, got {text!r}") from None


def _add_common(p: argparse.ArgumentParser, defaults: bool) -> None:
    """-v/-q, accepted before or after the subcommand."""
    kw = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("-v", "--verbose", action="count", help="more log output (-vv for debug)",
                   **({"default": 0} if defaults else kw))
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars",
                   **({"default": False} if defaults else kw))


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (`tfaudio: error: ...`), not the usage block."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"tfaudio: error: {self.prog}: {message} (see {self.prog} --help)\n")


def _sub_parser(common: argparse.ArgumentParser) -> type:
    class SubParser(_Parser):
        def __init__(self, *a, **kw):
            kw.setdefault("parents", [common])
            super().__init__(*a, **kw)

    return SubParser


TRUST_HELP = ("load a SavedModel without checking its ops first: a SavedModel is a program, and tfaudio otherwise "
              "refuses any op its own exporter never writes (file, network, Python, ...); only for models whose "
              "source you trust")

MODEL_HELP = ("a run folder written by tfaudio train, a .keras file, a SavedModel folder or .tflite/.onnx file written "
              "by tfaudio export, or a pretrained model: msdb, irmas, activations")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="tfaudio",
        description="Musical instrument recognition and activation detection with Keras/TensorFlow.",
    )
    p.add_argument("--version", action="version", version=f"tfaudio {__version__}")
    _add_common(p, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, defaults=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_sub_parser(common))

    d = sub.add_parser("demo", help="the main job on the built-in corpus: render, train the activation CNN "
                                     "on mixes, evaluate, export, predict")
    d.add_argument("--out", default="tfaudio-demo", help="output folder (default: %(default)s)")
    d.add_argument("--per-class", type=positive_int_arg, default=20, help="clips per class (default: %(default)s)")
    d.add_argument("--epochs", type=positive_int_arg, default=20, help="training epochs (default: %(default)s)")
    d.add_argument("--steps", type=positive_int_arg, default=100, help="steps per epoch (default: %(default)s)")
    d.add_argument("--sequence-seconds", type=float, default=5.0,
                   help="seconds per instrument in the predicted sequence (default: %(default)s)")
    d.add_argument("--seed", type=int, default=0)

    c = sub.add_parser("corpus", help="the built-in SoundFont corpus")
    csub = c.add_subparsers(dest="corpus_command", metavar="ACTION")
    r = csub.add_parser("render", help="render a solo-instrument corpus in the Medley-Solos-DB layout")
    r.add_argument("out", help="output folder")
    r.add_argument("--soundfont", action="append", default=None, metavar="NAME_OR_PATH",
                   help="a General MIDI SoundFont: timgm6mb (pretty_midi's TimGM6mb.sf2, the default), gmbank, "
                        "opl3, merlin, freepats (GUS patches), or an .sf2/.sf3 path; repeat it to render every class with each "
                        "(--per-class clips per class and SoundFont)")
    r.add_argument("--per-class", type=positive_int_arg, default=20,
                   help="clips per class and SoundFont (default: %(default)s)")
    r.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    r.add_argument("--programs", type=_programs, default=None,
                   help="comma-separated GM programs (0-127) instead of the 8 Medley-Solos-DB classes")
    r.add_argument("--sr", type=positive_int_arg, default=22050, help="sample rate (default: %(default)s)")
    r.add_argument("--samples", type=positive_int_arg, default=65536, help="samples per clip (default: %(default)s)")
    r.add_argument("--songs", type=positive_int_arg, default=None,
                   help="render N songs with per-instrument stems (format stems: SONG/mix.wav, SONG/stems/*.wav) "
                        "instead of the solo corpus")
    r.add_argument("--song-seconds", type=float, default=20.0, help="seconds per song (default: %(default)s)")
    r.add_argument("--classes", choices=["msdb", "irmas"], default="msdb",
                   help="the instrument classes: Medley-Solos-DB's 8 or IRMAS's 11 by code (default: %(default)s)")
    r.add_argument("--excerpts", choices=["irmas"], default=None,
                   help="with --songs: cut the songs into multi-instrument excerpts in IRMAS's testing layout "
                        "(WAV + tab-separated label .txt, 1-4 labels) instead of keeping the stems")

    t = sub.add_parser("train", help="train one experiment (a pipelines/ YAML) into a run folder")
    t.add_argument("--list", action=_ListPipelines, nargs=0,
                   help="list the experiments that ship with tfaudio (the names CONFIG accepts) and exit")
    t.add_argument("config", help="experiment YAML, or the name of one in pipelines/ (e.g. neuroment_mel)")
    t.add_argument("--out", required=True, help="run folder: checkpoints, logs, resolved config")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value by its dotted key, e.g. --set train.epochs=2 (repeatable)")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its last epoch")
    t.add_argument("--strategy", choices=["default", "mirrored", "multi_worker"], default=None,
                   help="tf.distribute strategy (default: train.strategy of the config); "
                        "multi_worker reads TF_CONFIG")

    e = sub.add_parser("evaluate", help="evaluate a model (any saved form): metrics.json and PNG plots")
    e.add_argument("run", metavar="MODEL", help=MODEL_HELP)
    e.add_argument("--data", default=None, help="data-set root (default: the run's own data)")
    e.add_argument("--format", default=None, choices=["medley_solos_db", "irmas", "nsynth", "folder", "csv", "stems"],
                   help="layout of --data (default: the run's data format)")
    e.add_argument("--split", default=None,
                   help="split to evaluate: training, validation, test (default) or the data's own name for "
                        "it; with --data also 'all' (every file)")
    e.add_argument("--out", required=True, help="report folder")
    e.add_argument("--mixes", type=positive_int_arg, default=512,
                   help="mixes to evaluate activation and multi-label runs on (default: %(default)s)")
    e.add_argument("--threshold", type=float, default=None,
                   help="decision threshold for every class (default: the run's, chosen per class on its "
                        "validation split for multi-label runs, else 0.5)")
    e.add_argument("--aggregate", choices=["mean", "max"], default="mean",
                   help="clip runs: how window scores make a file's scores (default: %(default)s)")
    e.add_argument("--which", default="best", help="checkpoint: best, last or a .keras path (default: best)")
    e.add_argument("--precision", default="float32", choices=["float32", "auto", "mixed_bfloat16"],
                   help="compute policy of a Keras model: auto = bfloat16 on CPUs with AMX/AVX512-BF16 (several times faster, activations within about 0.01 of float32; default: float32)")
    e.add_argument("--seed", type=int, default=1234, help="seed of the evaluation mixes")
    e.add_argument("--trust-model", action="store_true", help=TRUST_HELP)

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

    i = sub.add_parser("info", help="what a model is (any saved form): classes, rate, window, features, task, "
                                    "thresholds, version, training data")
    i.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    i.add_argument("--json", action="store_true", help="print the whole metadata as JSON")
    i.add_argument("--latency", action="store_true", help="also measure the time per window on this machine")
    i.add_argument("--which", default="best", help="checkpoint: best, last or a .keras path (default: best)")
    i.add_argument("--trust-model", action="store_true", help=TRUST_HELP)

    p.set_defaults(_plugin_handlers=_load_plugins(sub))

    s = sub.add_parser("data", help="inspect a data set")
    ssub = s.add_subparsers(dest="data_command", metavar="ACTION")
    ds = ssub.add_parser("summary", help="scan a data set, count files per subset and class, report bad files")
    ds.add_argument("root", help="data-set root (or a manifest .csv for --format csv)")
    ds.add_argument("--format", required=True, choices=["medley_solos_db", "irmas", "nsynth", "folder", "csv",
                                                         "stems"])
    ds.add_argument("--split", default=None, help="subset or split (irmas: train/test; nsynth: train/valid/test)")
    ds.add_argument("--verify", default="header", choices=["none", "header", "full"],
                    help="how hard to check each file: full decodes it (default: %(default)s)")
    ds.add_argument("--strict", action="store_true", help="stop at the first bad file instead of skipping it")
    ds.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def _load_plugins(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Subcommands that other packages add through the ``tfaudio.commands`` entry-point group
    (`tfaudio tune` comes from the `tuning` package this way: the library never imports it).
    Each entry point is a `register(subparsers) -> {command: handler}`."""
    from importlib.metadata import entry_points

    handlers: dict[str, Callable[[argparse.Namespace], int]] = {}
    for ep in entry_points(group="tfaudio.commands"):
        try:
            handlers.update(ep.load()(sub))
        except Exception as e:  # a broken plugin must not break the other commands; asked for, it is one line
            _PLUGIN_ERRORS[ep.name] = f"{type(e).__name__}: {e}"
            log.debug("command plugin %s failed to load: %s", ep.name, e)
    return handlers


_PLUGIN_ERRORS: dict[str, str] = {}  # command -> why its plugin did not load


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 1:  # TensorFlow's C++/absl start-up chatter only with -v (all of it with -vv)
        import os

        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        for name in ("absl", "tensorflow", "h5py"):
            logging.getLogger(name).setLevel(logging.ERROR)
    elif verbose < 2:
        for name in ("absl", "tensorflow"):
            logging.getLogger(name).setLevel(logging.WARNING)


#: Lines that TensorFlow's C++ logging prints before it is configured ("I0000 00:00:17... port.cc:153] ...").
_TF_LOG_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] )")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up lines (oneDNN, CUDA stubs, cuInit) kept off stderr:
    absl prints them before TF_CPP_MIN_LOG_LEVEL applies. Other lines written meanwhile are replayed."""
    import os
    import tempfile

    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery logs here (cuInit on GPU-less hosts)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            keep = [ln for ln in captured.read().splitlines(keepends=True) if not _TF_LOG_LINE.match(ln)]
            if keep:
                sys.stderr.buffer.write(b"".join(keep))
                sys.stderr.flush()


def _print_summary(counts: dict[str, dict[str, int]]) -> None:
    classes = sorted({c for sub in counts.values() for c in sub})
    subsets = list(counts)
    width = max([len(c) for c in classes] + [5])
    print(f"{'class':<{width}}  " + "  ".join(f"{s:>10}" for s in subsets) + f"  {'total':>7}")
    for c in classes:
        row = [counts[s].get(c, 0) for s in subsets]
        print(f"{c:<{width}}  " + "  ".join(f"{n:>10}" for n in row) + f"  {sum(row):>7}")
    totals = [sum(counts[s].values()) for s in subsets]
    print(f"{'total':<{width}}  " + "  ".join(f"{n:>10}" for n in totals) + f"  {sum(totals):>7}")


def cmd_corpus_render(args: argparse.Namespace) -> int:
    from tfaudio import corpus, datasets

    from tfaudio.errors import TfaudioError

    instruments = corpus.instrument_set(args.classes)
    if args.programs:
        instruments = tuple(corpus.gm_instrument(p) for p in args.programs)
    fonts = args.soundfont or [corpus.DEFAULT_SOUNDFONT]
    if args.excerpts and not args.songs:
        raise TfaudioError("--excerpts cuts rendered songs: give --songs N too")
    if args.songs and args.excerpts == "irmas":  # multi-label excerpts, for `tfaudio evaluate --format irmas`
        if len(fonts) > 1:
            raise TfaudioError(f"--songs renders with one SoundFont, got {len(fonts)}: {', '.join(fonts)}")
        n = corpus.render_irmas_excerpts(args.out, args.songs, args.song_seconds, instruments, seed=args.seed,
                                         sr=args.sr, soundfont=fonts[0], progress=not args.quiet)
        records = datasets.irmas(args.out, "test")
        print(f"rendered {n} multi-instrument excerpts of {args.songs} songs in IRMAS's testing layout into "
              f"{args.out}")
        _print_summary(datasets.summary(records))
        return 0
    if args.songs:  # songs with stems, for `tfaudio evaluate --format stems`
        if len(fonts) > 1:
            raise TfaudioError(f"--songs renders with one SoundFont, got {len(fonts)}: {', '.join(fonts)}")
        corpus.render_songs(args.out, args.songs, args.song_seconds, instruments, seed=args.seed, sr=args.sr,
                            soundfont=fonts[0], progress=not args.quiet)
        records = datasets.from_stems(args.out)
        print(f"rendered {args.songs} songs of {args.song_seconds:g} s with stems into {args.out}")
        _print_summary(datasets.summary(records))
        return 0
    meta = corpus.render_corpus(args.out, instruments, per_class=args.per_class, seed=args.seed,
                                soundfonts=fonts, sr=args.sr, n_samples=args.samples, progress=not args.quiet)
    records = datasets.medley_solos_db(args.out)
    counts = datasets.summary(records)
    print(f"rendered {len(records)} clips into {args.out} (metadata: {meta})")
    _print_summary(counts)
    # clips per SoundFont (each has --per-class clips of every class) and the GM programs that played them
    subsets = list(counts)
    names = list(dict.fromkeys(str(r.meta.get("soundfont", "")) for r in records))
    width = max([len(n) for n in names] + [9])
    print(f"\n{'soundfont':<{width}}  " + "  ".join(f"{s:>10}" for s in subsets) + f"  {'total':>7}  programs")
    for name in names:
        mine = [r for r in records if r.meta.get("soundfont") == name]
        row = [sum(r.subset == s for r in mine) for s in subsets]
        programs = sorted({int(r.meta["program"]) for r in mine if str(r.meta.get("program", "")).isdigit()})
        print(f"{name:<{width}}  " + "  ".join(f"{n:>10}" for n in row) + f"  {sum(row):>7}  "
              + ",".join(str(p) for p in programs))
    return 0


def cmd_data_summary(args: argparse.Namespace) -> int:
    from tfaudio import datasets

    records = datasets.load_records(args.format, args.root, split=args.split, strict=args.strict,
                                    verify=args.verify)
    counts = datasets.summary(records)
    skipped = getattr(records, "skipped", [])
    if args.json:
        print(json.dumps({"counts": counts, "records": len(records),
                          "skipped": [{"path": p, "problem": m} for p, m in skipped]}, indent=2))
        return 0
    _print_summary(counts)
    if skipped:
        print(f"skipped {len(skipped)} file(s):")
        for path, problem in skipped:
            print(f"  {path}: {problem}")
    return 0


def pipeline_dirs() -> list[Path]:
    """Where the shipped experiment YAMLs are: the installed package data `tfaudio/pipelines/` (a wheel or
    a non-editable install, via importlib.resources), then `pipelines/` of the checkout tfaudio runs from
    (an editable install)."""
    from importlib import resources

    found = []
    try:
        packaged = resources.files("tfaudio") / "pipelines"
        if isinstance(packaged, Path) and packaged.is_dir():
            found.append(packaged)
    except (ModuleNotFoundError, TypeError, OSError):
        pass
    checkout = Path(__file__).resolve().parent.parent / "pipelines"
    if checkout.is_dir() and checkout not in found:
        found.append(checkout)
    return found


def pipelines() -> dict[str, Path]:
    """The shipped experiments by name (the first of `pipeline_dirs` that has a name wins)."""
    named: dict[str, Path] = {}
    for folder in pipeline_dirs():
        for q in sorted(folder.glob("*.yaml")):
            named.setdefault(q.stem, q)
    return dict(sorted(named.items()))


class _ListPipelines(argparse.Action):
    """`tfaudio train --list`: each shipped experiment's name, task and model, then exit."""

    def __call__(self, parser, namespace, values, option_string=None):
        import yaml

        lines = []
        for name, path in pipelines().items():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                model = (data.get("model") or {}).get("name", "?")
                about = f"{data.get('task', '?')}, {model}"
            except (OSError, ValueError, yaml.YAMLError, AttributeError):
                about = "unreadable"
            lines.append(f"{name:34s} {about}\n")
        sys.stdout.write("".join(lines))
        parser.exit(0)


def find_config(name: str) -> Path:
    """A config path as given, or a shipped experiment by name (`pipelines`, with or without ``.yaml``)."""
    p = Path(name)
    if p.is_file():
        return p
    known = pipelines()
    stem = name[:-5] if name.endswith(".yaml") else name
    if "/" not in stem and stem in known:
        return known[stem]
    from tfaudio.errors import ConfigError

    raise ConfigError(f"{name}: config file not found" + (f"; shipped experiments: {sorted(known)} "
                                                         "(tfaudio train --list)" if known else ""))


def cmd_train(args: argparse.Namespace) -> int:
    from tfaudio.experiment import load_experiment, read_yaml
    from tfaudio.train import is_chief, resume_config, train

    if args.resume:  # the run's own config.json, with --set applied (what train checks may change)
        cfg = resume_config(args.out, args.overrides, experiment=read_yaml(find_config(args.config)).get("name"))
    else:
        cfg = load_experiment(find_config(args.config), args.overrides)  # validates before any work

    run = train(cfg, args.out, resume=args.resume, strategy=args.strategy)
    if not is_chief():
        print(f"worker done: the chief writes the run to {run}")
        return 0
    files = sorted(str(p.relative_to(run)) for p in (run / "checkpoints").iterdir() if not p.name.startswith("."))
    files += [name for name in ("config.json", "run.json", "splits.json", "history.csv") if (run / name).is_file()]
    logs = f", logs/ (tensorboard --logdir {run / 'logs'})" if (run / "logs").is_dir() else ""
    print(f"run written to {run}: {', '.join(files)}{logs}")
    return 0


def _run_config(run: Path):
    import json

    from tfaudio.errors import TfaudioError
    from tfaudio.experiment import experiment_from_dict
    from tfaudio.run import resolve_run

    path = resolve_run(run) / "config.json"
    if not path.is_file():
        raise TfaudioError(f"{run}: not a tfaudio run folder (no config.json)")
    return experiment_from_dict(json.loads(path.read_text()))


def evaluation_data(cfg, spec, records, mixes: int, seed: int):
    """What a run is evaluated on: each file whole (clip runs: windows with 50% hop, aggregated into
    the file's scores) or fixed mixes of the records' windows (activation runs)."""
    import dataclasses

    from tfaudio import data
    from tfaudio.evaluate import clip_examples

    if spec.task in ("single_label", "multi_label"):
        return clip_examples(records, spec)
    mix = dataclasses.replace(cfg.mix, window=spec.window)
    feats = spec.features if spec.model_input == "features" else dataclasses.replace(spec.features, kind="none")
    return data.mixtures(records, spec.classes, mix, seed=seed, features=feats, batch_size=32,
                         num_mixes=max(32, mixes // 32 * 32), rerandomize=False)


def evaluation_records(cfg, data_root: str | None, fmt: str | None, split: str | None):
    """(records, what they are, e.g. "test split") to evaluate a run on.

    Without `data_root`: a split of the run's own data by role ("training", "validation", "test",
    default "test") or by the data's name for it. With it: `split` of that data set (default: its
    test split; a folder or manifest with no subsets is evaluated whole). A split with no records is
    an error naming it and the choices.
    """
    from tfaudio import datasets
    from tfaudio.train import split_names, split_records

    if not data_root:
        role = split or "test"
        return split_records(cfg, role), f"{role} split"
    run_fmt = "medley_solos_db" if cfg.data.format == "corpus" else cfg.data.format
    fmt = fmt or run_fmt
    if split == "all" and fmt != "irmas" and fmt != "nsynth":  # every file of a data set the run never saw
        records = datasets.load_records(fmt, data_root, strict=cfg.data.strict)
        if records:
            return records, f"all of {data_root}"
    if split is None:
        if fmt in ("folder", "csv"):
            records = datasets.load_records(fmt, data_root, strict=cfg.data.strict)
            if not datasets.subsets_of(records):
                return records, f"whole of {data_root}"
        split = (split_names(cfg)[2] if fmt == run_fmt else None) or "test"
    records = datasets.load_records(fmt, data_root, split=split, strict=cfg.data.strict)
    if not records:
        from tfaudio.errors import DatasetError

        raise DatasetError(data_root, f"the {split!r} split has no usable files")
    return records, f"{split} split of {data_root}"


def _print_metrics(metrics: dict) -> None:
    keys = ("accuracy", "balanced_accuracy", "f1_micro", "f1_macro", "lrap", "map", "bce", "frame_f1")
    shown = {k: metrics[k] for k in keys if metrics.get(k) is not None}
    print("  " + "  ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    if metrics.get("threshold_source"):
        print(f"  F1 thresholds: {metrics['threshold_source']}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tfaudio import outputs
    from tfaudio.run import model_form

    model_form(args.run)  # any saved form of a model; else one line, before anything is written
    with outputs.command_dir(args.out, "report folder (metrics.json and plots)", outputs.owned_dir):  # or tfaudio's
        return _evaluate(args)  # a failure leaves no empty --out that this call made


def _evaluate(args: argparse.Namespace) -> int:
    from tfaudio.run import open_model

    loaded = open_model(args.run, args.which, args.precision, trust=args.trust_model)
    print(f"model: {loaded.description}")
    cfg = loaded.experiment()  # the run's data, splits and mixing (exports carry the config)
    model, spec = loaded.model, loaded.spec
    history = loaded.run_dir / "history.csv" if loaded.run_dir is not None else None
    history = history if history is not None and history.is_file() else None
    if args.data and (args.format or cfg.data.format) == "stems":  # songs with per-instrument stems
        from tfaudio import datasets
        from tfaudio.evaluate import evaluate_songs_and_report, songs_summary

        songs = datasets.load_records("stems", args.data, strict=cfg.data.strict)
        split = args.split if args.split is not None else (
            cfg.data.test_split if any(r.subset == cfg.data.test_split for r in songs) else None)
        songs = datasets.ScanResult([r for r in songs if split is None or r.subset == split], songs.skipped)
        if not songs:
            from tfaudio.errors import DatasetError

            raise DatasetError(args.data, f"no songs to evaluate (split {split!r})")
        metrics, files = evaluate_songs_and_report(
            model, spec, songs, args.out, threshold=args.threshold, ref=cfg.mix.ref, range_db=cfg.mix.range_db,
            strict=cfg.data.strict, history_csv=history, split=split)
        print(songs_summary(metrics, split))
        print(f"report: {Path(args.out) / 'metrics.json'} and {len(files) - 1} plot(s) in {args.out}")
        return 0
    records, split = evaluation_records(cfg, args.data, args.format, args.split)
    from tfaudio.evaluate import evaluate_and_report

    data = evaluation_data(cfg, spec, records, args.mixes, args.seed)
    fmt = args.format or ("medley_solos_db" if cfg.data.format == "corpus" else cfg.data.format)
    provenance = {"model": str(args.run) if str(args.run) != str(loaded.path) else str(loaded.path.resolve()),
                  "model_form": loaded.form, "model_loaded": loaded.description,
                  "checkpoint": str(loaded.checkpoint or loaded.path),
                  "data_root": str(args.data) if args.data else str(cfg.data.root or "built-in corpus"),
                  "format": fmt, "split": split, "n_files": len(records),
                  "protocol": ("each file whole" if spec.task != "activation" else
                               f"{max(32, args.mixes // 32 * 32)} fixed mixes of the files' windows, seed {args.seed}")}
    metrics, files = evaluate_and_report(model, spec, data, args.out, history_csv=history,
                                         threshold=args.threshold, aggregate=args.aggregate, provenance=provenance)
    what = "files" if spec.task != "activation" else "mixes"
    print(f"evaluated {metrics['n_examples']} {what} from {len(records)} files of the {split} ({spec.task}):")
    _print_metrics(metrics)
    print(f"report: {Path(args.out) / 'metrics.json'} and {len(files) - 1} plot(s) in {args.out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from tfaudio import outputs
    from tfaudio.errors import TfaudioError
    from tfaudio.run import model_form, open_model

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
    from tfaudio.run import open_model

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


def cmd_export(args: argparse.Namespace) -> int:
    from tfaudio.export import export

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


def cmd_info(args: argparse.Namespace) -> int:
    from tfaudio.run import open_model

    loaded = open_model(args.model, args.which, trust=args.trust_model)
    meta = dict(loaded.metadata)
    if args.latency:
        from tfaudio.export import latency

        meta["latency"] = latency(loaded.model, loaded.spec)
    if args.json:
        print(json.dumps(meta, indent=2, sort_keys=True))
        return 0
    print(_info_text(loaded, meta))
    return 0


def _info_text(loaded, meta: dict) -> str:
    """`tfaudio info`'s summary of a model's metadata."""
    f = meta.get("features") or {}
    lines = [f"model:       {loaded.description}",
             f"task:        {meta['task']}",
             f"classes:     {len(meta['classes'])}: {', '.join(meta['classes'])}",
             f"sample rate: {meta['sr']} Hz",
             f"window:      {meta['window']} samples ({meta['window'] / meta['sr']:.3f} s), hop {meta['hop']} samples"]
    if meta.get("frames_per_window"):
        lines.append(f"frames:      {meta['frames_per_window']} per window, every {meta['hop_length']} samples "
                     f"({meta['hop_length'] / meta['sr'] * 1000:.1f} ms); windows stitched by {meta['aggregation']}")
    else:
        lines.append(f"clip scores: {meta['aggregation']}")
    keys = {"log_mel": ("n_fft", "hop_length", "n_mels", "fmin", "fmax", "top_db"),
            "log10_mel": ("n_fft", "hop_length", "n_mels", "fmin", "fmax"),
            "mel": ("n_fft", "hop_length", "n_mels", "fmin", "fmax"),
            "mfcc": ("n_fft", "hop_length", "n_mels", "n_mfcc", "fmin", "fmax"),
            "stft": ("n_fft", "hop_length", "scale", "top_db"),
            "cqt": ("hop_length", "n_bins", "bins_per_octave", "fmin", "scale", "top_db")}.get(f.get("kind"), ())
    feats = ", ".join(f"{k} {f[k]}" for k in keys if k in f)
    lines.append(f"features:    {f.get('kind')} ({feats}); model input {meta.get('model_input')}"
                 + (f"; front end {meta['front_end']}" if meta.get("front_end") else ""))
    if meta["task"] == "multi_label":
        th = ", ".join(f"{c} {t:.3f}" for c, t in zip(meta["classes"], meta.get("thresholds") or []))
        lines.append(f"thresholds:  {th} ({meta.get('threshold_source') or 'default'})")
    else:
        lines.append(f"threshold:   {meta.get('threshold')}")
    if meta.get("quantize") is not None:
        ops = f"needs select TF ops {meta.get('flex_ops')}" if meta.get("select_tf_ops") else "builtin ops only"
        lines.append(f"quantize:    {meta['quantize']}: {meta.get('quantization', '')}; {ops}")
    if meta.get("front_end_note"):
        lines.append(f"front end:   {meta['front_end_note']}")
    if (meta.get("check") or {}).get("max_abs_diff") is not None:
        lines.append(f"check:       max |difference| from the Keras model {meta['check']['max_abs_diff']:.2g} "
                     f"({meta['check'].get('probe', '')})")
    if loaded.path.is_file():
        lines.append(f"file size:   {loaded.path.stat().st_size / 2**20:.2f} MB")
    lines.append(f"tfaudio:     {meta.get('tfaudio_version')} ({meta.get('format')})")
    t = meta.get("training_data")
    if t:
        corpus = t.get("corpus") or {}
        data = f"{t.get('data_root')} ({t.get('data_format')})"
        if corpus:
            data += (f": {corpus.get('per_class')} clips per class, SoundFonts {', '.join(corpus.get('soundfonts') or [])}"
                     + (f", validation on {', '.join(corpus['val_soundfonts'])}" if corpus.get("val_soundfonts") else "")
                     + (f", test on {', '.join(corpus['test_soundfonts'])}" if corpus.get("test_soundfonts") else ""))
        lines.append(f"trained on:  {data}; pipeline {t.get('pipeline')}, model {t.get('model')}, "
                     f"{t.get('epochs')} epochs" + (f"; card {t['pretrained']['card']}" if t.get("pretrained") else ""))
        if t.get("backbone"):
            b = t["backbone"]
            lines.append(f"backbone:    {b['name']}: {b['network']}, trained on {b['trained_on']}; "
                         f"licence {b['licence']}")
    else:
        lines.append("trained on:  unknown (exported without its run folder)")
    if meta.get("latency"):
        lat = meta["latency"]
        lines.append(f"latency:     {lat['median_ms']:.2f} ms per window (median of {lat['repeats']}, "
                     f"p90 {lat['p90_ms']:.2f} ms) on this machine")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    """Render the corpus, train the activation CNN on mixes, evaluate, export, predict a sequence."""
    import io
    import json
    import shutil
    import time

    import numpy as np

    from tfaudio import corpus, datasets

    from tfaudio import outputs

    seconds("--sequence-seconds", args.sequence_seconds)
    t0 = time.time()
    out = Path(args.out)
    marker = out / ".tfaudio-demo"  # what the demo made, and may replace when run again
    if out.exists() and not outputs.is_empty_dir(out) and not marker.is_file():
        raise outputs.OutputError(f"{out}: exists, is not empty and is not an earlier demo's folder; choose a new "
                                  "--out (nothing there is overwritten)")
    outputs.output_dir(out, "demo folder")
    outputs.write_text(marker, "written by tfaudio demo\n")
    data_root = out / "corpus"
    sr = 44100
    print(f"[1/6] rendering the built-in corpus ({args.per_class} clips x 8 instruments, 3 s at {sr} Hz) "
          f"into {data_root}")
    if not (data_root / "Medley-solos-DB_metadata.csv").is_file():
        corpus.render_corpus(data_root, per_class=args.per_class, seed=args.seed, sr=sr, n_samples=3 * sr,
                             progress=not args.quiet)
    records = datasets.medley_solos_db(data_root)
    _print_summary(datasets.summary(records))

    from tfaudio.experiment import load_experiment
    from tfaudio.train import train

    run = out / "run"
    if run.exists():
        shutil.rmtree(run)  # the demo's own previous run (the marker says this folder is the demo's)
    cfg = load_experiment(find_config("neuroment_mel"), [
        "data.format=medley_solos_db", f"data.root={data_root}", f"train.epochs={args.epochs}",
        f"train.steps_per_epoch={args.steps}", "train.validation_steps=8", f"train.seed={args.seed}",
        f"train.verbose={0 if args.quiet else 2}"])
    print(f"\n[2/6] training the Neuroment activation CNN (log-mel, 1-4 instruments a mix) for {args.epochs} "
          f"epochs x {args.steps} steps of {cfg.train.batch_size} on-the-fly mixes into {run}")
    train(cfg, run)

    from tfaudio.evaluate import evaluate_and_report, sequence_example
    from tfaudio.run import open_run

    model, spec = open_run(run)
    report = out / "report"
    test = datasets.medley_solos_db(data_root, subset="test")
    print(f"\n[3/6] evaluating on 256 mixes of the test subset ({len(test)} clips) into {report}")
    data = evaluation_data(cfg, spec, test, 256, seed=args.seed + 1)
    metrics, _ = evaluate_and_report(model, spec, data, report, history_csv=run / "history.csv")
    _print_metrics(metrics)

    export_dir = out / "saved_model"
    print(f"\n[4/6] exporting a SavedModel that takes raw audio to {export_dir}")
    from tfaudio.export import export_saved_model

    export_saved_model(model, spec, export_dir)

    import soundfile as sf

    seq_s = args.sequence_seconds
    print(f"\n[5/6] rendering the 8 instruments played in turn ({seq_s:g} s each) and predicting their activations")
    mix, stems, names = corpus.render_sequence(seconds_each=seq_s, sr=sr, seed=args.seed + 7)
    seq_wav = out / "sequence.wav"
    wav = io.BytesIO()
    sf.write(wav, mix, sr, subtype="FLOAT", format="WAV")
    outputs.write_bytes(seq_wav, wav.getvalue())
    from tfaudio.inference import predict_file, write_prediction

    pred = predict_file(model, spec, seq_wav)
    files = write_prediction(pred, out / "prediction", "sequence", plot=True, overwrite=True)
    n = int(round(seq_s * sr))
    seq = sequence_example([stems[k, k * n:(k + 1) * n] for k in range(len(names))],
                           [spec.classes.index(c) for c in names], spec)
    seq_metrics, _ = evaluate_and_report(model, spec, [seq], report / "sequence", n_examples=1)
    from tfaudio import pretrained

    pre_metrics = None
    if "activations" in pretrained.available():  # the shipped model on the same sequence, for comparison
        pre_model, pre_spec = pretrained.load("activations")
        pre_seq = sequence_example([stems[k, k * n:(k + 1) * n] for k in range(len(names))],
                                   [pre_spec.classes.index(c) for c in names], pre_spec)
        pre_metrics, _ = evaluate_and_report(pre_model, pre_spec, [pre_seq], report / "sequence-pretrained",
                                             n_examples=1)
        write_prediction(predict_file(pre_model, pre_spec, seq_wav), out / "prediction", "sequence-pretrained",
                         plot=True, overwrite=True)

    print("\n[6/6] summary")
    best = json.loads((run / "checkpoints" / "state.json").read_text())["best"]
    lines = [
        f"  best validation loss (BCE): {best:.4f}",
        f"  test mixes: bce {metrics['bce']:.4f}, frame F1 {metrics['frame_f1']:.3f}",
        f"  sequence: bce {seq_metrics['bce']:.4f}, frame F1 {seq_metrics['frame_f1']:.3f}",
    ]
    leak = np.array(seq_metrics["leakage_matrix_db"], dtype=float)
    if np.isfinite(leak).any():
        lines.append(f"  sequence leakage: mean {np.nanmean(leak):.1f} dB (-60 dB = none)")
    if pre_metrics is not None:
        lines.append(f"  sequence, pretrained 'activations' model: bce {pre_metrics['bce']:.4f}, "
                     f"frame F1 {pre_metrics['frame_f1']:.3f} ({report / 'sequence-pretrained'})")
    print("\n".join(lines))
    print(f"  report and plots: {report} (metrics.json, noise/leakage matrices, examples, training curves)")
    print(f"  sequence report:  {report / 'sequence'}")
    print(f"  prediction:       {', '.join(str(f) for f in files)}")
    print(f"  SavedModel:       {export_dir}  (saved_model_cli show --all --dir {export_dir})")
    print(f"  TensorBoard:      tensorboard --logdir {run / 'logs'}")
    print(f"done in {(time.time() - t0) / 60:.1f} min")
    return 0


def sub_help(parser: argparse.ArgumentParser, name: str) -> None:
    """Print a command group's help (to stderr) when no action is given."""
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - argparse has no public accessor
        if name in action.choices:
            action.choices[name].print_help(sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in _PLUGIN_ERRORS:
        print(f"tfaudio: error: the {command!r} command did not load ({_PLUGIN_ERRORS[command]})", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {
        **args._plugin_handlers,
        "demo": cmd_demo,
        "train": cmd_train,
        "evaluate": cmd_evaluate,
        "predict": cmd_predict,
        "export": cmd_export,
        "info": cmd_info,
        ("corpus", "render"): cmd_corpus_render,
        ("data", "summary"): cmd_data_summary,
    }
    key = args.command
    if key in ("corpus", "data"):
        action = getattr(args, f"{key}_command")
        if action is None:
            sub_help(parser, key)
            return 2
        key = (key, action)
    _setup_logging(args.verbose, args.quiet)
    from tfaudio.errors import TfaudioError

    needs_tf = key not in (("corpus", "render"), ("data", "summary")) or getattr(args, "verify", None) == "full"
    if needs_tf and args.verbose < 1:
        _import_tensorflow_quietly()

    try:
        return handlers[key](args)
    except TfaudioError as e:
        print(f"tfaudio: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output (or input) path the checks did not foresee: still one line
        from tfaudio.outputs import describe

        print(f"tfaudio: error: {describe(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfaudio: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The `tfaudio` console command: `main`, then a fast exit once TensorFlow was loaded.

    Every output is already on disk (written, fsynced and renamed by `tfaudio.outputs`), so after
    flushing the streams and logging the process leaves with `os._exit`, skipping TensorFlow's
    teardown of its thread pools and modules (about 1 s on 2 cores). `tfaudio.cli.main` itself, as
    tests and scripts call it, returns normally."""
    code = main()
    if "tensorflow" in sys.modules:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
