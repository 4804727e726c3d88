from __future__ import annotations

import pytest

from agent.schemas import AnswerReply
from bot.discord.formatting import (
    MESSAGE_LIMIT,
    answer_messages,
    preface,
    render,
    source_line,
    sources_embed,
    split_message,
)
from bot.discord.places import question_text
from tests.sources import source


def fences_balanced(message: str) -> bool:
    return message.count("```") % 2 == 0


def test_a_short_answer_is_one_message() -> None:
    assert split_message("Press Rotate [1].") == ["Press Rotate [1]."]


def test_a_3500_character_answer_with_code_is_two_messages_with_the_block_whole() -> None:
    code = "```python\n" + "\n".join(f"rotate_key(step={i})  # one step" for i in range(36)) + "\n```"
    text = f"{'Open the console and press Rotate. ' * 48}\n\n{code}\n\n{'Old tokens expire in an hour. ' * 25}"
    assert 3400 < len(text) < 3600
    messages = split_message(text)
    assert len(messages) == 2
    assert all(len(m) <= MESSAGE_LIMIT and fences_balanced(m) for m in messages)
    assert code in messages[1]  # moved whole to the next message rather than cut


def test_a_code_block_longer_than_a_message_is_closed_and_reopened() -> None:
    code = "```sql\n" + "\n".join(f"SELECT {i} FROM keys WHERE rotated;" for i in range(150)) + "\n```"
    messages = split_message(code)
    assert len(messages) >= 3
    assert all(len(m) <= MESSAGE_LIMIT and fences_balanced(m) for m in messages)
    assert all(m.startswith("```sql\n") and m.endswith("\n```") for m in messages)
    lines = [line for m in messages for line in m.split("\n") if not line.startswith("```")]
    assert lines == [f"SELECT {i} FROM keys WHERE rotated;" for i in range(150)]


def test_prose_is_cut_between_words_never_inside_one() -> None:
    words = [f"word{i}" for i in range(900)]
    messages = split_message(" ".join(words))
    assert len(messages) > 1 and all(len(m) <= MESSAGE_LIMIT for m in messages)
    assert [w for m in messages for w in m.split(" ")] == words


def test_an_unclosed_fence_is_closed() -> None:
    (message,) = split_message("Run this:\n```sh\nthreadwise serve")
    assert message.endswith("```") and fences_balanced(message)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://docs.test/guide", "[1] [Guide › Install](https://docs.test/guide)"),
        ("docs/guide.md", "[1] Guide › Install (docs/guide.md)"),
        ("", "[1] Guide › Install"),
    ],
)
def test_sources_link_when_they_can(uri: str, expected: str) -> None:
    assert source_line(source(1, uri)) == expected


def test_sources_go_into_an_embed_and_a_preface_comes_first() -> None:
    reply = AnswerReply(text="Press Rotate [1].", outcome="answered", sources=[source(1, "https://docs.test/g")])
    embed = sources_embed(reply)
    assert embed is not None and embed.title == "Sources" and "https://docs.test/g" in (embed.description or "")
    assert sources_embed(AnswerReply(text="No idea.", outcome="abstained")) is None
    assert answer_messages(reply, preface="<@1> asked: *how?*") == ["<@1> asked: *how?*\n\nPress Rotate [1]."]


def test_only_the_bots_own_mention_is_removed() -> None:
    assert question_text("<@42> how does <@7> rotate keys?", 42) == "how does <@7> rotate keys?"
    assert question_text("<@!42>   hello ", 42) == "hello"


ZWSP = "\u200b"


def test_mentions_from_documents_are_shown_not_obeyed() -> None:
    text = "@everyone @here <@123> <@!123> <@&456> <#789> </deploy:1>"
    assert render(text) == (
        f"@{ZWSP}everyone @{ZWSP}here <{ZWSP}@123> <{ZWSP}@!123> <{ZWSP}@&456> <{ZWSP}#789> <{ZWSP}/deploy:1>"
    )


def test_masked_links_cannot_disguise_their_target() -> None:
    assert (
        render("[https://sso.example.com](https://evil.example)") == "https://sso.example.com (<https://evil.example>)"
    )
    assert render("[Log in at sso.example.com](<https://evil.example>)").endswith("(<https://evil.example>)")
    assert render("[the guide](https://docs.test/g)") == "[the guide](https://docs.test/g)"
    assert render("[docs.test](https://www.docs.test/g)") == "[docs.test](https://www.docs.test/g)"
    # Looser masked links Discord would accept are not vetted: their "](" is broken.
    assert render("[a [b] c](https://evil.example)") == f"[a [b] c]{ZWSP}(https://evil.example)"


def test_source_lines_cannot_mention_or_disguise() -> None:
    evil = source(1, "https://evil.example/(x)").model_copy(update={"title": "@everyone", "heading_path": ""})
    assert source_line(evil) == f"[1] [@{ZWSP}everyone](https://evil.example/%28x%29)"
    disguised = evil.model_copy(update={"title": "https://sso.example.com"})
    assert source_line(disguised) == "[1] https://sso.example.com (https://evil.example/(x))"
    trick = source(2, "x](https://evil.example)")
    assert source_line(trick) == f"[2] Guide › Install (x]{ZWSP}(https://evil.example))"


def test_the_preface_mentions_the_asker_and_neutralises_the_question() -> None:
    reply = AnswerReply(text="@here Press Rotate [1].", outcome="answered")
    assert answer_messages(reply, preface=preface("1", "@everyone how?")) == [
        f"<@1> asked: *@{ZWSP}everyone how?*\n\n@{ZWSP}here Press Rotate [1]."
    ]


SAMPLE = "Run it:\n\n```bash\n$ pip install x\n\n$ x --serve\n```\n[1]\n\n- one\n- two [2]"


def test_code_is_passed_through_as_written_but_for_mentions() -> None:
    assert render(SAMPLE) == SAMPLE
    code = "```sh\n$ curl '<https://x.test>' && echo [a](https://evil.example) @everyone <@1>\n\n$ done\n```"
    assert render(code) == code.replace("@everyone", f"@{ZWSP}everyone").replace("<@1>", f"<{ZWSP}@1>")
    assert render("Use `[a](x) <b> **c**` here") == "Use `[a](x) <b> **c**` here"  # no "](" broken in code
    assert render("Run:\n```\nx --serve\n``` [2]") == "Run:\n```\nx --serve\n```\n[2]"


def test_an_extract_says_so_in_the_sources_footer_or_a_last_small_line() -> None:
    note = "Quoted from the docs · no AI model configured"
    extract = AnswerReply(text=SAMPLE, outcome="answered", extractive=True, sources=[source(1, "https://docs.test/g")])
    embed = sources_embed(extract)
    assert embed is not None and embed.footer.text == note
    packed = SAMPLE.replace("```\n[1]", "```\n\n[1]")  # messages are packed block by block
    assert answer_messages(extract) == [packed]
    alone = extract.model_copy(update={"sources": []})
    assert answer_messages(alone) == [f"{packed}\n-# {note}"]
    model = extract.model_copy(update={"extractive": False})
    embed = sources_embed(model)
    assert embed is not None and embed.footer.text is None
