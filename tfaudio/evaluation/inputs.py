"""What a run is evaluated on: the records of a split or a data set, and the examples made of them."""
from __future__ import annotations
from tfaudio.data import datasets
from tfaudio.data import pipeline
from tfaudio.data.sources import split_names, split_records
from tfaudio.evaluation.clips import clip_examples
import dataclasses




def evaluation_data(cfg, spec, records, mixes: int, seed: int):
    """What a run is evaluated on: each file whole (clip runs: windows with 50% hop, aggregated into
    the file's scores) or fixed mixes of the records' windows (activation runs)."""

    if spec.task in ("single_label", "multi_label"):
        return clip_examples(records, spec)
    mix = dataclasses.replace(cfg.mix, window=spec.window)
    feats = spec.features if spec.model_input == "features" else dataclasses.replace(spec.features, kind="none")
    return pipeline.mixtures(records, spec.classes, mix, seed=seed, features=feats, batch_size=32,
                         num_mixes=max(32, mixes // 32 * 32), rerandomize=False)


def evaluation_records(cfg, data_root: str | None, fmt: str | None, split: str | None):
    """(records, what they are, e.g. "test split") to evaluate a run on.

    Without `data_root`: a split of the run's own data by role ("training", "validation", "test",
    default "test") or by the data's name for it. With it: `split` of that data set (default: its
    test split; a folder or manifest with no subsets is evaluated whole). A split with no records is
    an error naming it and the choices.
    """
    if not data_root:
        role = split or "test"
        return split_records(cfg, role), f"{role} split"
    run_fmt = "medley_solos_db" if cfg.data.format == "corpus" else cfg.data.format
    fmt = fmt or run_fmt
    if split == "all" and fmt != "irmas" and fmt != "nsynth":  # every file of a data set the run never saw
        records = datasets.load_records(fmt, data_root, strict=cfg.data.strict)
        if records:
            return records, f"all of {data_root}"
    if split is None:
        if fmt in ("folder", "csv"):
            records = datasets.load_records(fmt, data_root, strict=cfg.data.strict)
            if not datasets.subsets_of(records):
                return records, f"whole of {data_root}"
        split = (split_names(cfg)[2] if fmt == run_fmt else None) or "test"
    records = datasets.load_records(fmt, data_root, split=split, strict=cfg.data.strict)
    if not records:
        from tfaudio.errors import DatasetError

        raise DatasetError(data_root, f"the {split!r} split has no usable files")
    return records, f"{split} split of {data_root}"
