"""The feature layers: one registered Keras layer class per `registry.KINDS` entry, on one base class.

Re-exported by `tfaudio.features`; `LAYERS` maps each kind's name to its class. Each takes its function's
keyword arguments (the layer's config), computes in float32 and holds no weights.
"""
from __future__ import annotations

import inspect
from typing import Any, ClassVar

import keras
import tensorflow as tf

from tfaudio.features.registry import KINDS, Kind


class Feature(keras.layers.Layer):
    """Base of the feature layers: `kind.function` on float32 audio, the result cast to the compute dtype
    (so logarithms are taken in float32 under ``mixed_float16``). The constructor takes the function's
    keyword arguments (positionally too, in the function's order), cleans and checks them (`Kind.args`,
    building cached constant matrices once)."""

    kind: ClassVar[Kind]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        parameters = list(inspect.signature(cls.kind.function).parameters.values())[1:]  # after the audio
        cls.__signature__ = inspect.Signature([*parameters, inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)])

    def __init__(self, *args: Any, **kwargs: Any):
        arguments = inspect.signature(type(self)).bind(*args, **kwargs).arguments
        kwargs = arguments.pop("kwargs", {})
        kwargs.pop("autocast", None)
        super().__init__(autocast=False, **kwargs)
        self._args = self.kind.args(**arguments)

    def call(self, inputs: Any) -> tf.Tensor:
        out = self.kind.function(tf.cast(inputs, tf.float32), **self._args)
        return out if out.dtype == self.compute_dtype else tf.cast(out, self.compute_dtype)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({k: list(v) if isinstance(v, tuple) else v for k, v in self._args.items()})
        return config



@keras.saving.register_keras_serializable(package="tfaudio")
class STFTMagnitude(Feature):
    """`tfaudio.features.stft_magnitude` as a layer: `(batch, samples)` -> `(batch, frames, 1 + n_fft // 2)`."""

    kind = KINDS["stft_magnitude"]


@keras.saving.register_keras_serializable(package="tfaudio")
class LogSTFT(Feature):
    """`tfaudio.features.log_stft` as a layer: `(batch, samples)` -> `(batch, frames, 1 + n_fft // 2)` (dB)."""

    kind = KINDS["log_stft"]


@keras.saving.register_keras_serializable(package="tfaudio")
class MelSpectrogram(Feature):
    """`tfaudio.features.melspectrogram` as a layer: `(batch, samples)` -> `(batch, frames, n_mels)`."""

    kind = KINDS["melspectrogram"]


@keras.saving.register_keras_serializable(package="tfaudio")
class LogMel(Feature):
    """`tfaudio.features.log_mel` as a layer: `(batch, samples)` -> `(batch, frames, n_mels)` (dB)."""

    kind = KINDS["log_mel"]


@keras.saving.register_keras_serializable(package="tfaudio")
class Log10Mel(Feature):
    """`tfaudio.features.log10_mel` as a layer: `(batch, samples)` -> `(batch, frames, n_mels)`."""

    kind = KINDS["log10_mel"]


@keras.saving.register_keras_serializable(package="tfaudio")
class MFCC(Feature):
    """`tfaudio.features.mfcc` as a layer: `(batch, samples)` -> `(batch, frames, n_mfcc)`."""

    kind = KINDS["mfcc"]


@keras.saving.register_keras_serializable(package="tfaudio")
class CQT(Feature):
    """`tfaudio.features.cqt` as a layer: `(batch, samples)` -> `(batch, frames, n_bins)`."""

    kind = KINDS["cqt"]


@keras.saving.register_keras_serializable(package="tfaudio")
class LogCQT(Feature):
    """`tfaudio.features.log_cqt` as a layer: `(batch, samples)` -> `(batch, frames, n_bins)` (dB)."""

    kind = KINDS["log_cqt"]


@keras.saving.register_keras_serializable(package="tfaudio")
class RMS(Feature):
    """`tfaudio.features.rms` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    kind = KINDS["rms"]


@keras.saving.register_keras_serializable(package="tfaudio")
class ZeroCrossingRate(Feature):
    """`tfaudio.features.zero_crossing_rate` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    kind = KINDS["zero_crossing_rate"]


@keras.saving.register_keras_serializable(package="tfaudio")
class SpectralCentroid(Feature):
    """`tfaudio.features.spectral_centroid` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    kind = KINDS["spectral_centroid"]


@keras.saving.register_keras_serializable(package="tfaudio")
class SpectralBandwidth(Feature):
    """`tfaudio.features.spectral_bandwidth` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    kind = KINDS["spectral_bandwidth"]


@keras.saving.register_keras_serializable(package="tfaudio")
class SpectralRolloff(Feature):
    """`tfaudio.features.spectral_rolloff` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    kind = KINDS["spectral_rolloff"]


@keras.saving.register_keras_serializable(package="tfaudio")
class SpectralFlatness(Feature):
    """`tfaudio.features.spectral_flatness` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    kind = KINDS["spectral_flatness"]


@keras.saving.register_keras_serializable(package="tfaudio")
class SpectralFlux(Feature):
    """`tfaudio.features.spectral_flux` as a layer: `(batch, samples)` -> `(batch, frames, 1)`."""

    kind = KINDS["spectral_flux"]


@keras.saving.register_keras_serializable(package="tfaudio")
class StackedImage(Feature):
    """`tfaudio.features.stacked_image` as a layer: `(batch, samples)` -> `(batch, N, N)`."""

    kind = KINDS["stacked_image"]


@keras.saving.register_keras_serializable(package="tfaudio")
class RecurrencePlot(Feature):
    """`tfaudio.features.recurrence_plot` as a layer: `(batch, samples)` -> `(batch, samples, samples)`."""

    kind = KINDS["recurrence_plot"]


@keras.saving.register_keras_serializable(package="tfaudio")
class MultiresolutionRecurrencePlot(Feature):
    """`tfaudio.features.multiresolution_recurrence_plot` as a layer: `(batch, samples)` -> `(batch, size, size, channels)`."""

    kind = KINDS["multiresolution_recurrence_plot"]


#: The layer class of each kind, by the kind's name.
LAYERS: dict[str, type[Feature]] = {cls.kind.name: cls for cls in (
    STFTMagnitude,
    LogSTFT,
    MelSpectrogram,
    LogMel,
    Log10Mel,
    MFCC,
    CQT,
    LogCQT,
    RMS,
    ZeroCrossingRate,
    SpectralCentroid,
    SpectralBandwidth,
    SpectralRolloff,
    SpectralFlatness,
    SpectralFlux,
    StackedImage,
    RecurrencePlot,
    MultiresolutionRecurrencePlot,
)}
