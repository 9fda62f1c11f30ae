"""`tfaudio tune`: registered into the `tfaudio` command line through the ``tfaudio.commands`` entry point
(setup.cfg), so the library never imports this package. Importing this module is cheap: KerasTuner and
TensorFlow load only when a search runs."""
from __future__ import annotations

import argparse
from typing import Callable

from tfaudio._checks import positive_int_arg


def register(sub: argparse._SubParsersAction) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add the `tune` subcommand to the `tfaudio` parser; returns its handler."""
    tu = sub.add_parser("tune", help="search one experiment's hyperparameters with KerasTuner (resumable)")
    tu.add_argument("config", help="experiment YAML, or the name of one in pipelines/ (e.g. neuroment_mel)")
    tu.add_argument("--tuner", choices=["random", "bayesian", "hyperband"], default="random",
                    help="search algorithm (default: %(default)s)")
    tu.add_argument("--max-trials", type=positive_int_arg, default=10,
                    help="trials in all (hyperband: a cap on its schedule) (default: %(default)s)")
    tu.add_argument("--out", required=True, help="search folder: results.csv/.md, best/ (SavedModel), tuner/; "
                    "running the command again resumes the search")
    tu.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config value by its dotted key, e.g. --set train.epochs=5 (repeatable)")
    tu.add_argument("--fix", action="append", default=[], metavar="HP=VALUE",
                    help="hold a hyperparameter at a value, e.g. --fix features=log_mel (repeatable)")
    tu.add_argument("--objective", default=None, help="metric to optimise (default: train.monitor)")
    tu.add_argument("--max-epochs", type=positive_int_arg, default=None,
                    help="hyperband: most epochs a trial trains (default: train.epochs)")
    tu.add_argument("--strategy", choices=["default", "mirrored"], default=None,
                    help="run each trial on one device or all local GPUs (default: train.strategy)")
    tu.add_argument("--overwrite", action="store_true", help="discard an earlier search in --out")
    tu.add_argument("--no-export", dest="export", action="store_false", help="do not export the best model")
    tu.add_argument("--trials-per-process", type=positive_int_arg, default=None, metavar="N",
                    help="run the trials in fresh child processes, N each, so memory TensorFlow keeps from "
                         "traced models is returned (default: all trials in this process)")
    return {"tune": cmd_tune}


def cmd_tune(args: argparse.Namespace) -> int:
    from tfaudio.experiment import find_config, load_experiment

    cfg = load_experiment(find_config(args.config), args.overrides)  # validates before any work
    from tuning import search
    result = search.tune(cfg, args.out, tuner=args.tuner, max_trials=args.max_trials,
                         fixed=search.parse_fixed(args.fix),
                         objective=args.objective, max_epochs=args.max_epochs, strategy=args.strategy,
                         overwrite=args.overwrite, export=args.export, trials_per_process=args.trials_per_process)
    if result.role == "worker":
        print(f"worker done: the chief writes the results to {result.out}")
        return 0
    best = result.best
    print(f"search written to {result.out}: results.csv, results.md" +
          (f"; best trial {best['trial']} ({result.objective} {best[result.objective]:.5g})" if best else "") +
          (f", exported to {result.best_dir}" if result.best_dir else ""))
    return 0
