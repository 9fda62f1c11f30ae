"""Per-instrument stems guided by an activation model: activation-informed NMF (seed 001's proposal).

* `config`: `SeparationConfig`, every parameter (recorded beside the stems).
* `templates`: per-instrument spectral templates learnt from the built-in corpus's solo renders, cached.
* `nmf`: gated KL-NMF gains and Wiener-style soft masks (numpy, bounded iterations).
* `separate`: `separate(model, audio_or_path)` in one call, `Separator` (block by block, any length).
* `metrics`: SDR/SIR/SAR (`mir_eval.separation`) and `evaluate_separation` on songs with stems.
* `files`: a file separated into a folder of stems, as one set of files (`tfaudio separate`, `tfaudio.cli.separate`).

Imports: io, data, inference, deploy (loading), evaluation (song references); nothing above (training, cli).
"""
from tfaudio.separation.config import SeparationConfig
from tfaudio.separation.separate import REST, Separation, Separator, separate

from tfaudio.separation.metrics import evaluate_separation, separation_metrics

__all__ = ["SeparationConfig", "Separation", "Separator", "separate", "REST", "evaluate_separation",
           "separation_metrics"]
