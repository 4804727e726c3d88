"""Which words of a question are looked up for the coverage check, which of them read as names, and what a
missing one costs."""

from __future__ import annotations

import pytest

from agent.coverage import (
    MAX_PENALTY,
    NAME_PENALTY,
    RARE_WORD_PENALTY,
    distinctive_terms,
    is_everyday_word,
    missing_names,
    penalty,
)
from agent.prompts import joined
from knowledge.coverage import first_after, within_one_slip


def test_names_are_acronyms_capitalised_words_inside_a_sentence_camel_case_or_digits() -> None:
    terms = {t.word: t.name for t in distinctive_terms("Does httpx speak QUIC? Kerberos too, with HTTP3 or OpenSSL")}
    assert terms == {
        "httpx": False,
        "speak": False,
        "QUIC": True,
        "Kerberos": False,  # first word of a sentence: capitalised anyway
        "HTTP3": True,
        "OpenSSL": True,
    }
    inside = {t.word: t.name for t in distinctive_terms("how do I log in with Kerberos")}
    assert inside["Kerberos"] is True


def test_stop_words_short_words_and_repeats_are_not_looked_up() -> None:
    words = [t.word for t in distinctive_terms("whats the way to do it?? it is it. Proxy proxy PROXY")]
    assert words == ["way", "Proxy"]


def test_a_missing_name_costs_more_than_a_missing_rare_word_and_the_cost_is_capped() -> None:
    terms = distinctive_terms("How do I pin the certificate fingerprint with Istio")
    assert penalty(terms, []) == 0.0
    assert penalty(terms, ["fingerprint"]) == RARE_WORD_PENALTY
    assert penalty(terms, ["Istio", "fingerprint"]) == pytest.approx(NAME_PENALTY + RARE_WORD_PENALTY)
    assert missing_names(terms, ["Istio", "fingerprint"]) == ["Istio"]
    many = distinctive_terms("Use AAA BBB CCC DDD EEE")
    assert penalty(many, [t.word for t in many]) == MAX_PENALTY


def test_a_missing_everyday_word_costs_nothing() -> None:
    # People ask in their own everyday words; docs that put it differently are not silent on the topic.
    terms = distinctive_terms("how do i turn off verification when the service shuts down behind traefik")
    assert penalty(terms, ["turn", "shuts"]) == 0.0
    assert penalty(terms, ["turn", "shuts", "traefik"]) == RARE_WORD_PENALTY


def test_everyday_words_are_whole_words_of_the_vocabulary_in_any_case() -> None:
    assert all(is_everyday_word(word) for word in ["turn", "Already", "box", "compression"])
    assert all(is_everyday_word(word) for word in ["metrics", "boxes"])  # plurals the vocabulary splits
    assert not any(is_everyday_word(word) for word in ["sourdough", "gzip", "fingerprint", "yaml"])


def test_typing_slips_are_one_edit_or_one_swap_apart() -> None:
    assert within_one_slip("timout", "timeout")  # a letter left out
    assert within_one_slip("timeoutt", "timeout")  # one too many
    assert within_one_slip("tiemout", "timeout")  # two neighbours swapped
    assert within_one_slip("timeaut", "timeout")  # one wrong
    assert not within_one_slip("tmeaut", "timeout")
    assert not within_one_slip("otimeut", "timeout")
    assert not within_one_slip("time", "timeout")


def test_the_words_a_prefix_begins_end_before_its_last_letter_moved_on() -> None:
    # The range [prefix, first_after) that the index reads for shortened words ("vars" for "variables").
    assert first_after("var") == "vas"
    assert first_after("http2") == "http3"
    assert first_after("az") == "b" and first_after("ab9") == "ac"  # no letter after "z", no digit after "9"
    assert first_after("zz") is None
    assert all("var" <= word < "vas" for word in ["var", "variabl", "var9", "varzzz"])


def test_names_are_listed_as_a_person_would() -> None:
    assert joined(["QUIC"]) == "QUIC"
    assert joined(["NTLM", "Kerberos"]) == "NTLM or Kerberos"
    assert joined(["A", "B", "C"]) == "A, B or C"
