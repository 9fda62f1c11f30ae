"""tfaudio: musical instrument recognition and activation detection with Keras/TensorFlow.

Importing the package is cheap: submodules (and TensorFlow) load on first use. The packages are
`features` (feature functions, layers and their one registry), `models` (the model zoo) and `inference`
(audio of any length -> predictions); README's "Layout" lists every module and who may import it.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("audio", "config", "corpus", "data", "datasets", "device_mixing", "draws", "errors", "evaluate",
               "experiment", "export", "features", "headers", "inference", "labels", "models", "outputs", "plots",
               "precision", "pretrained", "run", "train")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_SUBMODULES))
