"""A BEIR corpus of four documents and two questions, for the commands that read one."""

from __future__ import annotations

import json
from pathlib import Path


def write_tiny_beir(root: Path) -> Path:
    folder = root / "tiny-beir"
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        ("d1", "Aspirin and heart attacks", "Daily low-dose aspirin reduces the risk of a first heart attack."),
        ("d2", "Vitamin D and bones", "Vitamin D supplements improve bone density in older adults."),
        ("d3", "Coffee and sleep", "Caffeine taken in the evening delays sleep onset by about forty minutes."),
        ("d4", "Exercise and mood", "Regular aerobic exercise lowers symptoms of depression."),
    ]
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in corpus)
    )
    queries = [("q1", "Does aspirin prevent heart attacks?"), ("q2", "caffeine delays falling asleep")]
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n")
    return folder
