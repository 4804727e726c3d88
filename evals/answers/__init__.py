"""Answer quality: SQuAD, MTRAG-UN, documentation questions (docs-qa), and per-collection calibration."""
