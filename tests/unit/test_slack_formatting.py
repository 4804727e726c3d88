from __future__ import annotations

from agent.schemas import AnswerReply
from bot.message_split import split_fenced
from bot.slack.formatting import MESSAGE_LIMIT, answer_messages, preface, source_line, split_text, to_mrkdwn
from bot.slack.listeners.questions import looks_like_a_question, question_text
from tests.sources import source


def test_markdown_becomes_mrkdwn() -> None:
    assert to_mrkdwn("**Note** see [the guide](https://x.test/g) now") == "*Note* see <https://x.test/g|the guide> now"
    assert to_mrkdwn("## Install\ntext") == "*Install*\ntext"


def test_long_text_is_split_at_paragraphs_then_words_never_mid_word() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 150 for i in range(12)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(p) <= MESSAGE_LIMIT for p in pieces)
    assert all(p.startswith("Paragraph") for p in pieces)  # cut at paragraph boundaries
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())  # nothing lost
    unbroken = "x" * 50 + " " + "y" * 9000
    assert all(len(p) <= MESSAGE_LIMIT for p in split_text(unbroken))


def test_sources_link_only_web_addresses() -> None:
    assert source_line(source(1, "https://docs.test/install")) == "[1] <https://docs.test/install|Guide › Install>"
    assert source_line(source(2, "handbook/install.md")) == "[2] Guide › Install (handbook/install.md)"


def test_the_sources_go_under_the_last_message() -> None:
    reply = AnswerReply(text="word " * 2000, outcome="answered", sources=[source(1, "a.md")])
    messages = answer_messages(reply)
    assert len(messages) == 3
    assert [any(b["type"] == "context" for b in blocks) for _, blocks in messages] == [False, False, True]


def test_mentions_are_removed_and_questions_recognised() -> None:
    assert question_text("<@U123> how do I   deploy? <@U456|bob>") == "how do I deploy?"
    assert looks_like_a_question("How do I deploy")
    assert looks_like_a_question("deploying fails, any idea?")
    assert not looks_like_a_question("thanks, that worked")


FINDING = "<!channel> <!everyone> <@U123> <https://evil.example|https://sso.example.com>"


def test_control_sequences_from_documents_are_shown_not_obeyed() -> None:
    assert to_mrkdwn(FINDING) == (
        "&lt;!channel&gt; &lt;!everyone&gt; &lt;@U123&gt; &lt;https://evil.example|https://sso.example.com&gt;"
    )
    assert to_mrkdwn("Tom & Jerry") == "Tom &amp; Jerry"


def test_markdown_links_stay_live_but_cannot_break_out_or_disguise_their_target() -> None:
    assert to_mrkdwn("[a|b>c](https://x.test/p|q>r)") == "<https://x.test/p%7Cq&gt;r|a¦b&gt;c>"
    assert to_mrkdwn("[https://sso.example.com](https://evil.example/login)") == "<https://evil.example/login>"
    assert (
        to_mrkdwn("[docs.test guide](https://www.docs.test/guide)") == "<https://www.docs.test/guide|docs.test guide>"
    )
    assert to_mrkdwn("[x](javascript:alert)") == "[x](javascript:alert)"


def test_quote_markers_stay_quotes_and_other_angle_brackets_are_escaped() -> None:
    quoted = "Intro:\n\n> if a > b then\n>\n> <!here> run it [1]"
    assert to_mrkdwn(quoted) == "Intro:\n\n> if a &gt; b then\n>\n> &lt;!here&gt; run it [1]"
    assert to_mrkdwn("a\n>no space") == "a\n&gt;no space"


def test_source_labels_and_addresses_are_escaped() -> None:
    evil = source(1, "https://evil.example|https://sso.example.com>")
    evil = evil.model_copy(update={"title": "<!channel>", "heading_path": ""})
    assert source_line(evil) == "[1] <https://evil.example%7Chttps://sso.example.com&gt;|&lt;!channel&gt;>"
    disguised = evil.model_copy(update={"title": "https://sso.example.com"})
    assert source_line(disguised) == "[1] <https://evil.example%7Chttps://sso.example.com&gt;>"
    local = source(2, "docs/<@U1>.md").model_copy(update={"title": "<@U2>", "heading_path": ""})
    assert source_line(local) == "[2] &lt;@U2&gt; (docs/&lt;@U1&gt;.md)"


def test_the_preface_mentions_the_asker_and_escapes_the_question() -> None:
    reply = AnswerReply(text="<!here> Press Rotate [1].", outcome="answered")
    ((text, _),) = answer_messages(reply, preface=preface("U0ALICE", "<!channel> how?"))
    assert text == "<@U0ALICE> asked: _&lt;!channel&gt; how?_\n\n&lt;!here&gt; Press Rotate [1]."


def test_a_question_as_slack_sent_it_is_quoted_once_escaped_not_twice() -> None:
    # Slack escapes what people type: the preface shows it as typed, with nothing in it live.
    assert preface("U0ALICE", "a &lt;b&gt; &amp; <@U0BOB>") == "<@U0ALICE> asked: _a &lt;b&gt; &amp; &lt;@U0BOB&gt;_"


def test_every_text_object_is_verbatim_so_slack_adds_no_links_or_mentions_of_its_own() -> None:
    # Without verbatim, Slack itself turns a bare @here, #channel or URL in a document into something live.
    reply = AnswerReply(text="@here see #general " * 400, outcome="answered", sources=[source(1, "a.md")])
    objects = [
        obj
        for _, blocks in answer_messages(reply)
        for block in blocks
        for obj in ([block["text"]] if block["type"] == "section" else block["elements"])
    ]
    assert len(objects) >= 3 and all(obj["type"] == "mrkdwn" and obj["verbatim"] is True for obj in objects)


SAMPLE = "Run it:\n\n```bash\n$ pip install x\n\n$ x --serve\n```\n[1]\n\n- one\n- two [2]"


def test_code_blocks_are_kept_verbatim_without_their_language() -> None:
    assert to_mrkdwn(SAMPLE) == "Run it:\n\n```\n$ pip install x\n\n$ x --serve\n```\n[1]\n\n• one\n• two [2]"
    code = "```sh\n$ echo '<b>' && **not bold** [a](https://x.test) # no heading\n\n- no bullet\n```"
    assert to_mrkdwn(code) == (
        "```\n$ echo '&lt;b&gt;' &amp;&amp; **not bold** [a](https://x.test) # no heading\n\n- no bullet\n```"
    )
    assert to_mrkdwn("Use `**x** <y> [a](https://x.test)` here") == "Use `**x** &lt;y&gt; [a](https://x.test)` here"


def test_a_citation_after_a_closing_fence_goes_to_its_own_line() -> None:
    assert to_mrkdwn("Run:\n```\nx --serve\n``` [2]") == "Run:\n```\nx --serve\n```\n[2]"
    assert to_mrkdwn("```\nx\n```\n[2]") == "```\nx\n```\n[2]"
    assert to_mrkdwn("Run:\n```\nx") == "Run:\n```\nx\n```"  # an unclosed fence is closed


def test_emphasis_lists_headings_and_links_become_mrkdwn() -> None:
    text = "# Setup\n* *fast* and _easy_ with **care**\n- see [the guide](https://x.test/g)\n\n> quoted - not a list"
    assert to_mrkdwn(text) == (
        "*Setup*\n• _fast_ and _easy_ with *care*\n• see <https://x.test/g|the guide>\n\n> quoted - not a list"
    )
    assert to_mrkdwn("snake_case_name and 2 * 3 * 4") == "snake_case_name and 2 * 3 * 4"


def test_splitting_never_leaves_a_code_block_open() -> None:
    code = "```\n" + "\n".join(f"$ step {i} <arg> & more" for i in range(400)) + "\n```"
    reply = AnswerReply(text=f"Intro.\n\n{code}\n[1]", outcome="answered", sources=[source(1, "a.md")])
    messages = answer_messages(reply)
    sections = [b["text"]["text"] for _, blocks in messages for b in blocks if b["type"] == "section"]
    assert len(messages) > 1 and len(sections) > len(messages)
    for text in [t for t, _ in messages] + sections:
        assert text.count("```") % 2 == 0
    lines = [line for t, _ in messages for line in t.split("\n") if line.startswith("$ ")]
    assert lines == [f"$ step {i} &lt;arg&gt; &amp; more" for i in range(400)]


def test_an_extract_ends_with_one_note_and_a_models_answer_with_none() -> None:
    extract = AnswerReply(text=SAMPLE, outcome="answered", extractive=True, sources=[source(1, "a.md")])
    ((_, blocks),) = answer_messages(extract)
    assert blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Quoted from the docs · no AI model configured", "verbatim": True}],
    }
    for reply in (
        extract.model_copy(update={"extractive": False}),
        extract.model_copy(update={"outcome": "abstained"}),
    ):
        ((_, blocks),) = answer_messages(reply)
        assert all("Quoted from the docs" not in str(block) for block in blocks)


def test_conversion_stays_linear_on_hostile_text() -> None:
    import time

    for text in (
        "**a " * 20_000,
        "*a " * 30_000,
        "_a " * 30_000,
        "".join("`" * (i % 7 + 1) + "x" for i in range(20_000)),
    ):
        started = time.perf_counter()
        to_mrkdwn(text)
        assert time.perf_counter() - started < 1.0


def test_triple_backticks_inside_a_line_of_text_open_no_fence_when_split() -> None:
    text = "```x``` is inline code\n\nSecond paragraph"
    for pieces in (split_fenced(to_mrkdwn(text), 3800), split_fenced(text, 20)):
        assert all(piece.count("```") % 2 == 0 for piece in pieces)
        assert "".join(pieces).count("```") == 2


def test_a_fence_whose_opening_line_fills_a_message_still_splits_and_returns() -> None:
    text = "```" + "x" * 30 + "\ncode line\n```"
    pieces = split_fenced(text, 20)  # before, this never returned
    assert len(pieces) > 1 and all(piece.count("```") % 2 == 0 for piece in pieces)
