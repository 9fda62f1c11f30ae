"""Audio features computed inside TensorFlow graphs, matching librosa.

Every function takes audio of shape `(..., samples)` (a `tf.Tensor` or an
ndarray, cast to float32) and returns a float32 `tf.Tensor`, time-major:
`(..., frames, bins)`. Keyword names follow librosa's. Frames are centred as
librosa's ``center=True`` with zero padding (librosa >= 0.10's
``pad_mode='constant'``), so `n` samples give ``1 + n // hop_length`` frames.
Features with one value per frame (RMS, spectral centroid, ...) return
`(..., frames, 1)`.

Each function has a registered, serializable Keras layer that gives the same
numbers (`LogMel`, `CQT`, ...). The layers never autocast their input: they
compute in float32, take logarithms in float32 and cast only the result to the
layer's compute dtype, so they work under a ``mixed_float16`` policy.

Constant matrices (mel filterbank, CQT kernels, resampling filters) are built
once with numpy/librosa, on first use, and cached.

Modules: `spectral` (input handling, STFT, dB, mel, MFCC, frequencies), `cqt`, `descriptors`,
`images`, `registry` (the feature kinds: function, arguments, output shape) and `layers`.
"""
from tfaudio.features.cqt import cqt, log_cqt
from tfaudio.features.descriptors import (rms, spectral_bandwidth, spectral_centroid, spectral_flatness, spectral_flux,
                                          spectral_rolloff, zero_crossing_rate)
from tfaudio.features.images import multiresolution_recurrence_plot, recurrence_plot, stacked_image
from tfaudio.features.layers import (CQT, MFCC, RMS, Log10Mel, LogCQT, LogMel, LogSTFT, MelSpectrogram,
                                     MultiresolutionRecurrencePlot, RecurrencePlot, SpectralBandwidth,
                                     SpectralCentroid, SpectralFlatness, SpectralFlux, SpectralRolloff, StackedImage,
                                     STFTMagnitude, ZeroCrossingRate)
from tfaudio.features.spectral import (amplitude_to_db, cqt_frequencies, fft_frequencies, log10_mel, log_mel,
                                       log_stft,
                                       mel_frequencies, melspectrogram, mfcc, num_frames, power_to_db,
                                       stft_magnitude)

__all__ = [
    "stft_magnitude", "log_stft", "melspectrogram", "log_mel", "log10_mel", "mfcc", "cqt", "log_cqt",
    "power_to_db", "amplitude_to_db",
    "rms", "zero_crossing_rate", "spectral_centroid", "spectral_bandwidth", "spectral_rolloff",
    "spectral_flatness", "spectral_flux",
    "stacked_image", "recurrence_plot", "multiresolution_recurrence_plot",
    "fft_frequencies", "mel_frequencies", "cqt_frequencies", "num_frames",
    "STFTMagnitude", "LogSTFT", "MelSpectrogram", "LogMel", "Log10Mel", "MFCC", "CQT", "LogCQT",
    "RMS", "ZeroCrossingRate", "SpectralCentroid", "SpectralBandwidth", "SpectralRolloff",
    "SpectralFlatness", "SpectralFlux", "StackedImage", "RecurrencePlot",
    "MultiresolutionRecurrencePlot",
]
