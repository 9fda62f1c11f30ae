"""The `tfaudio` command line: one module per command (`demo`, `corpus`, `train`, `evaluate`, `predict`,
`separate`, `export`, `info`, `data`), plus commands that other packages register (`tfaudio tune` comes from `tuning`).

The commands hold no library logic: each parses its arguments and calls the library. TensorFlow is imported
only by the commands that need it (`tfaudio --help` stays instant). Imports: everything of tfaudio.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from tfaudio import __version__
from tfaudio.cli import common, corpus, data, demo, evaluate, export, info, predict, separate, train

log = logging.getLogger("tfaudio")

#: The commands in the order `tfaudio --help` lists them (plugins come after `info`, then `data`).
COMMANDS = (demo, corpus, train, evaluate, predict, separate, export, info)


def build_parser() -> argparse.ArgumentParser:
    p = common.Parser(
        prog="tfaudio",
        description="Musical instrument recognition and activation detection with Keras/TensorFlow.",
    )
    p.add_argument("--version", action="version", version=f"tfaudio {__version__}")
    common.add_common(p, defaults=True)
    shared = argparse.ArgumentParser(add_help=False)
    common.add_common(shared, defaults=False)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=common.sub_parser(shared))
    for command in COMMANDS:
        command.add_parser(sub)
    p.set_defaults(_plugin_handlers=_load_plugins(sub))
    data.add_parser(sub)
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
        "demo": demo.cmd_demo,
        "train": train.cmd_train,
        "evaluate": evaluate.cmd_evaluate,
        "predict": predict.cmd_predict,
        "separate": separate.cmd_separate,
        "export": export.cmd_export,
        "info": info.cmd_info,
        ("corpus", "render"): corpus.cmd_corpus_render,
        ("data", "summary"): data.cmd_data_summary,
    }
    key = args.command
    if key in ("corpus", "data"):
        action = getattr(args, f"{key}_command")
        if action is None:
            sub_help(parser, key)
            return 2
        key = (key, action)
    common.setup_logging(args.verbose, args.quiet)
    from tfaudio.errors import TfaudioError

    needs_tf = key not in (("corpus", "render"), ("data", "summary")) or getattr(args, "verify", None) == "full"
    if needs_tf and args.verbose < 1:
        common.import_tensorflow_quietly()

    try:
        return handlers[key](args)
    except TfaudioError as e:
        print(f"tfaudio: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an output (or input) path the checks did not foresee: still one line
        from tfaudio.io.outputs import describe

        print(f"tfaudio: error: {describe(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfaudio: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The `tfaudio` console command: `main`, then a fast exit once TensorFlow was loaded.

    Every output is already on disk (written, fsynced and renamed by `tfaudio.io.outputs`), so after
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
