"""One frozen dataclass config per model family, written as JSON beside checkpoints.

Every default equals the seed's setting where the seed gives one; where the seed is silent
the choice is stated in the field comment and in the builder's docstring.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from tfaudio._checks import positive_fields, positive_int_tuple_fields, rate_fields
from tfaudio.config import FeatureConfig, from_dict
from tfaudio.errors import ConfigError

INPUTS = ("features", "audio")

@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Fields every model shares: classes, output kind, and what the model takes as input."""

    n_classes: int = 8
    multi_label: bool = False  # True: sigmoid per class; False: softmax over classes
    input: str = "features"  # "features": precomputed features; "audio": feature layers inside the model

    def __post_init__(self) -> None:
        if self.input not in INPUTS:
            raise ConfigError(f"{type(self).__name__}.input must be one of {INPUTS}, got {self.input!r}")
        positive_fields(self, "n_classes")


@dataclasses.dataclass(frozen=True)
class FramesConfig(ModelConfig):
    """A model over a `(frames, bins)` feature sequence; `features` says how audio becomes it.

    `n_frames=None` leaves the time axis free (sequence models only). `n_bins=None` means
    `features.n_features`. With `input="audio"` the model takes `(n_samples,)` audio;
    `n_samples=None` means `features.window_samples(n_frames)` (exactly `n_frames` centred frames),
    and a given `n_samples` must give `n_frames` frames (`build`/`model_config` derive `n_frames`
    from `n_samples` when only `n_samples` is given).
    """

    features: FeatureConfig = FeatureConfig()
    n_frames: int | None = 128  # ~2.97 s at 44.1 kHz, hop 1024 (an IRMAS excerpt is 3 s)
    n_bins: int | None = None
    n_samples: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.features, Mapping):
            object.__setattr__(self, "features", from_dict(FeatureConfig, self.features, "features"))
        if not isinstance(self.features, FeatureConfig):
            raise ConfigError(f"{type(self).__name__}.features must be a FeatureConfig, got {self.features!r}")
        positive_fields(self, "n_frames", "n_bins", "n_samples")
        name = type(self).__name__
        if self.input == "audio":
            if self.features.kind == "none":
                raise ConfigError(f'{name}: input="audio" needs a spectral features.kind, got "none"')
            if self.n_bins is not None and self.n_bins != self.features.n_features:
                raise ConfigError(f"{name}: n_bins={self.n_bins} but features "
                                  f"{self.features.kind!r} give {self.features.n_features} bins")
        if self.n_bins is None:
            if self.features.n_features == 0:
                raise ConfigError(f'{name}: give n_bins (features.kind is "none")')
            object.__setattr__(self, "n_bins", self.features.n_features)
        if self.n_samples is None:
            if self.n_frames is not None:
                object.__setattr__(self, "n_samples", self.features.window_samples(self.n_frames))
        elif self.n_frames is not None and self.features.n_frames(self.n_samples) != self.n_frames:
            raise ConfigError(f"{name}: n_samples={self.n_samples} gives {self.features.n_frames(self.n_samples)} "
                              f"frames at hop {self.features.hop_length}, not n_frames={self.n_frames}")


# --------------------------------------------------------------------------------------------
# seed 000: Goel, RNNs and CNNs on stacked images and multi-resolution recurrence plots


@dataclasses.dataclass(frozen=True)
class RNNConfig(FramesConfig):
    """Seed 000 `simple_rnn`, `gru`, `lstm`, `bilstm` (the cell comes from the model's name).

    The seed gives no sizes: one layer of 128 units (per direction), dropout 0.3 before the output.
    """

    units: tuple[int, ...] = (128,)
    dropout: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int_tuple_fields(self, "units")
        rate_fields(self, "dropout")


@dataclasses.dataclass(frozen=True)
class ImageCNNConfig(ModelConfig):
    """The image CNN shared by seed 000's `cnn_stacked`, `cnn_mrp` and the encoder of `cnn_lstm`.

    The seed gives no sizes: conv 3×3 + ReLU + 2×2 max-pool blocks of 16, 32, 64, 128 channels,
    global average pooling, a 128-unit ReLU embedding, dropout 0.5.
    """

    n_samples: int = 65536  # a Medley-Solos-DB clip (22050 Hz, 2.97 s): a 256×256 stacked image
    filters: tuple[int, ...] = (16, 32, 64, 128)
    kernel_size: int = 3
    pool_size: int = 2
    embedding: int = 128
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_fields(self, "n_samples", "kernel_size", "pool_size", "embedding")
        positive_int_tuple_fields(self, "filters")
        rate_fields(self, "dropout")


@dataclasses.dataclass(frozen=True)
class StackedCNNConfig(ImageCNNConfig):
    """Seed 000 `cnn_stacked`: the audio zero-padded to N² samples and reshaped row by row to N×N."""

    @property
    def image_size(self) -> int:
        """N = ceil(sqrt(n_samples))."""
        return math.isqrt(self.n_samples - 1) + 1


def _check_mrp(cfg: Any) -> None:
    positive_fields(cfg, "size")
    positive_int_tuple_fields(cfg, "window_sizes")
    bad = [w for w in cfg.window_sizes if w % cfg.size]
    if bad:
        raise ConfigError(f"{type(cfg).__name__}: window_sizes {bad} are not multiples of size={cfg.size}")


@dataclasses.dataclass(frozen=True)
class MRPCNNConfig(ImageCNNConfig):
    """Seed 000 `cnn_mrp`: a CNN over the multi-resolution recurrence plot, one channel a resolution.

    The plot is `tfaudio.features.multiresolution_recurrence_plot`: for each window size w, the
    recurrence plot `|x[i] - x[j]|` of the clip's centred w samples, average-pooled to
    `size`×`size` (the seed's "pooling layers to get the same size"). The seed gives no sizes:
    windows of 256, 512, 1024, 2048 samples, plots of 128×128.
    """

    window_sizes: tuple[int, ...] = (256, 512, 1024, 2048)
    size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_mrp(self)


@dataclasses.dataclass(frozen=True)
class CNNLSTMConfig(FramesConfig):
    """Seed 000 `cnn_lstm`: the MRP CNN's embedding sets the LSTM's h0 and c0 (one dense projection
    each, tanh for h0, linear for c0), and the LSTM (128 units) reads the frame sequence.
    The plot and the CNN are as in `MRPCNNConfig` (without its dropout); with `input="audio"` both
    come from the same clip.
    """

    window_sizes: tuple[int, ...] = (256, 512, 1024, 2048)
    size: int = 128
    filters: tuple[int, ...] = (16, 32, 64, 128)
    kernel_size: int = 3
    pool_size: int = 2
    embedding: int = 128
    units: int = 128
    dropout: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_mrp(self)
        positive_fields(self, "kernel_size", "pool_size", "embedding", "units")
        positive_int_tuple_fields(self, "filters")
        rate_fields(self, "dropout")


# --------------------------------------------------------------------------------------------
# seed 001: Neuroment activation CNN


@dataclasses.dataclass(frozen=True)
class ActivationCNNConfig(FramesConfig):
    """Seed 001 §4.3: conv pairs (16, 32, 64 channels; 3×3, 5×5, 7×7 kernels; stride 1, 'same',
    ReLU), each pair followed by a max-pool over frequency only (2, 2, 4; floor division),
    spatial dropout 0.1 after the first two pools, flatten, dense to instruments × frames, sigmoid.
    """

    n_classes: int = 8  # instruments
    multi_label: bool = True
    n_frames: int | None = 16
    filters: tuple[int, ...] = (16, 32, 64)
    kernel_sizes: tuple[int, ...] = (3, 5, 7)
    pools: tuple[int, ...] = (2, 2, 4)
    spatial_dropout: float = 0.1
    dropout_after: tuple[int, ...] = (1, 2)  # spatial dropout after these pools (1-based)

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int_tuple_fields(self, "filters", "kernel_sizes", "pools")
        positive_int_tuple_fields(self, "dropout_after", allow_empty=True)
        rate_fields(self, "spatial_dropout")
        if not len(self.filters) == len(self.kernel_sizes) == len(self.pools):
            raise ConfigError("ActivationCNNConfig: filters, kernel_sizes and pools need one entry per conv pair")
        if not self.multi_label:
            raise ConfigError("ActivationCNNConfig: activations are multi-label (sigmoid); multi_label must be True")
        if self.n_frames is None:
            raise ConfigError("ActivationCNNConfig: n_frames must be fixed (the output is instruments × frames)")
        if self.n_bins < math.prod(self.pools):
            raise ConfigError(f"ActivationCNNConfig: n_bins={self.n_bins} is smaller than the total pooling "
                              f"{math.prod(self.pools)}")

    @property
    def n_instruments(self) -> int:
        return self.n_classes


# --------------------------------------------------------------------------------------------
# seed 003: Avramidis et al., raw-waveform BiGRU and 1-D CNNs (IRMAS, 11 instruments, multi-label)


@dataclasses.dataclass(frozen=True)
class RawConfig(ModelConfig):
    """A raw-waveform model: `(n_samples,)` audio in, always (`input` is "audio")."""

    n_classes: int = 11  # IRMAS instruments
    multi_label: bool = True  # BCE loss (seed 003)
    input: str = "audio"
    n_samples: int = 66150  # 3 s at 22050 Hz (an IRMAS excerpt; seed: silent on the rate)

    def __post_init__(self) -> None:
        if self.input != "audio":
            raise ConfigError(f'{type(self).__name__}: raw-waveform models take input="audio", got {self.input!r}')
        super().__post_init__()
        positive_fields(self, "n_samples")


@dataclasses.dataclass(frozen=True)
class BiGRURawConfig(RawConfig):
    """Seed 003 `bigru_raw`: one BiGRU layer of 128 or 256 units, or two of 128 and 64; dropout 0.5;
    dense sigmoid output. The seed does not say how samples become steps: here the waveform is cut
    into non-overlapping frames of `frame_length` samples, one step each (66150 → 64 steps).
    """

    units: tuple[int, ...] = (128,)
    dropout: float = 0.5
    frame_length: int = 1024

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int_tuple_fields(self, "units")
        positive_fields(self, "frame_length")
        rate_fields(self, "dropout")
        if self.frame_length > self.n_samples:
            raise ConfigError(f"BiGRURawConfig: frame_length {self.frame_length} > n_samples {self.n_samples}")


@dataclasses.dataclass(frozen=True)
class RawCNNConfig(RawConfig):
    """Seed 003 1-D CNN cells: two identical conv1d layers, batch norm, LeakyReLU, max-pool.

    The seed gives no sizes: cells of 16, 32, 64, 128, 256 channels, kernel 3, pool 4
    (66150 samples → 64 steps), LeakyReLU slope 0.01, dropout 0.5 before the output.
    """

    filters: tuple[int, ...] = (16, 32, 64, 128, 256)
    kernel_size: int = 3
    pool_size: int = 4
    leaky_slope: float = 0.01
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int_tuple_fields(self, "filters")
        positive_fields(self, "kernel_size", "pool_size")
        rate_fields(self, "dropout")
        if self.n_samples < self.pool_size ** len(self.filters):
            raise ConfigError(f"{type(self).__name__}: n_samples={self.n_samples} is shorter than the total "
                              f"pooling {self.pool_size ** len(self.filters)}")


@dataclasses.dataclass(frozen=True)
class DCNNRawConfig(RawCNNConfig):
    """Seed 003 `dcnn_raw`: the cells, flatten, then two dense layers (a hidden one and the output)."""

    dense_units: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_fields(self, "dense_units")


@dataclasses.dataclass(frozen=True)
class RCNNRawConfig(RawCNNConfig):
    """Seed 003 `rcnn_raw`: the residual cells followed by a BiGRU (`gru_units` per layer)."""

    gru_units: tuple[int, ...] = (128,)

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int_tuple_fields(self, "gru_units")


# --------------------------------------------------------------------------------------------
# seed 004: Majjiga et al., CNN, Transformer, ResNet-18, SVM (4 classes)


@dataclasses.dataclass(frozen=True)
class TransformerConfig(FramesConfig):
    """Seed 004 `transformer`: encoder over log-mel frames, 3 layers, 8 heads, d_model 128,
    feed-forward 256, dropout 0.1, sinusoidal positions (max length 5000), mean pooling.
    """

    n_classes: int = 4
    n_layers: int = 3
    n_heads: int = 8
    d_model: int = 128
    d_ff: int = 256
    dropout: float = 0.1
    max_length: int = 5000

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_fields(self, "n_layers", "n_heads", "d_model", "d_ff", "max_length")
        rate_fields(self, "dropout")
        if self.d_model % self.n_heads:
            raise ConfigError(f"TransformerConfig: d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if self.n_frames is not None and self.n_frames > self.max_length:
            raise ConfigError(f"TransformerConfig: n_frames {self.n_frames} > max_length {self.max_length}")


@dataclasses.dataclass(frozen=True)
class ResNet18Config(FramesConfig):
    """Seed 004 `resnet18`: ResNet-18 with a one-channel 7×7/2 stem (torchvision's layout with one
    input channel), basic blocks 2-2-2-2 of 64-128-256-512 channels, global average pooling.
    No pretrained weights (the seed starts from ImageNet weights; none are loaded here).
    """

    n_classes: int = 4
    widths: tuple[int, ...] = (64, 128, 256, 512)
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    stem_kernel: int = 7
    stem_stride: int = 2
    stem_pool: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int_tuple_fields(self, "widths", "blocks")
        positive_fields(self, "stem_kernel", "stem_stride")
        if len(self.widths) != len(self.blocks):
            raise ConfigError("ResNet18Config: widths and blocks need one entry per stage")


@dataclasses.dataclass(frozen=True)
class SmallCNNConfig(FramesConfig):
    """Seed 004 `cnn_small`: three conv layers (16, 32, 64 channels, 3×3, 'same', ReLU), each followed
    by a 2×2 max-pool; flatten, dense 128 + ReLU, dropout 0.5, dense output. (Channel counts and
    kernel size: the seed is silent.)
    """

    n_classes: int = 4
    filters: tuple[int, ...] = (16, 32, 64)
    kernel_size: int = 3
    pool_size: int = 2
    hidden: int = 128
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int_tuple_fields(self, "filters")
        positive_fields(self, "kernel_size", "pool_size", "hidden")
        rate_fields(self, "dropout")
        if self.n_frames is None:
            raise ConfigError("SmallCNNConfig: n_frames must be fixed (the CNN flattens)")


@dataclasses.dataclass(frozen=True)
class CompactCNNConfig(FramesConfig):
    """`cnn_compact` (not from a seed): blocks of two 3×3 conv + BN + ReLU and a 2×2 max-pool at `filters`
    channels, mean and max pooling over the last map, dropout, dense output. Any `n_frames` (None: free)."""

    filters: tuple[int, ...] = (24, 48, 96, 144)
    dropout: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int_tuple_fields(self, "filters")
        rate_fields(self, "dropout")


@dataclasses.dataclass(frozen=True)
class SVMConfig(FramesConfig):
    """Seed 004 SVM baseline: MFCC matrices standardised, then a linear-kernel SVC.

    `pooling="stats"` (default) summarises each coefficient by mean and standard deviation over
    frames; `"flatten"` keeps the whole (padded/truncated) matrix as the seed does.
    """

    n_classes: int = 4
    features: FeatureConfig = FeatureConfig(kind="mfcc")
    kernel: str = "linear"
    C: float = 1.0
    pooling: str = "stats"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.multi_label:
            raise ConfigError("SVMConfig: the SVM baseline is single-label")
        if self.pooling not in ("stats", "flatten"):
            raise ConfigError(f'SVMConfig.pooling must be "stats" or "flatten", got {self.pooling!r}')
        if self.pooling == "flatten" and self.n_frames is None:
            raise ConfigError('SVMConfig: pooling="flatten" needs a fixed n_frames')
        positive_fields(self, "C")


# --------------------------------------------------------------------------------------------
# musicnn (Pons & Serra 2019), a backbone trained on real music (issue 21)

#: musicnn's front end: 16 kHz, 512/256 Hann, 96 Slaney mel bands, log10(1 + 10000 · power).
MUSICNN_FEATURES = FeatureConfig(kind="log10_mel", sr=16000, n_fft=512, hop_length=256, n_mels=96, fmin=0.0,
                                 fmax=8000.0)
#: The checkpoints of the musicnn wheel that `tfaudio.models.musicnn` ports, by architecture.
MUSICNN_WEIGHTS = {"musicnn": ("MTT_musicnn", "MSD_musicnn"), "vgg": ("MTT_vgg", "MSD_vgg")}
#: (pool size, strides) of the VGG's five blocks, as each trained graph has them (read off their .meta files).
VGG_POOLS = {"MTT": (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4))),
             "MSD": (((4, 1), (4, 1)), ((1, 4), (1, 4)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))}


@dataclasses.dataclass(frozen=True)
class MusicnnConfig(FramesConfig):
    """`musicnn`: musically motivated front end (timbral 7×38 and 7×67, temporal 128/64/32 × 1 filters),
    three dense 1-D conv layers with residuals, max+mean temporal pooling, dense back end (Pons & Serra 2019).

    `weights`: None (random) or a ported checkpoint, "MTT_musicnn" or "MSD_musicnn" (50 tags each).
    Any `n_frames` (None: free); musicnn was trained on 187 frames (3 s).
    """

    n_classes: int = 50
    multi_label: bool = True
    features: FeatureConfig = MUSICNN_FEATURES
    n_frames: int | None = 187
    frontend_filters: float = 1.6  # musicnn's num_filt: 204 timbral and 51 temporal filters
    midend_filters: int = 64
    backend_units: int = 200
    dropout: float = 0.5
    weights: str | None = None

    architecture = "musicnn"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_fields(self, "frontend_filters", "midend_filters", "backend_units")
        rate_fields(self, "dropout")
        _check_musicnn_weights(self)


@dataclasses.dataclass(frozen=True)
class MusicnnVGGConfig(FramesConfig):
    """`musicnn_vgg`: musicnn's VGG baseline, five 3×3 conv + BN + max-pool blocks on 187 × 96 frames.

    `pools`: the max-pool sizes and strides of the two trained graphs, "MTT" (the wheel's `models.py`) or "MSD"
    (its checkpoint pools time then frequency by 4 first); None: those of `weights` ("MTT" without weights).
    """

    n_classes: int = 50
    multi_label: bool = True
    features: FeatureConfig = MUSICNN_FEATURES
    n_frames: int | None = 187
    filters: int = 128
    dropout: float = 0.25
    dense_dropout: float = 0.5
    weights: str | None = None
    pools: str | None = None

    architecture = "vgg"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pools is None:
            object.__setattr__(self, "pools", "MSD" if (self.weights or "").startswith("MSD") else "MTT")
        if self.pools not in VGG_POOLS:
            raise ConfigError(f"MusicnnVGGConfig.pools must be one of {tuple(VGG_POOLS)}, got {self.pools!r}")
        if self.weights and not self.weights.startswith(self.pools):
            raise ConfigError(f"MusicnnVGGConfig: weights {self.weights!r} were trained with pools "
                              f"{self.weights[:3]!r}")
        positive_fields(self, "filters")
        rate_fields(self, "dropout", "dense_dropout")
        if self.n_frames is None:
            raise ConfigError("MusicnnVGGConfig: the VGG takes a fixed n_frames (musicnn's: 187)")
        _check_musicnn_weights(self)


def _check_musicnn_weights(cfg: Any) -> None:
    if cfg.weights is None:
        return
    names = MUSICNN_WEIGHTS[cfg.architecture]
    if cfg.weights not in names:
        raise ConfigError(f"{type(cfg).__name__}.weights must be one of {names} or None, got {cfg.weights!r}")
    if cfg.n_classes != 50 or cfg.n_bins != 96:
        raise ConfigError(f"{type(cfg).__name__}: weights {cfg.weights!r} need n_classes=50 and 96 mel bins")


@dataclasses.dataclass(frozen=True)
class MusicnnHeadConfig(FramesConfig):
    """`musicnn_head`: a trained head on the ported musicnn front and mid end (`backbone`'s weights).

    `output`: "clip" (max+mean pools over time -> `(n_classes,)`) or "frames" (per frame ->
    `(n_classes, frames)` sigmoid activations). `trainable`: which part of the backbone trains, "none"
    (frozen: its batch norms in inference mode), "midend" (the three 1-D convs) or "all". `representation`:
    what the head reads, "all" (front end and cnn1-3, 753 per frame, musicnn's own back end's input) or "cnn"
    (cnn1-3 alone, 192: transfers better to timbres far from the training ones). `head_layers` hidden dense
    layers of `head_units` (0: a linear head). With input "audio" the model takes 16-kHz audio.
    """

    features: FeatureConfig = MUSICNN_FEATURES
    n_frames: int | None = 187
    backbone: str = "MSD_musicnn"
    output: str = "clip"
    trainable: str = "none"
    representation: str = "all"
    head_layers: int = 1
    head_units: int = 256
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        if self.backbone not in MUSICNN_WEIGHTS["musicnn"]:
            raise ConfigError(f"{name}.backbone must be one of {MUSICNN_WEIGHTS['musicnn']}, got {self.backbone!r}")
        for field, choices in (("output", ("clip", "frames")), ("trainable", ("none", "midend", "all")),
                               ("representation", ("all", "cnn"))):
            if getattr(self, field) not in choices:
                raise ConfigError(f"{name}.{field} must be one of {choices}, got {getattr(self, field)!r}")
        if self.n_bins != 96:
            raise ConfigError(f"{name}: the backbone takes 96 mel bins, got {self.n_bins}")
        positive_fields(self, "head_units")
        if self.head_layers < 0:
            raise ConfigError(f"{name}.head_layers must be >= 0, got {self.head_layers}")
        rate_fields(self, "dropout")
