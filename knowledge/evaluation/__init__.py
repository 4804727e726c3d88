"""Retrieval quality on public data sets (BEIR, SQuAD): loading, metrics, and the evaluation run."""
