"""Speed: ingest, retrieval and the agent under load, on synthetic data."""
