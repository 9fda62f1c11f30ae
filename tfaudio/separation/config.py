"""`SeparationConfig`: every parameter of activation-informed NMF separation, recorded beside its outputs."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from tfaudio._checks import is_real
from tfaudio.errors import ConfigError

GUIDANCE = ("predicted", "none", "given")


@dataclasses.dataclass(frozen=True)
class SeparationConfig:
    """Activation-informed NMF (seed 001: the activations "for Non-Negative Matrix Factorization").

    Spectra: magnitude STFT with a Hann window of about `window_seconds` (the next power of two in
    samples at the input's rate), hop `n_fft / 4` (so that the inverse STFT reconstructs exactly).
    Templates: `components` spectral templates per instrument, learnt with scikit-learn's KL-NMF from
    `template_phrases` solo phrases of `template_seconds` each, rendered from the built-in corpus with
    `soundfont` at `template_sr` (`tfaudio.separation.templates`).
    Gains: `iterations` multiplicative KL updates; `guidance` "predicted" guides each instrument's gains by
    the model's activations, "none" leaves all gains free (plain NMF), "given" guides them by activations
    the caller passes (e.g. true ones). `penalty` None: hard gates, zero where the activation stays below
    `threshold` within `dilate_seconds`, free where it reaches it; a number λ: weighted, an L1 cost
    ``λ (1 - g)`` on the gains, ``g = min(1, a / threshold)`` of the (dilated) activation `a` (free where
    the model says playing, costly where it says silent, never forced to zero: the model's misses cost less). `adapt_templates`: also update the templates on the mix (initialised
    from the corpus); off, the frames are independent and block-wise processing equals whole-file.
    Masks: ``V_i^mask_power / sum_j V_j^mask_power`` (2: Wiener), applied to the mixture STFT, so the
    stems add up to the mix. `block_seconds`: audio separated per block (memory stays bounded).
    """

    window_seconds: float = 0.046
    components: int = 8
    iterations: int = 50
    guidance: str = "predicted"
    threshold: float = 0.5
    penalty: float | None = 0.3  # weighted, threshold 0.5: best of the settings tried on 4 merlin songs (RESULTS.md)
    dilate_seconds: float = 0.25
    mask_power: float = 2.0
    adapt_templates: bool = False
    block_seconds: float = 30.0
    soundfont: str = "timgm6mb"
    template_sr: int = 44100
    template_phrases: int = 6
    template_seconds: float = 4.0
    seed: int = 0

    def __post_init__(self) -> None:
        def positive(name: str, value: Any, most: float = 1e6) -> None:
            if not (is_real(value) and 0 < value <= most):
                raise ConfigError(f"separation.{name}: must be a number in (0, {most:g}], got {value!r}")

        for name, most in (("window_seconds", 1.0), ("block_seconds", 3600.0), ("template_seconds", 60.0),
                           ("mask_power", 10.0)):
            positive(name, getattr(self, name), most)
        for name, most in (("components", 64), ("iterations", 10000), ("template_phrases", 100),
                           ("template_sr", 192000)):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and 0 < v <= most):
                raise ConfigError(f"separation.{name}: must be an integer in 1..{most}, got {v!r}")
        if self.guidance not in GUIDANCE:
            raise ConfigError(f"separation.guidance: {self.guidance!r} is not one of {GUIDANCE}")
        if not (is_real(self.threshold) and 0 <= self.threshold <= 1):
            raise ConfigError(f"separation.threshold: must be in [0, 1], got {self.threshold!r}")
        if self.penalty is not None and not (is_real(self.penalty) and 0 <= self.penalty <= 1e6):
            raise ConfigError(f"separation.penalty: must be null or a number in [0, 1e6], got {self.penalty!r}")
        if not (is_real(self.dilate_seconds) and 0 <= self.dilate_seconds <= 10):
            raise ConfigError(f"separation.dilate_seconds: must be in [0, 10], got {self.dilate_seconds!r}")
        if self.block_seconds < 4 * self.window_seconds:
            raise ConfigError("separation.block_seconds: must be at least four windows")

    def n_fft(self, sr: int) -> int:
        """STFT length at rate `sr`: the power of two nearest `window_seconds` (at least 64)."""
        n = max(1.0, self.window_seconds * sr)
        return max(64, 1 << int(round(math.log2(n))))

    def hop(self, sr: int) -> int:
        """STFT hop at rate `sr`: a quarter of `n_fft` (Hann, 75 % overlap: exact overlap-add)."""
        return self.n_fft(sr) // 4
