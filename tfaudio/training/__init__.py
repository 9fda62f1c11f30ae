"""Training: `train` (one experiment into a run folder), `strategy` (tf.distribute), `callbacks` (atomic
checkpoints, history, backup), `resume` (what a resumed run may change).

Imports: everything below it (data, models, evaluation for thresholds, run folders); nothing above (cli).
"""
