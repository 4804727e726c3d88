"""The agent without an LLM: follow-ups condensed from the earlier questions, answers quoted from the best
passages. Plain text processing, so the embedded default works offline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])|\n{2,}")
_LIST_MARKER = re.compile(r"\d{1,3}[.)]")
_STOPWORD_TEXT = """
a an the and or but if of to in on at by for with from as is are was were be been being do does did what which
who whom whose when where why how can could should would will shall may might must i you we they he she it its
this that these those there here my your our their me us them his her about into than then so not no yes any
some all each more most other such only own same too very just also please tell know want need get got use
using used whats dont doesnt didnt cant wont isnt arent im ive id youre theres thats
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_REFERRING_TEXT = "it its it's that this these those they them their there he she his her one ones"
_REFERRING = frozenset(_REFERRING_TEXT.split())
_CONTINUATIONS = (
    "and ",
    "but ",
    "also ",
    "what about",
    "how about",
    "and what",
    "or ",
    "same for",
    "why not",
    "what if",
    "now ",
    "ok",
    "so ",
    "then ",
    "actually",
)
STANDALONE_WORDS = 3
"""A message with fewer content words than this leans on the conversation for its subject. Five was tried: it
carried "how many workers should I start with?" (docs-qa follow-ups 12 → 13 of 16) but also glued "How do I
rotate the admin token?" to a docker compose question before it, and answered about docker compose."""
MAX_EXTRACT_CHARS = 600


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def is_follow_up(question: str) -> bool:
    """A message that leans on the previous one: a continuation, a pronoun, or too short to stand alone."""
    lowered = question.lower().strip()
    if lowered.startswith(_CONTINUATIONS):
        return True
    words = _WORD.findall(lowered)
    return len(content_words(lowered)) < STANDALONE_WORDS or any(w in _REFERRING for w in words)


def condense_extractively(question: str, earlier_questions: Sequence[str]) -> str:
    """Prefix a follow-up with the previous standalone question, so the search sees what it refers to."""
    if not earlier_questions or not is_follow_up(question):
        return question
    return f"{earlier_questions[-1]} {question}"


def split_sentences(text: str) -> list[str]:
    pieces = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    sentences: list[str] = []
    for piece in pieces:
        if sentences and _LIST_MARKER.fullmatch(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"  # "1." opens its item; it ends no sentence
        else:
            sentences.append(piece)
    return sentences


def best_passage(question: str, content: str, *, max_chars: int = MAX_EXTRACT_CHARS) -> str:
    """The run of consecutive sentences (within ``max_chars``) sharing the most words with the question."""
    sentences = split_sentences(content)
    if not sentences:
        return content[:max_chars]
    wanted = set(content_words(question))
    best, best_score = sentences[0], -1.0
    opening = sentences[0]
    for start in range(len(sentences)):
        window = sentences[start]
        for end in range(start, len(sentences)):
            if end > start:
                candidate = f"{window} {sentences[end]}"
                if len(candidate) > max_chars:
                    break
                window = candidate
            if start == 0:
                opening = window
            words = content_words(window)
            # Shared distinct words first, then prefer tighter windows.
            score = len(wanted & set(words)) - 0.001 * len(words)
            if score > best_score:
                best, best_score = window, score
    if best_score < 0:  # no word in common: the passage's opening says what it is about, not its shortest piece
        best = opening
    return best if len(best) <= max_chars else best[: max_chars - 1].rsplit(" ", 1)[0] + "…"
