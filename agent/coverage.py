"""The coverage check: a question naming something the documents never mention is pushed toward refusing.

Similarity alone lets "How do I enable HTTP/3 (QUIC)?" reach a passage about HTTP/2: the topic is close, the
thing asked about is absent. The question's distinctive words are looked up in the searched collections'
vocabulary (``KnowledgeBase.unknown_words``). A missing name (an acronym, a capitalised word inside a sentence,
a CamelCase or code-like word) lowers the evidence a lot. Another missing word lowers it only when it is a rare
word: people ask in everyday words ("turn off", "staging box", "already") that docs put differently, while a rare
one ("fingerprint", "gzip", "sourdough") names the thing asked about. Rare means not a whole word of the local
embedding model's WordPiece vocabulary, ~22,500 words frequent in general English text, so the same for every
team's docs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.extractive import content_words
from knowledge.embeddings.tokenizer import minilm_whole_words

NAME_PENALTY = 0.2
"""Taken from the evidence for each name the documents never mention."""
RARE_WORD_PENALTY = 0.1
"""Taken from the evidence for each other rare word the documents never use (an everyday word costs nothing).
Measured against 0.05 for every missing word (with ``knowledge.coverage`` forgiving shortened words, in the same
change), ``threadwise eval docs`` on docs-qa: httpx refused 11 → 12 of 15 unanswerable questions and answered
from the expected page 60 → 62 of 69, Flask 70 → 71 of 81; MTRAG-UN's held-out half answered 75.8 → 76.6 %,
refused 78.3 % both; SQuAD answered 91.7 → 91.4 %. Plurals of everyday words counting as everyday then put one
more httpx answer right ("record metrics") and answered one more Flask unanswerable question ("migrations")."""
MAX_PENALTY = 0.3

_PLURAL_ENDINGS = ("s", "es")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n)\W*$")


@dataclass(frozen=True, slots=True)
class Term:
    word: str
    """As written in the question."""
    name: bool
    """Written as a name is: an acronym, Capitalised inside a sentence, CamelCase, or with digits."""


def _is_name(token: str, sentence_start: bool) -> bool:
    letters = [c for c in token if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return True
    if any(c.isupper() for c in token[1:]) or any(c.isdigit() for c in token):
        return True
    return token[0].isupper() and not sentence_start


def distinctive_terms(question: str) -> list[Term]:
    """The question's words worth looking up: no stop words, nothing shorter than three letters."""
    terms: dict[str, Term] = {}
    for match in _TOKEN.finditer(question):
        token = match.group()
        if len(token) < 3 or not content_words(token) or token.lower() in terms:
            continue
        start = bool(_SENTENCE_START.search(question[max(0, match.start() - 4) : match.start()]))
        terms[token.lower()] = Term(token, _is_name(token, start))
    return list(terms.values())


def is_everyday_word(word: str) -> bool:
    """A whole word of the WordPiece vocabulary (lower-cased), or the plural of one: frequent English, not a term
    of art. The vocabulary holds "metric" and splits "metrics" into "metric" + "##s"."""
    lowered = word.lower()
    vocabulary = minilm_whole_words()
    return lowered in vocabulary or any(
        lowered.endswith(ending) and lowered[: -len(ending)] in vocabulary for ending in _PLURAL_ENDINGS
    )


def penalty(terms: list[Term], unknown: list[str]) -> float:
    missing = {word.lower() for word in unknown}
    names = sum(1 for term in terms if term.name and term.word.lower() in missing)
    rare = sum(
        1 for term in terms if not term.name and term.word.lower() in missing and not is_everyday_word(term.word)
    )
    return min(MAX_PENALTY, NAME_PENALTY * names + RARE_WORD_PENALTY * rare)


def missing_names(terms: list[Term], unknown: list[str]) -> list[str]:
    missing = {word.lower() for word in unknown}
    return [term.word for term in terms if term.name and term.word.lower() in missing]
