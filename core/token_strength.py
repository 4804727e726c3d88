"""How strong an operator secret is, judged by its shape alone (no deny-list: lists of bad words never end).

The rule, stated in every refusal: at least :data:`MIN_LENGTH` characters, no whitespace, and an estimated
strength of at least :data:`MIN_BITS` bits, where the estimate is (length of the shortest pattern that repeats
to make the token) × log2(number of different characters). A random ``openssl rand -hex 32`` scores 256 bits;
``aaaaaaaaaaaaaaaa`` scores 0, ``abababababababab`` 2, ``1234567890123456`` 33.
"""

from __future__ import annotations

import math

MIN_LENGTH = 16
MIN_BITS = 64

RULE = (
    f"at least {MIN_LENGTH} characters, no whitespace, and an estimated {MIN_BITS} bits or more "
    "(length of its repeating pattern × log2 of its number of different characters)"
)
HINT = "generate one with `openssl rand -hex 32`"


def repeating_unit(token: str) -> int:
    """Length of the shortest prefix whose repetition spells the token (``abcabca`` → 3; no repetition → len)."""
    # Classic prefix-function: the last border tells the smallest period.
    border = [0] * len(token)
    for i in range(1, len(token)):
        k = border[i - 1]
        while k and token[i] != token[k]:
            k = border[k - 1]
        border[i] = k + 1 if token[i] == token[k] else k
    return len(token) - border[-1] if token else 0


def estimated_bits(token: str) -> float:
    """A deliberately pessimistic strength estimate: repeated patterns count once, the alphabet is what is used."""
    distinct = len(set(token))
    return repeating_unit(token) * math.log2(distinct) if distinct > 1 else 0.0


def weakness(token: str) -> str | None:
    """Why the token is too weak (never quoting it), or None when it meets :data:`RULE`."""
    if len(token) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    if any(character.isspace() for character in token):
        return "contains whitespace"
    if estimated_bits(token) < MIN_BITS:
        return "is too predictable"
    return None
