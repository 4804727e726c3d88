"""Extractive answers quote answer units: a lead-in with the code, list or table it introduces, never the
lead-in alone; code byte for byte; fences always closed; one citation per quote."""

from __future__ import annotations

from agent.answer_units import MAX_UNIT_CHARS, Ranked, Unit, best_unit, clip, compose, open_fence, units_of
from agent.extract_answer import (
    cite,
    repeats,
    with_described_block,
    with_opening_block,
)
from agent.extractive import is_follow_up
from knowledge.markdown_blocks import split_blocks

DEPLOY = """Threadwise runs on Docker Compose with the `pgvector/pgvector` PostgreSQL image. It keeps its data in
a volume.

To start it, run these commands from the repository root:

```bash
$ cp .env.example .env

$ docker compose up -d
```

The web interface then listens on port 8000."""

LIST = """Set these before starting a worker:

- `WORKER_CONCURRENCY`, answers in flight at once
- `WORKER_POLL_SECONDS`, how often the queue is polled

Workers share one database."""


def test_blocks_of_a_passage_keep_code_and_lists_whole() -> None:
    kinds = [block.kind for block in split_blocks(DEPLOY)]
    assert kinds == ["paragraph", "paragraph", "code", "paragraph"]
    code = split_blocks(DEPLOY)[2].text
    assert code == "```bash\n$ cp .env.example .env\n\n$ docker compose up -d\n```"
    assert [block.kind for block in split_blocks(LIST)] == ["paragraph", "list", "paragraph"]


def test_a_lead_in_is_quoted_with_its_code_block_never_alone() -> None:
    units = [unit.text for unit in units_of(DEPLOY)]
    assert "To start it, run these commands from the repository root:" not in units
    quote = best_unit("How do I start it with docker compose?", DEPLOY)
    assert quote.startswith("To start it, run these commands from the repository root:\n\n```bash\n")
    assert "$ cp .env.example .env\n\n$ docker compose up -d\n```" in quote  # byte for byte, blank line kept


def test_a_how_question_prefers_the_unit_showing_the_setting() -> None:
    quote = best_unit("how do I set how often a worker polls?", LIST)
    assert "`WORKER_POLL_SECONDS`, how often the queue is polled" in quote
    assert quote.startswith("Set these before starting a worker:")


def test_a_follow_up_quotes_the_part_its_own_words_ask_for() -> None:
    question = "How do I deploy Threadwise? and what port does the web interface use?"
    quote = best_unit(question, DEPLOY, message="and what port does the web interface use?")
    assert quote == "The web interface then listens on port 8000."


def test_a_long_unit_is_cut_at_a_line_and_its_fence_closed() -> None:
    code = "\n".join(f"line {i} of the script" for i in range(100))
    text = f"Run this:\n\n```python\n{code}\n```"
    cut = clip(text, 300)
    assert len(cut) <= 320 and cut.endswith("```\n…")
    assert open_fence(cut.removesuffix("\n…")) is None
    assert open_fence("```python\nprint(1)") == "```"
    assert open_fence("````\nx\n````") is None


def test_the_citation_follows_the_lead_in_or_stands_after_a_block() -> None:
    assert cite("Run this:\n\n```bash\nmake run\n```", 1) == "Run this: [1]\n\n```bash\nmake run\n```"
    assert cite("```bash\nmake run\n```", 2) == "```bash\nmake run\n```\n\n[2]"
    assert cite("One sentence.", 3) == "One sentence. [3]"


def test_two_units_from_the_best_passage_are_shown_in_its_order_without_repeats() -> None:
    labelled = Unit("`WORKER_CONCURRENCY`\n\nAnswers in flight at once.", shows_code=True, label="`WORKER_CONCURRENCY`")
    longer = Unit("Answers in flight at once. The default is 4.", shows_code=False)
    other = Unit("Workers answer queued questions.", shows_code=False)
    ranked = Ranked(units=[other, labelled, longer], best=[(labelled, 3.0), (longer, 2.0), (other, 1.0)], how=False)
    # The longer unit repeats the labelled one's sentence: the next one is shown instead, in the passage's order.
    assert compose(ranked, units=2) == f"{other.text}\n\n{labelled.text}"


def test_a_passage_ending_in_prose_borrows_only_a_block_that_opens_the_next_chunk() -> None:
    paragraph = "The worker reads the queue named after the colon."
    block = "```bash\n$ qworker 'settings:answers'\n```"
    assert with_opening_block(paragraph, f"{block}\n\nThen it starts.") == f"{paragraph}\n\n{block}"
    # The next chunk may first repeat the end of this one (the chunks overlap).
    assert with_opening_block(paragraph, f"{paragraph}\n\n{block}") == f"{paragraph}\n\n{block}"
    assert with_opening_block(paragraph, f"A new paragraph.\n\n{block}") == paragraph
    assert with_opening_block(paragraph, None) == paragraph
    # A lead-in cut from its block: the next chunk repeats it, then opens with the block.
    cut = "Install it first.\n\nRun these commands:"
    following = "Run these commands:\n\n```bash\n$ make install\n```\n\nThen open the page."
    assert with_opening_block(cut, following) == f"{cut}\n\n```bash\n$ make install\n```"
    assert with_opening_block(cut, "Nothing to show here.") == cut


def test_short_or_continuing_messages_lean_on_the_conversation() -> None:
    assert is_follow_up("which workers?")
    assert is_follow_up("now url_for builds http links behind the proxy, fix?")
    assert not is_follow_up("How do I rotate the admin token?")
    assert not is_follow_up("How do I configure the worker pool size for gunicorn deployments on Kubernetes?")


def test_a_sentence_already_quoted_in_other_words_is_not_quoted_again() -> None:
    first = "For example, showing a progress bar with the `tqdm` library while a response downloads could be done so…"
    assert repeats("For example, showing a progress bar with the `tqdm` library.", [first])
    assert not repeats("Install the rich library to show progress instead.", [first])
    assert not repeats("Anything at all.", [])


def test_a_passage_spaced_two_after_each_sentence_is_not_quoted_twice() -> None:
    # The whole short passage keeps the source's spacing; its paragraph's sentences are re-joined with one space.
    passage = (
        "*New in version 0.3.*\n\nCategories can be given when flashing.  The default is `'message'`.  "
        "Errors could be red.\n\nTo flash with a category, pass it second:\n\n```\nflash('Bad password', 'error')\n```"
    )
    quote = best_unit("How do I flash a message with a category?", passage, units=2)
    assert quote.count("Errors could be red") == 1, quote


TROUBLESHOOTING = """The server runs on port 5000 by default. It reloads itself when a file changes, so most edits need
no restart at all, and the debugger shows the traceback of an error in the browser.

If another program is already using port 5000, you see an `OSError` when the server starts: the message
names the address that is already in use, on Linux and on Windows alike.

**Similar issues**: the issue tracker has a discussion of this error for other operating systems.

Either identify and stop the other program, or use `flask run --port 5001` to pick a different port.

The reloader watches the application's own files only, never its dependencies, and never the templates
folder unless the application asks for it explicitly with the extra files option."""


def test_the_part_that_restates_the_problem_is_quoted_with_what_follows_it() -> None:
    question = "flask run fails with OSError: address already in use, what do i do"
    quote = best_unit(question, TROUBLESHOOTING)
    # The closest part describes the error; the fix is the paragraph after it (past a short aside).
    assert "If another program is already using port 5000" in quote
    assert "`flask run --port 5001`" in quote
    assert "reloader watches" not in quote


def test_what_follows_is_not_quoted_twice_when_a_unit_already_shows_it() -> None:
    question = "flask run fails with OSError: address already in use, what do i do"
    quote = best_unit(question, TROUBLESHOOTING, units=3)
    assert quote.count("Either identify and stop") == 1, quote
    assert quote.count("If another program") == 1, quote


def test_runs_of_one_paragraph_never_repeat_a_sentence() -> None:
    problem = "If another program is already using port 5000, the server fails to start with an OSError."
    common = "This happens most often when an earlier server is still running in another terminal window."
    fix = "Stop the other program, or pick a different port with the port option when you start the server."
    more = "The host option changes the address in the same way."
    best = Unit(problem, shows_code=False, at=(0, 1, 1))
    after = Unit(f"{common} {fix}", shows_code=False, at=(0, 2, 3))
    second = Unit(f"{fix} {more}", shows_code=False, at=(0, 3, 4))
    ranked = Ranked(units=[best, after, second], best=[(best, 3.0), (second, 2.0), (after, 1.0)], how=False)
    quote = compose(ranked, units=2)
    assert quote == f"{problem}\n\n{fix} {more}"


def test_a_sentence_before_a_list_gives_way_to_the_list_it_leads_into() -> None:
    # The best part says what the command needs; the next sentence is an aside, and the list after it (quoted with
    # that sentence and its lead-in) holds the answer.
    passage = (
        "The command is installed by the package, not your project; it must be told where to find your project in"
        " order to use it. The `--target` option is used to specify how to load the project.\n\n"
        "While `--target` supports a variety of forms, most uses should be simple. Here are the typical values:\n\n"
        "- **(nothing)**: the name `main` is imported, detecting a project factory.\n\n"
        "- **`--target hello`**: the given name is imported instead."
    )
    quote = best_unit("If I don't pass --target, how does the command decide what to load?", passage)
    assert "the name `main` is imported" in quote, quote
    assert quote.count("most uses should be simple") == 1, quote


def test_a_paragraph_about_the_code_before_it_is_quoted_after_that_code() -> None:
    code = (
        "```python\nclass ContextTask(Task):\n    def __call__(self):\n        with app.app_context():\n"
        "            ...\n```"
    )
    described = (
        "The queue app is made once, when the application starts, and every worker process imports it from the"
        " module that creates the application, before it reads its first job from the queue. Make it like this:\n\n"
        f"{code}\n\nThis runs every task function inside the application context, so that the task can use the"
        " database connections and the settings of the application that queued it."
    )
    quote = best_unit("Are task functions inside the application context?", described)
    assert quote.index("class ContextTask") < quote.index("This runs every task function"), quote
    # "This example…" before a block points forward: it is that block's lead-in, not about the block before.
    forward = f"{code}\n\nThis example adds a retry policy to every task:\n\n```python\nretry = Retry(3)\n```"
    quote = best_unit("How do I add a retry policy to every task?", forward)
    assert "ContextTask" not in quote and "retry = Retry(3)" in quote, quote


def test_a_chunk_opening_with_a_paragraph_about_a_block_borrows_it_from_the_previous_chunk() -> None:
    block = "```bash\n$ qworker 'settings:answers'\n```"
    paragraph = "This starts one worker on the answers queue."
    assert with_described_block(paragraph, f"Start it:\n\n{block}") == f"{block}\n\n{paragraph}"
    # The chunks may overlap: what this chunk repeats of the previous one is skipped.
    assert with_described_block(paragraph, f"{block}\n\n{paragraph}") == f"{block}\n\n{paragraph}"
    assert with_described_block(paragraph, f"{block}\n\nA paragraph in between.") == paragraph
    assert with_described_block("The worker starts.", block) == "The worker starts."
    introducing = f"{paragraph}\n\n- a list it introduces"
    assert with_described_block(introducing, block) == introducing
    assert with_described_block(paragraph, None) == paragraph


def test_a_long_block_gives_way_to_the_paragraph_about_it() -> None:
    lines = "\n".join(f"    step_{n}(app)  # prepares part {n} of the application" for n in range(20))
    passage = f"```python\ndef prepare(app):\n{lines}\n```\n\nThis prepares every part of the application in order."
    quote = best_unit("What prepares every part of the application?", passage)
    assert quote.endswith("This prepares every part of the application in order."), quote
    assert quote.startswith("```python\ndef prepare(app):") and open_fence(quote.split("\n\nThis")[0]) is None
    assert len(quote) <= MAX_UNIT_CHARS + 10
