"""`tfaudio demo`: the main job on the built-in corpus, end to end (render, train, evaluate, export, predict)."""
from __future__ import annotations

import argparse
from pathlib import Path

from tfaudio._checks import positive_int_arg, seconds
from tfaudio.cli.common import print_counts
from tfaudio.cli.evaluate import print_metrics

# The commands import TensorFlow-backed modules inside their functions: `tfaudio --help` imports no TensorFlow.


def add_parser(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="the main job on the built-in corpus: render, train the activation CNN "
                                     "on mixes, evaluate, export, predict")
    d.add_argument("--out", default="tfaudio-demo", help="output folder (default: %(default)s)")
    d.add_argument("--per-class", type=positive_int_arg, default=20, help="clips per class (default: %(default)s)")
    d.add_argument("--epochs", type=positive_int_arg, default=20, help="training epochs (default: %(default)s)")
    d.add_argument("--steps", type=positive_int_arg, default=100, help="steps per epoch (default: %(default)s)")
    d.add_argument("--sequence-seconds", type=float, default=5.0,
                   help="seconds per instrument in the predicted sequence (default: %(default)s)")
    d.add_argument("--seed", type=int, default=0)


def cmd_demo(args: argparse.Namespace) -> int:
    """Render the corpus, train the activation CNN on mixes, evaluate, export, predict a sequence."""
    from tfaudio.evaluation.inputs import evaluation_data
    from tfaudio.experiment import find_config
    import io
    import json
    import shutil
    import time

    import numpy as np

    from tfaudio.data import corpus, datasets, multitrack

    from tfaudio.io import outputs

    seconds("--sequence-seconds", args.sequence_seconds)
    t0 = time.time()
    out = Path(args.out)
    marker = out / ".tfaudio-demo"  # what the demo made, and may replace when run again
    if out.exists() and not outputs.is_empty_dir(out) and not marker.is_file():
        raise outputs.OutputError(f"{out}: exists, is not empty and is not an earlier demo's folder; choose a new "
                                  "--out (nothing there is overwritten)")
    outputs.output_dir(out, "demo folder")
    outputs.write_text(marker, "written by tfaudio demo\n")
    data_root = out / "corpus"
    sr = 44100
    print(f"[1/6] rendering the built-in corpus ({args.per_class} clips x 8 instruments, 3 s at {sr} Hz) "
          f"into {data_root}")
    if not (data_root / "Medley-solos-DB_metadata.csv").is_file():
        corpus.render_corpus(data_root, per_class=args.per_class, seed=args.seed, sr=sr, n_samples=3 * sr,
                             progress=not args.quiet)
    records = datasets.medley_solos_db(data_root)
    print_counts(datasets.summary(records))

    from tfaudio.experiment import load_experiment
    from tfaudio.training.train import train

    run = out / "run"
    if run.exists():
        shutil.rmtree(run)  # the demo's own previous run (the marker says this folder is the demo's)
    cfg = load_experiment(find_config("neuroment_mel"), [
        "data.format=medley_solos_db", f"data.root={data_root}", f"train.epochs={args.epochs}",
        f"train.steps_per_epoch={args.steps}", "train.validation_steps=8", f"train.seed={args.seed}",
        f"train.verbose={0 if args.quiet else 2}"])
    print(f"\n[2/6] training the Neuroment activation CNN (log-mel, 1-4 instruments a mix) for {args.epochs} "
          f"epochs x {args.steps} steps of {cfg.train.batch_size} on-the-fly mixes into {run}")
    train(cfg, run)

    from tfaudio.evaluation.clips import evaluate_and_report, sequence_example
    from tfaudio.deploy.loading import open_run

    model, spec = open_run(run)
    report = out / "report"
    test = datasets.medley_solos_db(data_root, subset="test")
    print(f"\n[3/6] evaluating on 256 mixes of the test subset ({len(test)} clips) into {report}")
    data = evaluation_data(cfg, spec, test, 256, seed=args.seed + 1)
    metrics, _ = evaluate_and_report(model, spec, data, report, history_csv=run / "history.csv")
    print_metrics(metrics)

    export_dir = out / "saved_model"
    print(f"\n[4/6] exporting a SavedModel that takes raw audio to {export_dir}")
    from tfaudio.deploy.savedmodel import export_saved_model

    export_saved_model(model, spec, export_dir)

    import soundfile as sf

    seq_s = args.sequence_seconds
    print(f"\n[5/6] rendering the 8 instruments played in turn ({seq_s:g} s each) and predicting their activations")
    mix, stems, names = multitrack.render_sequence(seconds_each=seq_s, sr=sr, seed=args.seed + 7)
    seq_wav = out / "sequence.wav"
    wav = io.BytesIO()
    sf.write(wav, mix, sr, subtype="FLOAT", format="WAV")
    outputs.write_bytes(seq_wav, wav.getvalue())
    from tfaudio.inference import predict_file, write_prediction

    pred = predict_file(model, spec, seq_wav)
    files = write_prediction(pred, out / "prediction", "sequence", plot=True, overwrite=True)
    n = int(round(seq_s * sr))
    seq = sequence_example([stems[k, k * n:(k + 1) * n] for k in range(len(names))],
                           [spec.classes.index(c) for c in names], spec)
    seq_metrics, _ = evaluate_and_report(model, spec, [seq], report / "sequence", n_examples=1)
    from tfaudio import pretrained

    pre_metrics = None
    if "activations" in pretrained.available():  # the shipped model on the same sequence, for comparison
        pre_model, pre_spec = open_run("activations")
        pre_seq = sequence_example([stems[k, k * n:(k + 1) * n] for k in range(len(names))],
                                   [pre_spec.classes.index(c) for c in names], pre_spec)
        pre_metrics, _ = evaluate_and_report(pre_model, pre_spec, [pre_seq], report / "sequence-pretrained",
                                             n_examples=1)
        write_prediction(predict_file(pre_model, pre_spec, seq_wav), out / "prediction", "sequence-pretrained",
                         plot=True, overwrite=True)

    print("\n[6/6] summary")
    best = json.loads((run / "checkpoints" / "state.json").read_text())["best"]
    lines = [
        f"  best validation loss (BCE): {best:.4f}",
        f"  test mixes: bce {metrics['bce']:.4f}, frame F1 {metrics['frame_f1']:.3f}",
        f"  sequence: bce {seq_metrics['bce']:.4f}, frame F1 {seq_metrics['frame_f1']:.3f}",
    ]
    leak = np.array(seq_metrics["leakage_matrix_db"], dtype=float)
    if np.isfinite(leak).any():
        lines.append(f"  sequence leakage: mean {np.nanmean(leak):.1f} dB (-60 dB = none)")
    if pre_metrics is not None:
        lines.append(f"  sequence, pretrained 'activations' model: bce {pre_metrics['bce']:.4f}, "
                     f"frame F1 {pre_metrics['frame_f1']:.3f} ({report / 'sequence-pretrained'})")
    print("\n".join(lines))
    print(f"  report and plots: {report} (metrics.json, noise/leakage matrices, examples, training curves)")
    print(f"  sequence report:  {report / 'sequence'}")
    print(f"  prediction:       {', '.join(str(f) for f in files)}")
    print(f"  SavedModel:       {export_dir}  (saved_model_cli show --all --dir {export_dir})")
    print(f"  TensorBoard:      tensorboard --logdir {run / 'logs'}")
    print(f"done in {(time.time() - t0) / 60:.1f} min")
    return 0
