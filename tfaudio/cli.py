"""The `tfaudio` command line. TensorFlow is imported only by the subcommands that need it."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

from tfaudio import __version__

log = logging.getLogger("tfaudio")


def _programs(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated GM program numbers, got {text!r}") from None


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _add_common(p: argparse.ArgumentParser, defaults: bool) -> None:
    """-v/-q, accepted before or after the subcommand."""
    kw = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("-v", "--verbose", action="count", help="more log output (-vv for debug)",
                   **({"default": 0} if defaults else kw))
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars",
                   **({"default": False} if defaults else kw))


def _sub_parser(common: argparse.ArgumentParser) -> type:
    class SubParser(argparse.ArgumentParser):
        def __init__(self, *a, **kw):
            kw.setdefault("parents", [common])
            super().__init__(*a, **kw)

    return SubParser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tfaudio",
        description="Musical instrument recognition and activation detection with Keras/TensorFlow.",
    )
    p.add_argument("--version", action="version", version=f"tfaudio {__version__}")
    _add_common(p, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, defaults=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_sub_parser(common))

    d = sub.add_parser("demo", help="the main job on the built-in corpus (render it and summarise it)")
    d.add_argument("--out", default="tfaudio-demo", help="output folder (default: %(default)s)")
    d.add_argument("--per-class", type=_positive, default=20, help="clips per class (default: %(default)s)")
    d.add_argument("--seed", type=int, default=0)

    c = sub.add_parser("corpus", help="the built-in SoundFont corpus")
    csub = c.add_subparsers(dest="corpus_command", metavar="ACTION")
    r = csub.add_parser("render", help="render a solo-instrument corpus in the Medley-Solos-DB layout")
    r.add_argument("out", help="output folder")
    r.add_argument("--soundfont", default=None, help="an .sf2/.sf3 file (default: pretty_midi's TimGM6mb.sf2)")
    r.add_argument("--per-class", type=_positive, default=20, help="clips per class (default: %(default)s)")
    r.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    r.add_argument("--programs", type=_programs, default=None,
                   help="comma-separated GM programs (0-127) instead of the 8 Medley-Solos-DB classes")
    r.add_argument("--sr", type=_positive, default=22050, help="sample rate (default: %(default)s)")
    r.add_argument("--samples", type=_positive, default=65536, help="samples per clip (default: %(default)s)")

    t = sub.add_parser("train", help="train one experiment (a pipelines/ YAML) into a run folder")
    t.add_argument("config", help="experiment YAML, or the name of one in pipelines/ (e.g. neuroment_mel)")
    t.add_argument("--out", required=True, help="run folder: checkpoints, logs, resolved config")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value by its dotted key, e.g. --set train.epochs=2 (repeatable)")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its last epoch")
    t.add_argument("--strategy", choices=["default", "mirrored", "multi_worker"], default=None,
                   help="tf.distribute strategy (default: train.strategy of the config); "
                        "multi_worker reads TF_CONFIG")

    s = sub.add_parser("data", help="inspect a data set")
    ssub = s.add_subparsers(dest="data_command", metavar="ACTION")
    ds = ssub.add_parser("summary", help="scan a data set, count files per subset and class, report bad files")
    ds.add_argument("root", help="data-set root (or a manifest .csv for --format csv)")
    ds.add_argument("--format", required=True, choices=["medley_solos_db", "irmas", "nsynth", "folder", "csv"])
    ds.add_argument("--split", default=None, help="subset or split (irmas: train/test; nsynth: train/valid/test)")
    ds.add_argument("--verify", default="header", choices=["none", "header", "full"],
                    help="how hard to check each file: full decodes it (default: %(default)s)")
    ds.add_argument("--strict", action="store_true", help="stop at the first bad file instead of skipping it")
    ds.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose < 2:  # keep TensorFlow's C++ chatter down unless debugging
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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

    instruments = corpus.DEFAULT_INSTRUMENTS
    if args.programs:
        instruments = tuple(corpus.gm_instrument(p) for p in args.programs)
    meta = corpus.render_corpus(args.out, instruments, per_class=args.per_class, seed=args.seed,
                                soundfont=args.soundfont, sr=args.sr, n_samples=args.samples,
                                progress=not args.quiet)
    records = datasets.medley_solos_db(args.out)
    print(f"rendered {len(records)} clips into {args.out} (metadata: {meta})")
    _print_summary(datasets.summary(records))
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


def find_config(name: str) -> Path:
    """A config path as given, or `pipelines/NAME.yaml` of this checkout."""
    p = Path(name)
    if p.is_file():
        return p
    repo = Path(__file__).resolve().parent.parent / "pipelines"
    for cand in (repo / name, repo / f"{name}.yaml"):
        if cand.is_file():
            return cand
    from tfaudio.errors import ConfigError

    known = sorted(q.stem for q in repo.glob("*.yaml")) if repo.is_dir() else []
    raise ConfigError(f"{name}: config file not found" + (f"; pipelines has {known}" if known else ""))


def cmd_train(args: argparse.Namespace) -> int:
    from tfaudio.experiment import load_experiment

    cfg = load_experiment(find_config(args.config), args.overrides)  # validates before any work
    from tfaudio.train import train

    run = train(cfg, args.out, resume=args.resume, strategy=args.strategy)
    print(f"run written to {run}: checkpoints/best.keras, checkpoints/last.keras, config.json, "
          f"history.csv, logs/ (tensorboard --logdir {run / 'logs'})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tfaudio import corpus, datasets

    out = Path(args.out)
    data = out / "corpus"
    print(f"[1/2] rendering the built-in corpus ({args.per_class} clips x 8 classes) into {data}")
    corpus.render_corpus(data, per_class=args.per_class, seed=args.seed, progress=not args.quiet)
    print("[2/2] reading it back as Medley-Solos-DB")
    records = datasets.medley_solos_db(data)
    _print_summary(datasets.summary(records))
    print(f"\n{len(records)} clips, {len(datasets.classes_of(records))} classes, in {data}")
    return 0


def sub_help(parser: argparse.ArgumentParser, name: str) -> None:
    """Print a command group's help (to stderr) when no action is given."""
    for action in parser._subparsers._group_actions:  # noqa: SLF001 - argparse has no public accessor
        if name in action.choices:
            action.choices[name].print_help(sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {
        "demo": cmd_demo,
        "train": cmd_train,
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

    try:
        return handlers[key](args)
    except TfaudioError as e:
        print(f"tfaudio: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfaudio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
