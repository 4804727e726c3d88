"""The quote that the extractive evidence embeds (``best_passage``) and the sentences it is cut from."""

from __future__ import annotations

from agent.extractive import best_passage, split_sentences

STEPS = """The basic idea is simple. It works like this:

1. A form is marked with the multipart encoding.
2. The application reads the file from the request.
3. Call `save` to keep the file on the filesystem."""


def test_a_numbered_item_keeps_its_number() -> None:
    assert split_sentences(STEPS) == [
        "The basic idea is simple.",
        "It works like this:",
        "1. A form is marked with the multipart encoding.",
        "2. The application reads the file from the request.",
        "3. Call `save` to keep the file on the filesystem.",
    ]


def test_a_passage_sharing_no_word_with_the_question_is_represented_by_its_opening() -> None:
    quote = best_passage("How should I sanitise names before writing them out?", STEPS, max_chars=100)
    assert quote == "The basic idea is simple. It works like this: 1. A form is marked with the multipart encoding."


def test_the_sentences_sharing_most_words_are_chosen() -> None:
    assert best_passage("where does the application read the file?", STEPS, max_chars=100) == (
        "2. The application reads the file from the request."
    )
