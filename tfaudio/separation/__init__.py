"""Per-instrument stems guided by an activation model: activation-informed NMF (seed 001's proposal).

* `config`: `SeparationConfig`, every parameter (recorded beside the stems).
* `templates`: per-instrument spectral templates learnt from the built-in corpus's solo renders, cached.
* `nmf`: gated KL-NMF gains and Wiener-style soft masks (numpy, bounded iterations).
* `separate`: `separate(model, audio_or_path)` in one call, `Separator` (block by block, any length).
* `metrics`: SDR/SIR/SAR (`mir_eval.separation`) and `evaluate_separation` on songs with stems.
* `command`: `tfaudio separate MODEL AUDIO... --out DIR` (`add_arguments`, `main`).

Everything it takes from the rest of tfaudio goes through `_links`.
"""
from tfaudio.separation.config import SeparationConfig
from tfaudio.separation.separate import REST, Separation, Separator, separate

__all__ = ["SeparationConfig", "Separation", "Separator", "separate", "REST", "evaluate_separation",
           "separation_metrics"]


def __getattr__(name: str):
    if name in ("evaluate_separation", "separation_metrics"):
        from tfaudio.separation import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
