"""A scripted OpenAI-compatible Chat Completions server on 127.0.0.1, for driving the real ``ChatOpenAI`` over HTTP.

It runs in its own thread, so async tests can await the client without sharing an event loop with the server.

How a ``POST /v1/chat/completions`` picks its answer:

1. the first queued step (see ``script()``/``push()``) whose ``model`` is ``None`` or equals the request's model is
   consumed; steps restricted to another model stay queued, in order, for that model;
2. otherwise the ``responder`` (if set) is asked, and may return ``None`` to pass;
3. otherwise ``default`` answers (initially ``Reply("OK")``), without being consumed.

So "the primary model times out, the fallback answers" is a plain script::

    with scripted_llm(Delay(5, model="primary"), Reply("from fallback", model="fallback")) as llm:
        ...

Every request (any path, answered or not) is recorded in ``requests``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, TypeAlias

from evals.toolkit.stand_in_llm import completion, completion_chunks, pieces, usage
from tests.fakes.http_server import send_json

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"


@dataclass(frozen=True)
class Reply:
    """A normal answer with ``text``.

    ``completion_tokens`` defaults to the number of words. When streamed, the text goes out word by word, or in pieces
    of ``chunk_size`` characters if given, with ``pause`` seconds between pieces (so a client sees them arrive apart).
    """

    text: str = "OK"
    prompt_tokens: int = 10
    completion_tokens: int | None = None
    chunk_size: int | None = None
    model: str | None = None
    pause: float = 0.0


@dataclass(frozen=True)
class Status:
    """An HTTP error (429, 500, 503, ...) with an OpenAI-style error JSON, or ``body`` as given (JSON-encoded)."""

    code: int
    retry_after: float | None = None
    body: Any = None
    model: str | None = None


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` before answering with ``then``, to make a client time out. Stopping the server cuts it short."""

    seconds: float
    then: Step = Reply()
    model: str | None = None


Step: TypeAlias = Reply | Status | Delay
Responder: TypeAlias = Callable[[dict[str, Any]], Step | None]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. ``headers`` keys are lower-case; ``body`` is the parsed JSON (``None`` if none)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    model: str | None
    stream: bool

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent, as the JSON dicts the client produced."""
        messages = (self.body or {}).get("messages")
        return messages if isinstance(messages, list) else []


def error_body(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    """The error envelope OpenAI returns, which the openai SDK reads the message from."""
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _default_error(code: int) -> dict[str, Any]:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:  # a made-up status code
        phrase = "Error"
    if code == HTTPStatus.TOO_MANY_REQUESTS:
        return error_body(f"Scripted {code}: {phrase}", "requests", "rate_limit_exceeded")
    if code >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return error_body(f"Scripted {code}: {phrase}", "server_error")
    return error_body(f"Scripted {code}: {phrase}", "invalid_request_error")


def _split(reply: Reply) -> list[str]:
    """Stream pieces whose concatenation is exactly the text: by ``chunk_size``, or before each word."""
    if reply.chunk_size:
        size = reply.chunk_size
        return [reply.text[i : i + size] for i in range(0, len(reply.text), size)]
    return pieces(reply.text)


class ScriptedLLM:
    """The fake server. Use ``with ScriptedLLM() as llm:`` or ``scripted_llm()``; ``start()``/``stop()`` also work."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        default: Step = Reply(),
        responder: Responder | None = None,
        models: Sequence[str] = ("fake-model",),
    ) -> None:
        self.api_key = api_key
        self.default = default
        self.responder = responder
        self.models = list(models)
        self._queue: list[Step] = []
        self._requests: list[RecordedRequest] = []
        self._cut_short = 0
        self._lock = threading.Lock()  # handler threads and the test thread share the queue and the log
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- scripting and inspection -------------------------------------------------------------------------------

    def script(self, *steps: Step) -> None:
        """Append steps to the queue, answered in order."""
        with self._lock:
            self._queue.extend(steps)

    def push(self, step: Step) -> None:
        """Append one step to the queue."""
        self.script(step)

    @property
    def pending(self) -> list[Step]:
        """Queued steps not consumed yet (a copy)."""
        with self._lock:
            return list(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def cut_short(self) -> int:
        """Streamed answers whose client closed the connection before the last piece (it stopped reading)."""
        with self._lock:
            return self._cut_short

    def _note_cut_short(self) -> None:
        with self._lock:
            self._cut_short += 1

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Only the chat completion requests: one per client attempt."""
        return [request for request in self.requests if request.path == CHAT_PATH]

    @property
    def base_url(self) -> str:
        """What to pass as ``ChatOpenAI(base_url=...)``."""
        if self._server is None:
            raise RuntimeError("the scripted LLM server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    # --- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), self)
        # A short poll interval keeps shutdown() quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes sleeping Delay steps first, so joining their threads is quick
        server.shutdown()
        server.server_close()  # joins the handler threads: none outlive the fake
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # --- used by the handler ------------------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_step(self, body: dict[str, Any]) -> Step:
        model = body.get("model")
        with self._lock:
            for index, step in enumerate(self._queue):
                if step.model is None or step.model == model:
                    return self._queue.pop(index)
        # Outside the lock: a responder may be slow or inspect ``requests``.
        if self.responder is not None and (answer := self.responder(body)) is not None:
            return answer
        return self.default

    def _wait_or_stop(self, seconds: float) -> bool:
        """Sleep; ``True`` if the server is stopping and the answer should be dropped."""
        return self._stopping.wait(seconds)


@contextmanager
def scripted_llm(
    *steps: Step,
    api_key: str | None = None,
    default: Step = Reply(),
    responder: Responder | None = None,
    models: Sequence[str] = ("fake-model",),
) -> Iterator[ScriptedLLM]:
    """Run a ``ScriptedLLM`` with ``steps`` already queued; stopped on exit."""
    llm = ScriptedLLM(api_key=api_key, default=default, responder=responder, models=models)
    llm.script(*steps)
    with llm:
        yield llm


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins handler threads instead of abandoning them
    block_on_close = True

    def __init__(self, address: tuple[str, int], llm: ScriptedLLM) -> None:
        super().__init__(address, _Handler)
        self.llm = llm


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no idle keep-alive thread can hold up server_close(), and a stream's
    # end is simply the connection closing.
    protocol_version = "HTTP/1.0"
    timeout = 5  # a half-open client connection cannot block shutdown forever
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        # The client may have given up (e.g. its timeout fired during a Delay): nobody is left to answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route()

    def _route(self) -> None:
        llm = self.server.llm
        path = self.path.split("?", 1)[0]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else None
        model = body.get("model") if body else None
        llm._record(
            RecordedRequest(
                method=self.command,
                path=path,
                headers={key.lower(): value for key, value in self.headers.items()},
                body=body,
                model=model if isinstance(model, str) else None,
                stream=bool(body and body.get("stream")),
            )
        )

        if llm.api_key is not None and self.headers.get("Authorization") != f"Bearer {llm.api_key}":
            send_json(self, 401, error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
        elif self.command == "GET" and path == MODELS_PATH:
            data = [{"id": name, "object": "model", "created": 0, "owned_by": "tests"} for name in llm.models]
            send_json(self, 200, {"object": "list", "data": data})
        elif self.command == "POST" and path == CHAT_PATH:
            if body is None:
                send_json(self, 400, error_body("The request body must be a JSON object.", "invalid_request_error"))
            else:
                self._answer(llm._next_step(body), body)
        else:
            message = f"Unknown path {self.command} {path}"
            send_json(self, 404, error_body(message, "invalid_request_error", "not_found"))

    def _answer(self, step: Step, body: dict[str, Any]) -> None:
        if isinstance(step, Delay):
            if self.server.llm._wait_or_stop(step.seconds):
                return  # stopping: drop the connection rather than hold up shutdown
            self._answer(step.then, body)
        elif isinstance(step, Status):
            headers = {} if step.retry_after is None else {"Retry-After": f"{step.retry_after:g}"}
            send_json(self, step.code, _default_error(step.code) if step.body is None else step.body, headers)
        elif body.get("stream"):
            self._stream(step, body)
        else:
            send_json(self, 200, _completion(step, body))

    def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        try:
            for event in _chunks(reply, body):
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                if reply.pause:
                    self.wfile.flush()
                    time.sleep(reply.pause)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.server.llm._note_cut_short()
            raise


def _usage(reply: Reply) -> dict[str, int]:
    completion_tokens = len(reply.text.split()) if reply.completion_tokens is None else reply.completion_tokens
    return usage(reply.prompt_tokens, completion_tokens)


def _completion(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    return completion(reply.text, body, _usage(reply))


def _chunks(reply: Reply, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` events of a stream, as OpenAI sends them (minus the final ``[DONE]``)."""
    return completion_chunks(_split(reply), body, _usage(reply))
