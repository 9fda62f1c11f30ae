"""`tfaudio train`: one experiment (a pipelines/ YAML) into a run folder."""
from __future__ import annotations

import argparse
import sys


# The commands import TensorFlow-backed modules inside their functions: `tfaudio --help` imports no TensorFlow.


def add_parser(sub: argparse._SubParsersAction) -> None:
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


class _ListPipelines(argparse.Action):
    """`tfaudio train --list`: each shipped experiment's name, task and model, then exit."""

    def __call__(self, parser, namespace, values, option_string=None):
        import yaml

        from tfaudio.experiment import pipelines

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


def cmd_train(args: argparse.Namespace) -> int:
    from tfaudio.experiment import find_config
    from tfaudio.experiment import load_experiment, read_yaml
    from tfaudio.training.strategy import is_chief
    from tfaudio.training.resume import resume_config
    from tfaudio.training.train import train

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
