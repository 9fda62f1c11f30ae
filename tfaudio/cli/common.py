"""What the commands share: the parser classes, -v/-q, help texts, logging set-up, the quiet TensorFlow import."""
from __future__ import annotations

import argparse
import logging
import re
import sys

def add_common(p: argparse.ArgumentParser, defaults: bool) -> None:
    """-v/-q, accepted before or after the subcommand."""
    kw = {} if defaults else {"default": argparse.SUPPRESS}
    p.add_argument("-v", "--verbose", action="count", help="more log output (-vv for debug)",
                   **({"default": 0} if defaults else kw))
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars",
                   **({"default": False} if defaults else kw))


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (`tfaudio: error: ...`), not the usage block."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"tfaudio: error: {self.prog}: {message} (see {self.prog} --help)\n")


def sub_parser(common: argparse.ArgumentParser) -> type:
    class SubParser(Parser):
        def __init__(self, *a, **kw):
            kw.setdefault("parents", [common])
            super().__init__(*a, **kw)

    return SubParser


TRUST_HELP = ("load a SavedModel without checking its ops first: a SavedModel is a program, and tfaudio otherwise "
              "refuses any op its own exporter never writes (file, network, Python, ...); only for models whose "
              "source you trust")


MODEL_HELP = ("a run folder written by tfaudio train, a .keras file, a SavedModel folder or .tflite/.onnx file written "
              "by tfaudio export, or a pretrained model: msdb, irmas, activations")


def setup_logging(verbose: int, quiet: bool) -> None:
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
TF_LOG_LINE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] )")


def import_tensorflow_quietly() -> None:
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
            keep = [ln for ln in captured.read().splitlines(keepends=True) if not TF_LOG_LINE.match(ln)]
            if keep:
                sys.stderr.buffer.write(b"".join(keep))
                sys.stderr.flush()


def print_counts(counts: dict[str, dict[str, int]]) -> None:
    classes = sorted({c for sub in counts.values() for c in sub})
    subsets = list(counts)
    width = max([len(c) for c in classes] + [5])
    print(f"{'class':<{width}}  " + "  ".join(f"{s:>10}" for s in subsets) + f"  {'total':>7}")
    for c in classes:
        row = [counts[s].get(c, 0) for s in subsets]
        print(f"{c:<{width}}  " + "  ".join(f"{n:>10}" for n in row) + f"  {sum(row):>7}")
    totals = [sum(counts[s].values()) for s in subsets]
    print(f"{'total':<{width}}  " + "  ".join(f"{n:>10}" for n in totals) + f"  {sum(totals):>7}")
