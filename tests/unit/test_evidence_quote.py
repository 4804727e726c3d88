"""What the extractive evidence embeds: a code block is judged together with the sentence that introduces it."""

from __future__ import annotations

from agent.evidence import LEAD_IN_CHARS, with_lead_in

PASSAGE = """Error tracking is built in. Install the SDK with the Flask extra:

```text
$ pip install sentry-sdk[flask]
```

Then call `sentry_sdk.init` with your DSN."""


def test_a_code_block_alone_is_judged_with_the_sentence_before_it() -> None:
    quote = "```text\n$ pip install sentry-sdk[flask]\n```"
    assert with_lead_in(quote, PASSAGE) == f"Install the SDK with the Flask extra:\n\n{quote}"


def test_prose_and_a_block_opening_the_passage_stay_as_they_are() -> None:
    prose = "Then call `sentry_sdk.init` with your DSN."
    assert with_lead_in(prose, PASSAGE) == prose
    opening = "```text\n$ pip install sentry-sdk[flask]\n```"
    assert with_lead_in(opening, opening + "\n\nThen call it.") == opening
    assert with_lead_in("```\nnot in the passage\n```", PASSAGE) == "```\nnot in the passage\n```"


def test_a_long_lead_in_is_cut_to_its_end() -> None:
    lead = "word " * 100 + "run this:"
    block = "```\nmake\n```"
    judged = with_lead_in(block, f"{lead}\n\n{block}")
    assert judged.endswith(f"run this:\n\n{block}")
    assert len(judged) == LEAD_IN_CHARS + 2 + len(block)
