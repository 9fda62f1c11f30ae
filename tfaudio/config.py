"""Frozen dataclass configs, one per concern, passed explicitly and written as JSON beside outputs."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Mapping, TypeVar

from tfaudio.errors import ConfigError

T = TypeVar("T")

FEATURE_KINDS = ("log_mel", "mel", "cqt", "stft", "mfcc", "none")
FEATURE_SCALES = ("db", "linear")


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """A spectral front end, seed 001 §4.2.3 by default (44.1 kHz, 2048/1024 Hann, centred).

    `kind`: "log_mel" (128 bins), "mel" (power), "cqt" (192 bins, 24 per octave from 27.5 Hz),
    "stft" (1025 bins), "mfcc" or "none" (raw audio).

    `scale`: how "cqt" and "stft" magnitudes are scaled: "db" (default: amplitude_to_db, ref 1, floored
    `top_db` below each example's maximum, like "log_mel") or "linear" (the magnitudes themselves).
    "log_mel" and "mfcc" are always in dB ("linear" is refused: use "mel" for linear mel power),
    "mel" is always power and "none" raw audio.
    """

    kind: str = "log_mel"
    sr: int = 44100
    n_fft: int = 2048
    hop_length: int = 1024
    n_mels: int = 128
    fmin: float = 27.5
    fmax: float = 20000.0
    top_db: float = 60.0
    n_bins: int = 192
    bins_per_octave: int = 24
    n_mfcc: int = 20
    # Seed 001 feeds the CNN "spectrograms" of three "frequency transformation methods" compared as
    # alternatives ("a STFT spectrum, a CQT spectrum and a mel-frequency spectrum", §4.2.1), names only
    # the mel one "2.3 Logarithmic Mel-Spectrogram" and states no scaling for any input; its only dB figure
    # is the 60-dB range of the outputs ("We limited the dynamic range of our network output (and the
    # labels) to 60dB"). So CQT and STFT are in dB with the same `top_db` floor as the log-mel input by
    # default, one input scaling for the three; "linear" keeps raw magnitudes.
    scale: str = "db"

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise ConfigError(f"feature kind {self.kind!r} is not one of {FEATURE_KINDS}")
        if self.scale not in FEATURE_SCALES:
            raise ConfigError(f"feature scale {self.scale!r} is not one of {FEATURE_SCALES}")
        if self.scale == "linear" and self.kind in ("log_mel", "mfcc"):
            raise ConfigError(f"feature kind {self.kind!r} is in dB: scale 'linear' does not apply "
                              "(use kind 'mel' for linear mel power)")
        for name in ("sr", "n_fft", "hop_length", "n_mels", "n_bins", "bins_per_octave", "n_mfcc"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"feature {name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.fmin < self.fmax <= self.sr / 2:
            raise ConfigError(f"feature fmin/fmax must satisfy 0 <= fmin < fmax <= sr/2, "
                              f"got {self.fmin}, {self.fmax} at sr {self.sr}")

    @property
    def n_features(self) -> int:
        """Bins per frame (0 for raw audio)."""
        return {"log_mel": self.n_mels, "mel": self.n_mels, "cqt": self.n_bins, "stft": self.n_fft // 2 + 1,
                "mfcc": self.n_mfcc, "none": 0}[self.kind]

    def n_frames(self, n_samples: int) -> int:
        """Frames of a centred framing of `n_samples` samples."""
        return 1 + int(n_samples) // self.hop_length

    def window_samples(self, n_frames: int) -> int:
        """Samples of a window that gives exactly `n_frames` centred frames (16 -> 15360 at hop 1024)."""
        return (int(n_frames) - 1) * self.hop_length

    def compute(self, y):
        """Features of `y` `(..., samples)` -> `(..., frames, bins)` (raw audio for kind "none")."""
        from tfaudio import features as F

        if self.kind == "none":
            return y
        common = dict(sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length)
        mel = dict(common, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax)
        # `tfaudio.models.blocks.feature_layer` is the same dispatch as layers: keep the two in step
        if self.kind == "stft":
            if self.scale == "db":
                return F.log_stft(y, n_fft=self.n_fft, hop_length=self.hop_length, top_db=self.top_db)
            return F.stft_magnitude(y, n_fft=self.n_fft, hop_length=self.hop_length)
        if self.kind == "mel":
            return F.melspectrogram(y, **mel)
        if self.kind == "log_mel":
            return F.log_mel(y, top_db=self.top_db, **mel)
        if self.kind == "mfcc":
            return F.mfcc(y, n_mfcc=self.n_mfcc, **mel)
        cqt = dict(sr=self.sr, hop_length=self.hop_length, fmin=self.fmin, n_bins=self.n_bins,
                   bins_per_octave=self.bins_per_octave)
        if self.scale == "db":
            return F.log_cqt(y, top_db=self.top_db, **cqt)
        return F.cqt(y, **cqt)


@dataclasses.dataclass(frozen=True)
class MixConfig:
    """On-the-fly mixing, seed 001 §4.1.3: 1-4 distinct instruments, levels max(N(0.5, 0.01), 0) + 1e-8,
    divided by their sum when it exceeds 1. Windows are `window` samples long (15360 = 16 frames).
    """

    n_min: int = 1
    n_max: int = 4
    level_mean: float = 0.5
    level_var: float = 0.01
    eps: float = 1e-8
    window: int = 15360
    window_hop: int | None = None  # hop between windows cut from a clip (default: the window)
    min_rms_db: float | None = -60.0  # drop silent windows (RMS in dBFS); None keeps all
    range_db: float = 60.0  # activation labels: dynamic range mapped to [0, 1]
    ref: float = 1.0  # activation labels: 0 dB reference RMS

    def __post_init__(self) -> None:
        if not 1 <= self.n_min <= self.n_max:
            raise ConfigError(f"mixing needs 1 <= n_min <= n_max, got n_min={self.n_min}, n_max={self.n_max}")
        if self.level_var < 0 or self.window <= 0 or (self.window_hop is not None and self.window_hop <= 0):
            raise ConfigError("mixing level_var must be >= 0 and window/window_hop positive")
        if self.range_db <= 0 or self.ref <= 0:
            raise ConfigError("mixing range_db and ref must be positive")


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Augmentation, all off by default. Gains in dB, shifts in samples, masks in frames/bins, times in
    seconds, frequencies in Hz. Every `(low, high)` range is drawn uniformly per example (frequencies
    log-uniformly); every `*_prob` is the chance that an example gets that effect.

    The recording chain (`tfaudio.data.recording_effects`, `band_limit`, `add_noise`): reverb with a
    synthetic impulse response, EQ (spectral tilt and peaking/shelving bands), a compressor, tanh drive,
    low-/high-pass band-limiting and (coloured) background noise. `preset="recording_chain"` switches the
    whole chain on at `PRESETS`' probabilities; it fills only the fields left unset.
    """

    gain_db: tuple[float, float] | None = None
    max_shift: int = 0
    snr_db: tuple[float, float] | None = None
    time_masks: int = 0
    time_mask_width: int = 4
    freq_masks: int = 0
    freq_mask_width: int = 8
    preset: str | None = None
    # room reverb: RT60 (s) at and below 1 kHz, shortened above by 2^(-damping x octaves above 1 kHz);
    # pre-delay (s) of the tail; wet = the tail's share of the impulse response's energy
    reverb_prob: float | None = None
    reverb_rt60: tuple[float, float] = (0.2, 1.2)
    reverb_damping: tuple[float, float] = (0.0, 0.5)
    reverb_predelay: tuple[float, float] = (0.0, 0.03)
    reverb_wet: tuple[float, float] = (0.1, 0.5)
    # EQ: tilt in dB per octave about 1 kHz, `eq_bands` peaking or shelving bands of `eq_gain_db` at `eq_hz`
    eq_prob: float | None = None
    eq_tilt_db: tuple[float, float] = (-3.0, 3.0)
    eq_bands: int = 3
    eq_gain_db: tuple[float, float] = (-9.0, 9.0)
    eq_hz: tuple[float, float] = (60.0, 12000.0)
    # band-limiting: low-pass (48 dB/octave) and high-pass (24 dB/octave) cutoffs
    lowpass_prob: float | None = None
    lowpass_hz: tuple[float, float] = (3000.0, 16000.0)
    highpass_prob: float | None = None
    highpass_hz: tuple[float, float] = (20.0, 300.0)
    # compressor: threshold in dB below the example's loudest 10-ms frame, ratio
    compress_prob: float | None = None
    compress_threshold_db: tuple[float, float] = (-30.0, -10.0)
    compress_ratio: tuple[float, float] = (2.0, 8.0)
    # drive: tanh(g x / peak), g in dB
    drive_prob: float | None = None
    drive_db: tuple[float, float] = (0.0, 18.0)
    # background noise (`snr_db`): its probability (unset: 1, as before) and colour, the exponent b of a
    # power spectrum ~ f^-b (0 white, 1 pink, 2 brown, -1 blue; None: white)
    noise_prob: float | None = None
    noise_color: tuple[float, float] | None = None

    # class attributes (no annotation: not fields)
    #: `preset` values: the fields each switches on. A preset fills only the fields left unset (None), so
    #: anything given beside it wins (`reverb_prob: 0` under a preset keeps reverb off).
    PRESETS = {
        "recording_chain": dict(reverb_prob=0.5, eq_prob=0.5, lowpass_prob=0.25, highpass_prob=0.25,
                                compress_prob=0.3, drive_prob=0.2, snr_db=(10.0, 40.0), noise_prob=0.5,
                                noise_color=(-1.0, 2.0)),
    }
    #: effect probabilities (None: unset; resolved to 0, i.e. off, except `noise_prob` to 1)
    PROBS = ("reverb_prob", "eq_prob", "lowpass_prob", "highpass_prob", "compress_prob", "drive_prob",
             "noise_prob")

    @staticmethod
    def _real(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < float("inf")

    def __post_init__(self) -> None:
        if self.preset is not None:
            if self.preset not in self.PRESETS:
                raise ConfigError(f"augment preset {self.preset!r} is not one of {sorted(self.PRESETS)}")
            for k, v in self.PRESETS[self.preset].items():
                if getattr(self, k) is None:
                    object.__setattr__(self, k, v)
        for name in self.PROBS:
            v = getattr(self, name)
            if v is None:
                v = 1.0 if name == "noise_prob" else 0.0
            if not self._real(v) or not 0 <= v <= 1:
                raise ConfigError(f"augment {name} must be a probability in [0, 1], got {v!r}")
            object.__setattr__(self, name, float(v))
        for name in ("gain_db", "snr_db"):
            v = getattr(self, name)
            if v is not None and (len(v) != 2 or v[0] > v[1]):
                raise ConfigError(f"augment {name} must be a (low, high) pair, got {v}")
        if min(self.max_shift, self.time_masks, self.freq_masks) < 0:
            raise ConfigError("augment counts and shifts must be >= 0")
        ranges = {  # name: (lowest allowed, highest allowed, what)
            "reverb_rt60": (1e-3, 30.0, "seconds in [0.001, 30]"),
            "reverb_damping": (0.0, 4.0, "in [0, 4]"),
            "reverb_predelay": (0.0, 1.0, "seconds in [0, 1]"),
            "reverb_wet": (0.0, 1.0, "in [0, 1]"),
            "eq_tilt_db": (-24.0, 24.0, "dB per octave in [-24, 24]"),
            "eq_gain_db": (-40.0, 40.0, "dB in [-40, 40]"),
            "eq_hz": (1.0, 1e5, "Hz in [1, 100000]"),
            "lowpass_hz": (1.0, 1e5, "Hz in [1, 100000]"),
            "highpass_hz": (1.0, 1e5, "Hz in [1, 100000]"),
            "compress_threshold_db": (-100.0, 0.0, "dB in [-100, 0]"),
            "compress_ratio": (1.0, 100.0, "in [1, 100]"),
            "drive_db": (0.0, 60.0, "dB in [0, 60]"),
            "noise_color": (-3.0, 3.0, "exponents in [-3, 3]"),
        }
        for name, (lo, hi, what) in ranges.items():
            v = getattr(self, name)
            if v is None and name == "noise_color":
                continue
            if (not isinstance(v, (tuple, list)) or len(v) != 2 or not all(self._real(x) for x in v)
                    or not lo <= v[0] <= v[1] <= hi):
                raise ConfigError(f"augment {name} must be a (low, high) pair of {what}, low <= high, got {v!r}")
            object.__setattr__(self, name, (float(v[0]), float(v[1])))
        if not isinstance(self.eq_bands, int) or isinstance(self.eq_bands, bool) or not 0 <= self.eq_bands <= 32:
            raise ConfigError(f"augment eq_bands must be an integer in [0, 32], got {self.eq_bands!r}")

    @property
    def chain_active(self) -> bool:
        """Whether any recording-chain effect (reverb, EQ, compressor, drive, low-/high-pass) is on."""
        return any(getattr(self, n) > 0 for n in self.PROBS if n != "noise_prob")

    @property
    def noise_active(self) -> bool:
        return bool(self.snr_db) and self.noise_prob > 0

    @property
    def waveform_active(self) -> bool:
        """Whether anything acts on the audio (everything but the SpecAugment masks)."""
        return bool(self.gain_db or self.max_shift or self.noise_active or self.chain_active)

    @property
    def active(self) -> bool:
        return bool(self.waveform_active or self.time_masks or self.freq_masks)


def to_dict(config: Any) -> dict[str, Any]:
    """A config (nested dataclasses) as plain JSON-able data."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=list))


def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Build `cls` from a mapping, refusing unknown keys with a clear error."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} key(s) {unknown}; known: {sorted(fields)}")
    kwargs = {}
    for k, v in data.items():
        if isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{cls.__name__}: {e}") from None


def write_json(config: Any, path: str | os.PathLike) -> Path:
    """Write a resolved config as JSON (`tfaudio.outputs.write_text`: a unique temporary name, then rename)."""
    from tfaudio import outputs

    data = to_dict(config) if dataclasses.is_dataclass(config) else config
    return outputs.write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
