"""Measurement: how well and how fast Threadwise answers, on public data sets and synthetic load.

Nothing here runs in production; only the command line (``threadwise eval``, ``threadwise bench``) and the
Slack benchmark import it. Layers, top to bottom (import-linter checks them):

- ``evals.answers`` (SQuAD, MTRAG-UN, docs-qa, calibration), ``evals.retrieval`` (BEIR) and ``evals.speed``
  (benches) are independent of each other;
- ``evals.load`` reads the public data sets and loads them into throwaway collections;
- ``evals.toolkit`` is what all of them share: progress, percentiles, the stand-in chat model.
"""
