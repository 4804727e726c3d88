"""Public evaluation sets in their published formats: BEIR (corpus/queries/qrels) and SQuAD v1.1 JSON."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from knowledge.documents import SourceDocument
from knowledge.errors import KnowledgeError


@dataclass(frozen=True, slots=True)
class EvalQuery:
    id: str
    text: str
    relevant: dict[str, int]
    """source_uri → relevance grade."""


@dataclass(frozen=True, slots=True)
class EvalSet:
    name: str
    documents: list[SourceDocument]
    queries: list[EvalQuery]


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        raise KnowledgeError(f"{path} not found; is this a BEIR data set folder?")
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_beir(folder: Path, *, split: str = "test") -> EvalSet:
    """A BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``; only queries judged in the split."""
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise KnowledgeError(f"no qrels for split {split!r} in {folder} (available: {', '.join(available) or 'none'})")
    judged: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            judged.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    documents = [
        SourceDocument(source_uri=str(doc["_id"]), title=str(doc.get("title") or ""), text=str(doc.get("text") or ""))
        for doc in _read_jsonl(folder / "corpus.jsonl")
    ]
    queries = [
        EvalQuery(id=str(q["_id"]), text=str(q["text"]), relevant=judged[str(q["_id"])])
        for q in _read_jsonl(folder / "queries.jsonl")
        if str(q["_id"]) in judged
    ]
    return EvalSet(name=f"beir:{folder.name}:{split}", documents=documents, queries=queries)


def load_squad(path: Path) -> EvalSet:
    """SQuAD v1.1 JSON: every paragraph is a document; each question's gold document is its paragraph."""
    if not path.is_file():
        raise KnowledgeError(f"{path} not found; pass SQuAD's dev-v1.1.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    documents: list[SourceDocument] = []
    queries: list[EvalQuery] = []
    for article in data["data"]:
        title = str(article["title"]).replace("_", " ")
        for index, paragraph in enumerate(article["paragraphs"]):
            uri = f"{article['title']}#{index}"
            documents.append(SourceDocument(source_uri=uri, title=title, text=str(paragraph["context"])))
            queries.extend(
                EvalQuery(id=str(qa["id"]), text=str(qa["question"]), relevant={uri: 1}) for qa in paragraph["qas"]
            )
    return EvalSet(name=f"squad:{path.name}", documents=documents, queries=queries)
