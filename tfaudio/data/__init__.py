"""Data: data sets and the built-in corpus, and the tf.data pipelines that turn them into examples.

`records`, `datasets`, `sources` (what a run reads); the corpus: `phrases`, `corpus`, `gus`, `multitrack`;
tf.data: `windows`, `mixing`, `augment`, `labels`, `draws`, `pipeline`, `device_mixing`.

Imports: errors, io, features, config, experiment (sources); nothing above (inference, deploy, training, cli).
"""
