"""Which words of a question the collections never use: the BM25 vocabulary (``collection_terms``) answers.

A question about a product, option or tool that no document names cannot be answered from these documents,
however close its other words come. Words are compared as the keyword search sees them (English lexemes); a word
also counts as known when it is a part of a dotted or slashed name the documents use (``WSGITransport`` in
``httpx.WSGITransport(...)``), a lowercase word of five letters or more one typing slip away from a known
lexeme counts as known ("timout", "verifcation"), and so does a lowercase word whose lexeme begins a known one:
people shorten words ("vars" for variables, "env" for environment). Acronyms and capitalised names get neither
allowance: QUIC is not a slip of "quick", nor short for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

MAX_WORDS = 32
"""A question's words checked at most: the rest is padding."""
SLIP_MIN_LETTERS = 5
SHORTENED_MIN_LETTERS = 3
"""A shortened word's lexeme must have this many letters: "ca" begins too many words to stand for one."""
SHORTENED_BY = 2
"""The known lexeme is at least this many letters longer: one letter apart is a typing slip's business ("quic" is
not short for "quick")."""

# Each word's lexemes that no collection has; a word whose lexemes are all unknown is reported with them.
_UNKNOWN = text(
    """
    SELECT w.word, array_agg(l.lexeme) AS lexemes, bool_and(t.lexeme IS NULL) AS unknown
    FROM unnest(CAST(:words AS text[])) AS w(word)
    CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('english', w.word))) AS l(lexeme)
    LEFT JOIN LATERAL (
        SELECT lexeme FROM collection_terms
        WHERE collection_id = ANY(CAST(:collection_ids AS bigint[])) AND lexeme = l.lexeme
        LIMIT 1
    ) AS t ON true
    GROUP BY w.word
    """
)

# Whether each word is a whole part of a compound lexeme (a host, file or dotted name the parser kept whole).
_PART_OF_COMPOUND = text(
    """
    SELECT w.word FROM unnest(CAST(:words AS text[])) AS w(word)
    WHERE EXISTS (
        SELECT 1 FROM collection_terms
        WHERE collection_id = ANY(CAST(:collection_ids AS bigint[]))
          AND lexeme ~ '[^a-z0-9]' AND lexeme ~ ('(^|[^a-z0-9])' || lower(w.word) || '([^a-z0-9]|$)')
    )
    """
)

# Which lexemes begin a known, longer one. Lexemes here are ASCII letters and digits, so LIKE sees no wildcard.
# The range [lexeme, after) lets the primary key's index find the candidates in any collation (LIKE alone would
# read every term of the collections); LIKE then keeps those that really begin with the lexeme.
_SHORTENED = text(
    """
    SELECT l.lexeme FROM unnest(CAST(:lexemes AS text[]), CAST(:afters AS text[])) AS l(lexeme, after)
    WHERE EXISTS (
        SELECT 1 FROM collection_terms
        WHERE collection_id = ANY(CAST(:collection_ids AS bigint[]))
          AND lexeme >= l.lexeme AND lexeme < l.after AND lexeme LIKE l.lexeme || '%'
          AND length(lexeme) >= length(l.lexeme) + :more
    )
    """
)

# Known lexemes that could be a slip away from the unknown ones: same first letter, similar length.
_NEIGHBOURS = text(
    """
    SELECT DISTINCT lexeme FROM collection_terms
    WHERE collection_id = ANY(CAST(:collection_ids AS bigint[]))
      AND left(lexeme, 1) = ANY(CAST(:firsts AS text[]))
      AND length(lexeme) BETWEEN :shortest AND :longest
    """
)


def within_one_slip(word: str, known: str) -> bool:
    """One insertion, deletion, substitution or swap of neighbours apart (optimal string alignment ≤ 1)."""
    if word == known:
        return True
    if abs(len(word) - len(known)) > 1:
        return False
    if len(word) == len(known):
        diffs = [i for i, (a, b) in enumerate(zip(word, known, strict=True)) if a != b]
        if len(diffs) == 1:
            return True
        if len(diffs) != 2 or diffs[1] != diffs[0] + 1:
            return False
        first, second = diffs
        return word[first] == known[second] and word[second] == known[first]
    longer, shorter = (word, known) if len(word) > len(known) else (known, word)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


async def unknown_words(session: AsyncSession, *, collection_ids: Sequence[int], words: Sequence[str]) -> list[str]:
    """The ``words`` (in their order) whose lexemes occur in none of the collections, typing slips forgiven.

    Words must be ASCII letters and digits (anything else is dropped). Words the keyword search ignores
    (English stop words) are never reported."""
    words = list(dict.fromkeys(w for w in words if w.isascii() and w.isalnum()))[:MAX_WORDS]
    if not words or not collection_ids:
        return []
    rows = (await session.execute(_UNKNOWN, {"words": words, "collection_ids": list(collection_ids)})).all()
    unknown = {row.word: [lexeme for lexeme in row.lexemes if lexeme] for row in rows if row.unknown}
    if unknown:
        # Words are letters and digits only (see above), so they are safe inside the pattern.
        parts = (
            await session.execute(_PART_OF_COMPOUND, {"words": list(unknown), "collection_ids": list(collection_ids)})
        ).scalars()
        for word in parts:
            unknown.pop(word, None)
    typed = {word: found for word, found in unknown.items() if word.islower() and len(word) >= SLIP_MIN_LETTERS}
    if typed:
        slips = await _slips(session, collection_ids, typed)
        unknown = {word: found for word, found in unknown.items() if word not in slips}
    shortened = {
        word: found
        for word, found in unknown.items()
        if word.islower() and found and all(len(lexeme) >= SHORTENED_MIN_LETTERS for lexeme in found)
    }
    bounded = {lexeme: after for found in shortened.values() for lexeme in found if (after := first_after(lexeme))}
    if bounded:
        lexemes = sorted(bounded)
        bind = {"lexemes": lexemes, "afters": [bounded[lexeme] for lexeme in lexemes]}
        begun = set(
            (
                await session.execute(_SHORTENED, bind | {"collection_ids": list(collection_ids), "more": SHORTENED_BY})
            ).scalars()
        )
        unknown = {word: found for word, found in unknown.items() if word not in shortened or not begun & set(found)}
    return [word for word in words if word in unknown]


def first_after(prefix: str) -> str | None:
    """The first string after every one that begins with ``prefix`` (lowercase letters and digits): its last
    letter or digit that can be, moved one on ("var" → "vas", "az" → "b"); None when none can ("zz")."""
    stem = prefix.rstrip("z9")
    if not stem:
        return None
    return stem[:-1] + chr(ord(stem[-1]) + 1)


async def _slips(session: AsyncSession, collection_ids: Sequence[int], typed: dict[str, list[str]]) -> set[str]:
    """The ``typed`` words one of whose lexemes is a typing slip away from a known one."""
    lexemes = [lexeme for found in typed.values() for lexeme in found]
    neighbours = (
        (
            await session.execute(
                _NEIGHBOURS,
                {
                    "collection_ids": list(collection_ids),
                    "firsts": sorted({lexeme[0] for lexeme in lexemes}),
                    "shortest": min(len(lexeme) for lexeme in lexemes) - 1,
                    "longest": max(len(lexeme) for lexeme in lexemes) + 1,
                },
            )
        )
        .scalars()
        .all()
    )
    return {
        word
        for word, found in typed.items()
        if any(within_one_slip(lexeme, known) for lexeme in found for known in neighbours)
    }
