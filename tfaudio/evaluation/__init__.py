"""Evaluation as the literature does it: `metrics` (pure numpy/scikit-learn/sed_eval), `clips` (a model on
clip examples and mixes: `evaluate_run`, `evaluate_and_report`), `songs` (whole songs with stems:
`evaluate_songs`), `inputs` (what a run is evaluated on), `report` (metrics.json and plots).

Imports: io, spec, data, inference (below it); nothing above (separation, training, cli).
"""
