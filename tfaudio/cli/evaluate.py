"""`tfaudio evaluate`: a model (any saved form) on a data set or songs with stems; metrics.json and plots."""
from __future__ import annotations

import argparse
from pathlib import Path

from tfaudio._checks import positive_int_arg
from tfaudio.cli.common import MODEL_HELP, TRUST_HELP

# The commands import TensorFlow-backed modules inside their functions: `tfaudio --help` imports no TensorFlow.


def add_parser(sub: argparse._SubParsersAction) -> None:
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


def print_metrics(metrics: dict) -> None:
    keys = ("accuracy", "balanced_accuracy", "f1_micro", "f1_macro", "lrap", "map", "bce", "frame_f1")
    shown = {k: metrics[k] for k in keys if metrics.get(k) is not None}
    print("  " + "  ".join(f"{k} {v:.4f}" for k, v in shown.items()))
    if metrics.get("threshold_source"):
        print(f"  F1 thresholds: {metrics['threshold_source']}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tfaudio.io import outputs
    from tfaudio.deploy.loading import model_form

    model_form(args.run)  # any saved form of a model; else one line, before anything is written
    with outputs.command_dir(args.out, "report folder (metrics.json and plots)", outputs.owned_dir):  # or tfaudio's
        return _evaluate(args)  # a failure leaves no empty --out that this call made


def _evaluate(args: argparse.Namespace) -> int:
    from tfaudio.evaluation.inputs import evaluation_data, evaluation_records
    from tfaudio.deploy.loading import open_model

    loaded = open_model(args.run, args.which, args.precision, trust=args.trust_model)
    print(f"model: {loaded.description}")
    cfg = loaded.experiment()  # the run's data, splits and mixing (exports carry the config)
    model, spec = loaded.model, loaded.spec
    history = loaded.run_dir / "history.csv" if loaded.run_dir is not None else None
    history = history if history is not None and history.is_file() else None
    if args.data and (args.format or cfg.data.format) == "stems":  # songs with per-instrument stems
        from tfaudio.data import datasets
        from tfaudio.data.records import ScanResult
        from tfaudio.evaluation.songs import evaluate_songs_and_report, songs_summary

        songs = datasets.load_records("stems", args.data, strict=cfg.data.strict)
        split = args.split if args.split is not None else (
            cfg.data.test_split if any(r.subset == cfg.data.test_split for r in songs) else None)
        songs = ScanResult([r for r in songs if split is None or r.subset == split], songs.skipped)
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
    from tfaudio.evaluation.clips import evaluate_and_report

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
    print_metrics(metrics)
    print(f"report: {Path(args.out) / 'metrics.json'} and {len(files) - 1} plot(s) in {args.out}")
    return 0
