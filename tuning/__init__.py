"""KerasTuner hypermodels and searches built on tfaudio.

- `tuning.hypermodels`: a `keras_tuner.HyperModel` for each tfaudio model family
  (`hypermodel_for(cfg, classes)`).
- `tuning.search`: `tune(cfg, out, tuner=..., max_trials=...)`, what `tfaudio tune` runs
  (resumable, distributed with KerasTuner's chief/worker mode; see docs/scaling.md).
- `tuning.results`: the results table (CSV and markdown).

Nothing heavy is imported until a name is used.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "hypermodel_for": "tuning.hypermodels", "hypermodel_class": "tuning.hypermodels",
    "TfaudioHyperModel": "tuning.hypermodels", "HYPERMODELS": "tuning.hypermodels", "FAMILIES": "tuning.hypermodels",
    "tune": "tuning.search", "SearchConfig": "tuning.search", "TuneResult": "tuning.search",
    "make_tuner": "tuning.search", "objective_for": "tuning.search",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tuning' has no attribute {name!r}")
