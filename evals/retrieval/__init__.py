"""Retrieval quality on BEIR-format data sets: nDCG, recall and MRR per search mode."""
