"""`tfaudio data summary`: scan a data set, count files per subset and class, report bad files."""
from __future__ import annotations

import argparse
import json
from tfaudio.cli.common import print_counts


# The commands import TensorFlow-backed modules inside their functions: `tfaudio --help` imports no TensorFlow.


def add_parser(sub: argparse._SubParsersAction) -> None:
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


def cmd_data_summary(args: argparse.Namespace) -> int:
    from tfaudio.data import datasets

    records = datasets.load_records(args.format, args.root, split=args.split, strict=args.strict,
                                    verify=args.verify)
    counts = datasets.summary(records)
    skipped = getattr(records, "skipped", [])
    if args.json:
        print(json.dumps({"counts": counts, "records": len(records),
                          "skipped": [{"path": p, "problem": m} for p, m in skipped]}, indent=2))
        return 0
    print_counts(counts)
    if skipped:
        print(f"skipped {len(skipped)} file(s):")
        for path, problem in skipped:
            print(f"  {path}: {problem}")
    return 0
