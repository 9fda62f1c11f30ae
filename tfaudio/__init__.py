"""tfaudio: musical instrument recognition and activation detection with Keras/TensorFlow.

Importing the package is cheap: submodules (and TensorFlow) load on first use. The packages follow the data
flow: `io` (audio in, files out), `data` (data sets, the built-in corpus, tf.data pipelines), `features`,
`models`, `training`, `evaluation`, `inference`, `deploy` (saved forms, read and written), `separation`,
`pretrained` and `cli`; README's "Layout" lists every module and what each package may import.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("cli", "config", "data", "deploy", "errors", "evaluation", "experiment", "features", "inference", "io",
               "models", "pretrained", "run_folder", "separation", "spec", "training")


def __getattr__(name: str) -> Any:
    if name == "separate":  # the one call of `tfaudio.separation.separate`
        return importlib.import_module(f"{__name__}.separation").separate
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_SUBMODULES) + ["separate"])
