"""The one registry of feature kinds: name -> function, argument schema, output shape, Keras layer.

`tfaudio.features.layers` writes every layer against it; `tfaudio.config.FeatureConfig` (`compute`,
`n_features`) and `tfaudio.models.blocks.feature_layer` look their kind up in `KINDS`.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable

import tensorflow as tf

from tfaudio._checks import integer, optional_non_negative, positive
from tfaudio.features.cqt import _cqt_args, _cqt_plan, cqt, log_cqt
from tfaudio.features.descriptors import (rms, spectral_bandwidth, spectral_centroid, spectral_flatness, spectral_flux,
                                          spectral_rolloff, zero_crossing_rate)
from tfaudio.features.images import _mrp_args, multiresolution_recurrence_plot, recurrence_plot, stacked_image
from tfaudio.features.spectral import (_dct_matrix, _mel_args, _mel_blocks, log10_mel, log_mel, log_stft,
                                       melspectrogram, mfcc, stft_magnitude)

Args = dict[str, Any]


def _as_given(check: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """`check` the value but keep it as given (so the layer's config holds it unchanged)."""
    return lambda name, value: (check(name, value), value)[1]


#: How a layer cleans each argument (by name; others are kept as given): the values its config holds.
COERCE: dict[str, Callable[[str, Any], Any]] = {
    **dict.fromkeys(("hop_length", "n_mels", "n_mfcc", "dct_type", "n_bins", "bins_per_octave", "frame_length",
                     "lag", "size"), integer),
    "n_fft": lambda name, value: integer(name, value, 2),
    **dict.fromkeys(("ref", "amin", "power", "p", "filter_scale", "gain"), positive),
    **dict.fromkeys(("fmin", "lifter", "sparsity", "threshold", "roll_percent"), lambda _, value: float(value)),
    **dict.fromkeys(("center", "htk"), lambda _, value: bool(value)),
    "res_type": lambda _, value: str(value),
    "fmax": lambda _, value: None if value is None else float(value),
    "window_sizes": lambda name, value: tuple(integer(name, w) for w in value),
    "sr": _as_given(positive),
    "top_db": _as_given(optional_non_negative),
}


def _pick(fn: Callable, args: Args, **renamed: str) -> Any:
    """`fn` called with the arguments its parameters name (`renamed`: parameter -> argument)."""
    return fn(**{p: args[renamed.get(p, p)] for p in inspect.signature(fn).parameters})


@dataclasses.dataclass(frozen=True)
class Kind:
    """A feature kind: `function` audio `(..., samples)` -> `(..., *out)` and its Keras layer `layer_name`."""

    function: Callable[..., tf.Tensor]  # the public function (eager calls run through cached graphs)
    layer_name: str  # its class in `tfaudio.features.layers`, registered as "tfaudio>{layer_name}"
    out: str  # the output's axes after the leading ones (for docstrings)
    per_frame: Callable[[Args], int] | None = None  # bins per frame from the arguments (None: not `(frames, bins)`)
    check: Callable[[Args], Any] = lambda args: None  # checks the cleaned arguments, building cached constants

    @property
    def name(self) -> str:
        return self.function.__name__

    @functools.cached_property
    def defaults(self) -> Args:
        """Each argument after the audio and its default, from the function's signature."""
        return {p.name: p.default for p in list(inspect.signature(self.function).parameters.values())[1:]}

    def args(self, **kwargs: Any) -> Args:
        """Every argument (defaults updated with `kwargs`) cleaned by `COERCE` and checked: what a layer holds."""
        args = {k: COERCE.get(k, lambda _, v: v)(k, kwargs.get(k, v)) for k, v in self.defaults.items()}
        self.check(args)
        return args

    def bins(self, **kwargs: Any) -> int | None:
        """Bins per frame of the output for these arguments (defaults for the others); None for an image."""
        return None if self.per_frame is None else self.per_frame({**self.defaults, **kwargs})

    @property
    def layer(self) -> type:
        from tfaudio.features import layers

        return getattr(layers, self.layer_name)


def _mel(args: Args) -> None:
    _mel_blocks(*_pick(_mel_args, args))


def _mfcc(args: Args) -> None:
    _mel_blocks(*_pick(_mel_args, args, norm="mel_norm"))
    _pick(_dct_matrix, args)


def _cqt(args: Args) -> None:
    _cqt_plan(*_pick(_cqt_args, args))


#: Every feature kind, by function name.
KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind(stft_magnitude, "STFTMagnitude", "frames, 1 + n_fft // 2", lambda args: args["n_fft"] // 2 + 1),
    Kind(log_stft, "LogSTFT", "frames, 1 + n_fft // 2", lambda args: args["n_fft"] // 2 + 1),
    Kind(melspectrogram, "MelSpectrogram", "frames, n_mels", lambda args: args["n_mels"], _mel),
    Kind(log_mel, "LogMel", "frames, n_mels", lambda args: args["n_mels"], _mel),
    Kind(log10_mel, "Log10Mel", "frames, n_mels", lambda args: args["n_mels"], _mel),
    Kind(mfcc, "MFCC", "frames, n_mfcc", lambda args: args["n_mfcc"], _mfcc),
    Kind(cqt, "CQT", "frames, n_bins", lambda args: args["n_bins"], _cqt),
    Kind(log_cqt, "LogCQT", "frames, n_bins", lambda args: args["n_bins"], _cqt),
    Kind(rms, "RMS", "frames, 1", lambda args: 1),
    Kind(zero_crossing_rate, "ZeroCrossingRate", "frames, 1", lambda args: 1),
    Kind(spectral_centroid, "SpectralCentroid", "frames, 1", lambda args: 1),
    Kind(spectral_bandwidth, "SpectralBandwidth", "frames, 1", lambda args: 1),
    Kind(spectral_rolloff, "SpectralRolloff", "frames, 1", lambda args: 1),
    Kind(spectral_flatness, "SpectralFlatness", "frames, 1", lambda args: 1),
    Kind(spectral_flux, "SpectralFlux", "frames, 1", lambda args: 1),
    Kind(stacked_image, "StackedImage", "N, N"),
    Kind(recurrence_plot, "RecurrencePlot", "samples, samples"),
    Kind(multiresolution_recurrence_plot, "MultiresolutionRecurrencePlot", "size, size, channels",
         check=lambda args: _pick(_mrp_args, args)),
)}
