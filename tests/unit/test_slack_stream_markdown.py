"""The Markdown Slack's native streaming is given: nothing in it can act in Slack, and what is streamed of an answer
still being written is never taken back by the text that follows (streamed text cannot be)."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.answer_markdown import hold_code_spans, split_parts
from bot.links import disguises, plain_url
from bot.slack.stream_markdown import render, settled

# Text rich in the characters that matter, mixed with anything at all.
_PIECES = st.sampled_from(
    [
        *("<", ">", "&", "|", "!", "@", "#", "[", "]", "(", ")", "`", "```", "\n", " ", "\u200b", "&lt;", "\\"),
        *("everyone", "channel", "U123", "https://", "evil.example", "sso.example.com", "http", "mailto:"),
    ]
)
TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=40).map("".join)

# An answer as models write them: words, citations, code spans and blocks, links, lists, quotes, and the odd
# control sequence copied from a document.
_TOKENS = st.sampled_from(
    [
        *("Open ", "the ", "admin ", "console", ". ", ", ", "press ", "**Rotate** ", "_now_ ", "[1]", "[2]. "),
        *("`rotate --now` ", "`a[0]` ", "[the guide](https://docs.test/g) ", "[sso.example.com](https://evil.test) "),
        *("<!channel> ", "<@U123> ", "& ", "x < y ", "\n", "\n\n", "- item ", "1. step ", "> quoted ", "# Title\n"),
        *("```sh\necho <@U1> <https://x|y>\n```\n", "```\n", "    indented <!here>\n", "~~~\ncode\n~~~\n"),
    ]
)
ANSWER = st.lists(_TOKENS, min_size=1, max_size=30).map("".join)

_MARKDOWN_LINK = re.compile(r"\[([^\[\]\n]*)\]\(([^()\s]*)\)")


@given(TEXT)
@example("<!channel> <!everyone> <@U123> <https://evil.example|https://sso.example.com>")
@example("[https://sso.example.com](https://evil.example) [x](javascript:alert(1)) [y](<https://e.test> 't')")
@example("`<!here>` and\n```\n<@U1> <mailto:a@b.test|me>\n```")
def test_streamed_markdown_has_no_control_sequence_and_only_checked_links(text: str) -> None:
    rendered = render(text)
    assert not re.search(r"<(?:[!@#]|https?:|mailto:)", rendered, re.IGNORECASE)
    # Outside code, every "](" opens a link whose address is a web page and whose text names no other site.
    for part in split_parts(rendered):
        prose = "" if part.is_code else hold_code_spans(part.text, lambda span: "")
        links = {link.start(2) - 2: link for link in _MARKDOWN_LINK.finditer(prose)}
        for opening in re.finditer(r"\]\(", prose):
            link = links.get(opening.start())
            assert link is not None, prose
            assert plain_url(link.group(2)) and not disguises(link.group(1), link.group(2)), link.group(0)


@settings(max_examples=60, deadline=None)
@given(ANSWER)
@example("Press Rotate [1](https://x.test) now")
@example("```sh\necho hi\n``` [2] Then more.")  # a citation after a closing fence goes to a line of its own
@example("1. First [1]\n2. Second:\n   ```python\n   x = [1, 2]\n   ```\n3. Third `a`b` c\n\n> quote <@U2>")
@example("Open ```\n[sso.example.com](https://evil.test) # Title\n`rotate --now` ```sh\n")  # a span over lines
def test_what_is_streamed_of_an_answer_is_never_taken_back(answer: str) -> None:
    whole = render(answer)
    for end in range(len(answer) + 1):
        assert whole.startswith(render(settled(answer[:end]))), answer[:end]


def test_settled_waits_for_what_may_still_change() -> None:
    assert settled("Press Rotate [1") == "Press Rotate "  # "[1]" or a link's text
    assert settled("see [the guide](https://docs") == "see "
    assert settled("run `rotate") == "run "
    assert settled("Steps:\n``") == "Steps:\n"  # a fence being opened
    assert settled("Open ```\n[a](https://x.test)\n`") == "Open "  # nor does it settle a code span before it
    assert settled("Press Rotate [1]. Then") == "Press Rotate [1]. Then"
    assert settled("```sh\necho [unclosed") == "```sh\necho [unclosed"  # code stays as written
