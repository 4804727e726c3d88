"""``threadwise ask`` (one question) and ``threadwise chat`` (a terminal conversation) against the agent."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.panel import Panel

from bot.answer_markdown import detach_citations
from bot.cli.app import DEFAULT_TENANT, agent_service, app, cli_settings, database_url, err, out, run_async
from bot.extract_note import extract_note

if TYPE_CHECKING:  # the agent (LangGraph, LangChain) is imported only by the commands that use it
    from agent.schemas import AnswerReply, AnswerRequest
    from agent.service import AgentService

OUTCOME_STYLE = {"answered": "green", "abstained": "yellow", "error": "red"}


def render_reply(reply: AnswerReply) -> None:
    # The console's soft_wrap suits one-line output; Markdown under it is cropped to one line per block.
    out.print(Markdown(detach_citations(reply.text)), soft_wrap=False)
    for source in reply.sources:
        where = source.url or source.source_uri
        link = f" [dim]{escape(where)}[/]" if where else ""
        out.print(f"  [bold][{source.number}][/] {escape(source.label)}{link}", highlight=False)
    note = extract_note(reply)
    if note:
        out.print(f"[dim]{escape(note)}[/]", highlight=False)
    details = [f"[{OUTCOME_STYLE[reply.outcome]}]{reply.outcome}[/]", f"{reply.latency_ms} ms"]
    if reply.model:
        details.append(escape(reply.model))
    elif reply.extractive and not note:  # said once: the note above says it for an answer
        details.append("extracts (no LLM configured)")
    if reply.usage.prompt_tokens or reply.usage.completion_tokens:
        details.append(f"{reply.usage.prompt_tokens}+{reply.usage.completion_tokens} tokens")
    if reply.reference_id:
        details.append(f"reference {reply.reference_id}")
    err.print("[dim]" + " · ".join(details) + "[/]")


def _request(question: str, *, tenant: str, conversation: str, collection: list[str] | None) -> AnswerRequest:
    from pydantic import ValidationError

    from agent.schemas import AnswerRequest, ConversationKey

    try:
        return AnswerRequest(
            question=question,
            conversation=ConversationKey(tenant=tenant, platform="cli", channel=conversation),
            collections=collection or None,
        )
    except ValidationError as error:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        raise typer.BadParameter(problems, param_hint="QUESTION") from None


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="What you want to know.")],
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="Search only this collection (repeatable).")
    ] = None,
    conversation: Annotated[
        str | None, typer.Option(help="Continue this conversation (follow-ups see the earlier turns).")
    ] = None,
    tenant: Annotated[str, typer.Option(help="Whose knowledge base.")] = DEFAULT_TENANT,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reply as one JSON object.")] = False,
) -> None:
    """Ask the knowledge base one question; prints the answer with its numbered sources."""
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)
    request = _request(question, tenant=tenant, conversation=conversation or uuid.uuid4().hex, collection=collection)

    async def go() -> AnswerReply:
        async with agent_service(settings, url) as agent:
            if as_json:
                return await agent.answer(request)
            return await _stream_to_terminal(agent, request)

    reply = run_async(go())
    if as_json:
        print(reply.model_dump_json())
    else:
        render_reply(reply)
        if conversation is None:
            err.print(f"[dim]follow up with --conversation {request.conversation.channel}[/]")
    if reply.outcome == "error":
        raise typer.Exit(1)


async def _stream_to_terminal(agent: AgentService, request: AnswerRequest) -> AnswerReply:
    """Show the model's text as it arrives (dimmed), then the final, cleaned answer."""
    from agent.schemas import StreamDelta, StreamFinal

    streamed = False
    async for event in agent.stream(request):
        if isinstance(event, StreamDelta):
            err.print(f"[dim]{escape(event.text)}[/]", end="")
            streamed = True
        elif isinstance(event, StreamFinal):
            if streamed:
                err.print()
            return event.reply
    raise AssertionError("the agent's stream ended without a reply")


@app.command()
def chat(
    collection: Annotated[
        list[str] | None, typer.Option("--collection", "-c", help="Search only this collection (repeatable).")
    ] = None,
    tenant: Annotated[str, typer.Option(help="Whose knowledge base.")] = DEFAULT_TENANT,
) -> None:
    """A conversation in the terminal: follow-ups remember the earlier turns. /forget clears them, /quit ends."""
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)
    conversation = f"chat-{uuid.uuid4().hex[:12]}"

    from agent.schemas import ConversationKey

    async def go() -> None:
        async with agent_service(settings, url) as agent:
            mode = "extracts only (no LLM configured)" if agent.extractive else settings.llm.model
            out.print(Panel(f"Threadwise chat · {escape(str(mode))}\n/forget clears the memory · /quit ends"))
            while True:
                try:
                    question = out.input("[bold cyan]you ›[/] ").strip()
                except (EOFError, KeyboardInterrupt):
                    out.print()
                    return
                if question in ("/quit", "/exit"):
                    return
                if not question:
                    continue
                if question == "/forget":
                    await agent.forget(ConversationKey(tenant=tenant, platform="cli", channel=conversation))
                    out.print("[dim]Forgotten: the next question starts a new conversation.[/]")
                    continue
                try:
                    request = _request(question, tenant=tenant, conversation=conversation, collection=collection)
                except typer.BadParameter as error:
                    err.print(f"[red]{escape(str(error))}[/]")
                    continue
                render_reply(await _stream_to_terminal(agent, request))

    run_async(go())
