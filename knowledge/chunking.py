"""Cutting a document into chunks along its headings, each sized to fit the embedder's window."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from knowledge.documents import HEADING_SEPARATOR, ChunkDraft, SourceDocument
from knowledge.markdown_blocks import ATTACHED_KINDS, fence_spans, split_blocks

# ATX headings as CommonMark has them: up to three spaces, 1–6 marks, then a space or the end of the line.
_HEADING = re.compile(r"^ {0,3}(?P<marks>#{1,6})(?:[ \t]+(?P<text>.*?))?[ \t]*$")
_CLOSING_MARKS = re.compile(r"(?:^|[ \t]+)#+$")
# Paragraph, then line, then sentence, then word boundaries; characters only as a last resort.
_SEPARATORS = ["\n\n", "\n", ". ", " ", ""]
# Stand-ins for fenced blocks while the splitter runs, from a private-use plane documents hardly ever contain.
_PLACEHOLDER_BASE = 0xF0000


@dataclass(frozen=True, slots=True)
class _Section:
    headings: tuple[str, ...]
    content: str


def chunk_document(
    document: SourceDocument,
    *,
    count_tokens: Callable[[str], int],
    max_tokens: int = 200,
    overlap_tokens: int = 30,
    embed_limit: int = 256,
) -> list[ChunkDraft]:
    """Cut ``document`` into chunks along its Markdown headings, in document order.

    Each section (the text under one heading) becomes one chunk when its content fits in ``max_tokens``;
    a longer one is cut into pieces of at most ``max_tokens`` that overlap by up to ``overlap_tokens``
    (capped at half a piece), preferring paragraph, then line, then sentence boundaries. A fenced code
    block is kept whole whenever it fits a piece. Sections without content make no chunk.

    A chunk's ``heading_path`` is the headings it sits under, led by the document's title unless the
    first heading already is the title; text outside any heading sits under the title alone.

    Guarantee: ``count_tokens(chunk.embedding_text()) <= embed_limit`` for every chunk. The heading path
    takes from the content's budget; a path that would take more than half the window loses its leading
    headings (and, if one heading alone is that long, its tail).

    ``count_tokens`` may count special tokens: whatever it returns for ``""`` is taken as a fixed cost per
    text. Raises ``ValueError`` for inconsistent sizes, or when not even one character fits the window.
    """
    if max_tokens < 1 or embed_limit < 1:
        raise ValueError(f"max_tokens and embed_limit must be positive, got {max_tokens} and {embed_limit}")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError(f"overlap_tokens must be in [0, max_tokens), got {overlap_tokens}")
    title = " ".join(document.title.split())
    sections, first_heading = _sections(document.text)
    # A document whose first heading is its title already says so; otherwise the title leads every path.
    prefix = (title,) if title and (first_heading is None or first_heading.casefold() != title.casefold()) else ()
    cutter = _Cutter(count_tokens, max_tokens=max_tokens, overlap_tokens=overlap_tokens, embed_limit=embed_limit)
    drafts: list[ChunkDraft] = []
    for section in sections:
        path = cutter.fit_path(prefix + section.headings or ((title,) if title else ()))
        for piece in cutter.cut(section.content, path):
            drafts.append(
                ChunkDraft(ordinal=len(drafts), heading_path=path, content=piece, token_count=count_tokens(piece))
            )
    return drafts


def _sections(text: str) -> tuple[list[_Section], str | None]:
    """The sections with content, each with its (non-empty) headings; and the first non-empty heading."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fenced = [False] * len(lines)
    for start, end in fence_spans(lines):
        fenced[start:end] = [True] * (end - start)
    stack: list[tuple[int, str]] = []
    sections: list[_Section] = []
    body: list[str] = []
    first_heading: str | None = None
    for line, in_fence in zip(lines, fenced, strict=True):
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        sections.append(_Section(tuple(heading for _, heading in stack if heading), "\n".join(body).strip()))
        body = []
        level = len(match["marks"])
        heading = " ".join(_CLOSING_MARKS.sub("", match["text"] or "").split())
        # An empty heading still closes deeper sections; it just names nothing in the path.
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        if first_heading is None and heading:
            first_heading = heading
    sections.append(_Section(tuple(heading for _, heading in stack if heading), "\n".join(body).strip()))
    return [section for section in sections if section.content], first_heading


def _longest_fitting_prefix(text: str, fits: Callable[[str], bool]) -> str:
    """The longest prefix of ``text`` that fits, found by bisection (token counts grow with the text)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(text[:middle]):
            low = middle
        else:
            high = middle - 1
    return text[:low]


class _Cutter:
    """Sizes pieces for one token counter and set of limits."""

    def __init__(
        self, count_tokens: Callable[[str], int], *, max_tokens: int, overlap_tokens: int, embed_limit: int
    ) -> None:
        self._count = count_tokens
        self._max_tokens = max_tokens
        self._overlap_tokens = overlap_tokens
        self._embed_limit = embed_limit
        # Special tokens a counter adds to every text ([CLS]/[SEP] for BERT-style ones): paid once per chunk.
        self._overhead = count_tokens("")

    def _path_cost(self, path: tuple[str, ...]) -> int:
        return self._count(HEADING_SEPARATOR.join(path) + "\n") - self._overhead if path else 0

    def fit_path(self, path: tuple[str, ...]) -> tuple[str, ...]:
        """The path, shortened from the top so it takes at most half the window: the text matters more."""
        allowance = self._embed_limit // 2
        while len(path) > 1 and self._path_cost(path) > allowance:
            path = path[1:]
        if path and self._path_cost(path) > allowance:
            heading = _longest_fitting_prefix(path[0], lambda head: self._path_cost((head,)) <= allowance).rstrip()
            path = (heading,) if heading and self._path_cost((heading,)) <= allowance else ()
        return path

    def cut(self, content: str, path: tuple[str, ...]) -> list[str]:
        """``content`` as one piece when it fits, else as pieces cut to fit."""

        def fits(piece: str) -> bool:
            if self._count(piece) > self._max_tokens:
                return False
            text = f"{HEADING_SEPARATOR.join(path)}\n{piece}" if path else piece
            return self._count(text) <= self._embed_limit

        if fits(content):
            return [content]
        budget = min(self._max_tokens, self._embed_limit - self._path_cost(path))
        return self._split(content, fits, max(1, budget - self._overhead))

    @staticmethod
    def _unsplittable(text: str, lines: list[str], whole: Callable[[str], bool]) -> list[tuple[int, int]]:
        """Line ranges, in order and disjoint, that a piece should hold whole (if ``whole`` says they fit)."""
        spans: list[tuple[int, int]] = []
        previous = None
        for block in split_blocks(text):
            introduced = block.kind in ATTACHED_KINDS and previous is not None and previous.kind == "paragraph"
            joined = (previous.start, block.end) if introduced and previous is not None else None
            if joined is not None and whole("\n".join(lines[joined[0] : joined[1]])):
                spans.append(joined)
            elif block.kind == "code" and whole(block.text):
                spans.append((block.start, block.end))
            previous = block
        return spans

    def _split(self, text: str, fits: Callable[[str], bool], size: int) -> list[str]:
        """Cut ``text`` with the recursive splitter to ``size`` tokens (special tokens aside), then check each piece."""
        lines = text.split("\n")
        blocks: dict[int, str] = {}
        used = set(text)
        code_points = (code for code in range(_PLACEHOLDER_BASE, 0x10FFFE) if chr(code) not in used)

        def length(piece: str) -> int:
            return self._count(piece.translate(blocks)) - self._overhead

        # A block kept whole becomes one character: the splitter has no separator inside it, so it can't cut
        # it, and it measures the block itself through ``length``. Code, lists and tables go with the paragraph
        # that introduces them when both fit; a code block alone when only it fits.
        for start, end in reversed(
            self._unsplittable(text, lines, lambda block: length(block) <= size and fits(block))
        ):
            code = next(code_points)
            blocks[code] = "\n".join(lines[start:end])
            lines[start:end] = [chr(code)]
        splitter = RecursiveCharacterTextSplitter(
            separators=_SEPARATORS,
            # "end" keeps a sentence's ". " with it, so pieces don't start with ". ", and pieces stay verbatim.
            keep_separator="end",
            chunk_size=size,
            chunk_overlap=min(self._overlap_tokens, size // 2),
            length_function=length,
        )
        pieces: list[str] = []
        for raw in splitter.split_text("\n".join(lines)):
            piece = raw.translate(blocks).strip()
            if not piece:
                continue
            if fits(piece):
                pieces.append(piece)
                continue
            # The splitter adds up the counts of parts; a tokenizer doesn't always: cut again, smaller.
            if size == 1:
                raise ValueError(f"embed_limit {self._embed_limit} is too small to hold {piece[:40]!r}")
            smaller = max(1, min(size - 1, size * 9 // 10, size * size // max(length(piece), 1)))
            pieces.extend(self._split(piece, fits, smaller))
        return pieces
