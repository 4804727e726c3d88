"""Answer quality on public data sets (SQuAD, MTRAG): reference answers, metrics, and the evaluation runs."""
