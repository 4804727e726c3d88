"""Speed measurements: retrieval latency on large synthetic corpora and the database write path."""
