"""The knowledge commands as a user runs them: ingest, search, collections, eval (on a tiny BEIR set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers.beir import write_tiny_beir
from tests.integration.helpers.cli import assert_no_traceback, env, run, tenant, write_docs

__all__ = ["env", "tenant"]  # fixtures used below

pytestmark = pytest.mark.slow  # each test runs `threadwise` in a process of its own (benchmarks too)


def test_ingest_search_list_delete(env: dict[str, str], tenant: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path)
    ingested = run("ingest", str(docs), "--collection", "handbook", "--tenant", tenant, **env)
    assert ingested.returncode == 0, ingested.stderr
    assert "handbook: 2 added, 0 updated, 0 unchanged, 1 skipped, 0 failed, 0 pruned" in ingested.stdout
    assert "skipped kb/bad.pdf" in ingested.stderr

    again = run("ingest", str(docs), "--collection", "handbook", "--tenant", tenant, **env)
    assert "0 added, 0 updated, 2 unchanged" in again.stdout

    found = run("search", "how do I connect to the VPN from home?", "--tenant", tenant, "--json", **env)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits[0]["source_uri"] == "kb/vpn.md"
    assert hits[0]["heading_path"] == "VPN › Connect from home"

    listed = json.loads(run("collections", "list", "--tenant", tenant, "--json", **env).stdout)
    assert [(c["name"], c["embedding_model"], c["dims"]) for c in listed] == [
        ("handbook", "local:all-MiniLM-L6-v2-int8", 384)
    ]

    deleted = run("collections", "delete", "handbook", "--tenant", tenant, "--yes", **env)
    assert deleted.returncode == 0 and "Deleted handbook" in deleted.stdout
    assert json.loads(run("collections", "list", "--tenant", tenant, "--json", **env).stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("search", ""), "the query is empty"),
        (("search", "hello", "--collection", "missing"), "no collection 'missing'"),
        (("search", "hello", "--mode", "fuzzy"), "use one of hybrid, vector, keyword"),
        (("collections", "delete", "missing", "--yes"), "no collection 'missing'"),
    ],
)
def test_bad_requests_get_one_clear_line(env: dict[str, str], tenant: str, args: tuple[str, ...], message: str) -> None:
    result = run(*args, "--tenant", tenant, **env)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert_no_traceback(result)


def test_eval_retrieval_prints_figures_for_every_mode(env: dict[str, str], tmp_path: Path) -> None:
    result = run("eval", "retrieval", "--beir", str(write_tiny_beir(tmp_path)), "--json", **env)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["documents"] == 4 and figures["chunks"] == 4
    assert [mode["mode"] for mode in figures["modes"]] == ["hybrid", "vector", "keyword"]
    for mode in figures["modes"]:
        assert mode["queries"] == 2
        assert mode["metrics"]["ndcg@10"] == 1.0 and mode["metrics"]["recall@1"] == 1.0, mode
        assert mode["search_ms"]["p50"] > 0
    # The throwaway collection is gone afterwards.
    listed = json.loads(run("collections", "list", "--tenant", "eval", "--json", **env).stdout)
    assert not [c for c in listed if c["name"].startswith("beir:tiny-beir")]


def test_eval_needs_exactly_one_data_set(env: dict[str, str]) -> None:
    result = run("eval", "retrieval", **env)
    assert result.returncode == 1 and "pass exactly one of --beir DIR or --squad FILE" in result.stderr


def test_bench_retrieval_prints_every_mode_and_cleans_up(env: dict[str, str]) -> None:
    result = run("bench", "retrieval", "--chunks", "1000", "--queries", "10", "--json", **env)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures["latency_ms"]) == {"hybrid", "vector", "keyword"}
    assert all(latency["p50"] > 0 for latency in figures["latency_ms"].values())
    assert figures["keyword_overlap_with_exact_at_10"] == 1.0  # 1,000 chunks: no term has 2,000 postings
    listed = run("collections", "list", "--tenant", "bench", "--json", **env)
    assert all(c["name"] != "synthetic-1000" for c in json.loads(listed.stdout))


def test_bench_ingest_compares_write_paths_and_cleans_up(env: dict[str, str], tmp_path: Path) -> None:
    result = run("bench", "ingest", "--beir", str(write_tiny_beir(tmp_path)), "--no-end-to-end", "--json", **env)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["documents"] == 4 and figures["chunks"] == 4
    for path in ("threadwise", "pgvector", "text_search_parse"):
        assert figures[f"{path}_chunks_per_second"] > 0, path
    assert figures["speedup"] > 0
    listed = run("collections", "list", "--tenant", "bench", "--json", **env)
    assert not [c for c in json.loads(listed.stdout) if c["name"].startswith("write-path-")]


def test_search_takes_a_query_that_starts_with_dashes(env: dict[str, str], tenant: str, tmp_path: Path) -> None:
    docs = tmp_path / "kb"
    docs.mkdir()
    (docs / "install.md").write_text("# Install\n\nRun `uv sync --frozen` to install exactly the locked versions.\n")
    assert run("ingest", str(docs), "--collection", "handbook", "--tenant", tenant, **env).returncode == 0

    options = ("--tenant", tenant, "--collection", "handbook", "--json")
    for args in (
        ("--frozen", *options),
        (*options, "--frozen"),
        ("--frozen --locked", *options),
        (*options, "--", "--frozen"),
    ):
        found = run("search", *args, **env)
        assert found.returncode == 0, found.stderr
        assert [hit["source_uri"] for hit in json.loads(found.stdout)] == ["kb/install.md"]

    # The command's own options keep working around such a query, and after `--` even they are the query.
    plain = run("search", "--limit", "1", "--frozen", "-c", "handbook", "--tenant", tenant, **env, COLUMNS="200")
    assert plain.returncode == 0, plain.stderr
    assert "[1] Install" in plain.stdout and "kb/install.md" in plain.stdout
    literal = run("search", "--tenant", tenant, "-c", "handbook", "--json", "--", "--json", **env)
    assert literal.returncode == 0, literal.stderr
    assert isinstance(json.loads(literal.stdout), list)
