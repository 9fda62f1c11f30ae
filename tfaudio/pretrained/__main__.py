"""`python -m tfaudio.pretrained package RUN NAME [REPORT ...]`: copy a trained run into the package as a
pretrained model, with the metrics of the given `tfaudio evaluate` reports in its card.json."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tfaudio import pretrained
from tfaudio.deploy.package import package_pretrained


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tfaudio.pretrained")
    sub = p.add_subparsers(dest="command", required=True)
    k = sub.add_parser("package", help="copy a run into the package as a pretrained model")
    k.add_argument("run")
    k.add_argument("name", choices=pretrained.NAMES)
    k.add_argument("reports", nargs="*", help="tfaudio evaluate report folders whose metrics.json go in the card")
    k.add_argument("--recipe", help="the pipeline that trained it (default: pipelines/pretrained_NAME.yaml)")
    args = p.parse_args(argv)
    reports = {}
    for r in args.reports:
        metrics = json.loads((Path(r) / "metrics.json").read_text())
        reports[Path(r).name] = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))
                                 or k in ("per_class", "per_class_accuracy", "thresholds", "per_class_ap",
                                          "per_class_auc")}
    config = json.loads((Path(args.run) / "config.json").read_text())
    card = {"name": args.name, "recipe": args.recipe or f"pipelines/pretrained_{args.name}.yaml", "config": config,
            "reports": reports}
    dest = package_pretrained(args.run, args.name, card)
    print(f"packaged {args.run} as pretrained {args.name!r} in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
