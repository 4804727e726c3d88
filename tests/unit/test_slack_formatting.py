from __future__ import annotations

from agent.schemas import AnswerReply
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
