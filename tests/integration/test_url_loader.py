"""load_url against a real HTTP server on 127.0.0.1: content types, redirects, errors and the size cap."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
import pytest_asyncio
from fpdf import FPDF

from knowledge.loaders import LoadError, load_url
from tests.fakes.http_server import serving

MAX = 100_000

PAGE = b"""<!doctype html><html><head><title>Threadwise FAQ</title><script>var NAV = 1;</script></head>
<body><nav>Home | Docs</nav><main><h1>FAQ</h1><p>Does it work offline? Yes.</p></main>
<footer>Copyright</footer></body></html>"""


def make_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_title("Served PDF")
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.cell(text="Served over HTTP.")
    return bytes(pdf.output())


# path → (status, headers, body); a None body means stream without a Content-Length until the client hangs up.
ROUTES: dict[str, tuple[int, dict[str, str], bytes | None]] = {
    "/faq.html": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE),
    "/old-faq": (301, {"Location": "/moved"}, b""),
    "/moved": (302, {"Location": "/faq.html"}, b""),
    "/missing": (404, {"Content-Type": "text/plain"}, b"not here"),
    "/broken": (500, {"Content-Type": "text/plain"}, b"oops"),
    "/big.txt": (200, {"Content-Type": "text/plain"}, b"a" * (3 * MAX)),
    "/endless.txt": (200, {"Content-Type": "text/plain"}, None),
    "/report": (200, {"Content-Type": "application/pdf"}, make_pdf()),
    "/raw/setup-notes.md": (200, {"Content-Type": "text/plain; charset=utf-8"}, b"# Setup notes\n\nSteps.\n"),
    "/plain": (200, {"Content-Type": "text/plain; charset=iso-8859-1"}, "Café au lait\n".encode("latin-1")),
    "/files/guide.rst": (200, {"Content-Type": "application/octet-stream"}, b"Guide\n=====\n\nRead me.\n"),
    "/logo.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n\x00\x00"),
    "/": (200, {"Content-Type": "text/markdown"}, b"Home page, no heading.\n"),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, headers, body = ROUTES.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if body is None:
            self.end_headers()
            self._stream_forever()
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream_forever(self) -> None:
        # HTTP/1.0 without Content-Length: the body runs until the connection closes, so only counting stops it.
        try:
            for _ in range(10_000):
                self.wfile.write(b"b" * 16_384)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(Handler, name="pages") as url:
        yield url


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # trust_env=False: a developer's HTTP_PROXY must not route loopback requests elsewhere.
    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
        yield client


async def test_html_page_is_loaded_as_markdown(base_url: str, client: httpx.AsyncClient) -> None:
    document = await load_url(f"{base_url}/faq.html", client=client, max_bytes=MAX)

    assert document.source_uri == f"{base_url}/faq.html"
    assert document.title == "Threadwise FAQ"
    assert document.text == "# FAQ\n\nDoes it work offline? Yes.\n"


async def test_redirects_are_followed_and_the_final_url_recorded(base_url: str, client: httpx.AsyncClient) -> None:
    document = await load_url(f"{base_url}/old-faq", client=client, max_bytes=MAX)

    assert document.source_uri == f"{base_url}/faq.html"
    assert document.title == "Threadwise FAQ"


@pytest.mark.parametrize(("path", "status"), [("/missing", "HTTP 404 Not Found"), ("/broken", "HTTP 500")])
async def test_error_status_is_a_load_error(base_url: str, client: httpx.AsyncClient, path: str, status: str) -> None:
    with pytest.raises(LoadError, match=status) as caught:
        await load_url(f"{base_url}{path}", client=client, max_bytes=MAX)

    assert caught.value.source == f"{base_url}{path}"


async def test_body_over_the_limit_is_refused(base_url: str, client: httpx.AsyncClient) -> None:
    with pytest.raises(LoadError, match=r"300 kB is over the 100 kB limit \(KNOWLEDGE_MAX_FILE_BYTES\)"):
        await load_url(f"{base_url}/big.txt", client=client, max_bytes=MAX)


async def test_endless_body_is_cut_off_at_the_limit(base_url: str, client: httpx.AsyncClient) -> None:
    with pytest.raises(LoadError, match=r"the body is over the 100 kB limit"):
        await load_url(f"{base_url}/endless.txt", client=client, max_bytes=MAX)


async def test_pdf_is_chosen_by_content_type(base_url: str, client: httpx.AsyncClient) -> None:
    document = await load_url(f"{base_url}/report", client=client, max_bytes=MAX)

    assert document.title == "Served PDF"
    assert document.text == "Served over HTTP.\n"
    assert document.metadata["pages"] == 1


async def test_markdown_served_as_plain_text_is_read_as_markdown(base_url: str, client: httpx.AsyncClient) -> None:
    document = await load_url(f"{base_url}/raw/setup-notes.md", client=client, max_bytes=MAX)

    assert document.title == "Setup notes"


async def test_suffix_decides_when_the_content_type_says_nothing(base_url: str, client: httpx.AsyncClient) -> None:
    document = await load_url(f"{base_url}/files/guide.rst", client=client, max_bytes=MAX)

    assert document.text == "# Guide\n\nRead me.\n"


async def test_declared_charset_is_honoured(base_url: str, client: httpx.AsyncClient) -> None:
    document = await load_url(f"{base_url}/plain", client=client, max_bytes=MAX)

    assert document.text == "Café au lait\n"
    assert document.title == "plain"


async def test_title_falls_back_to_the_host(base_url: str, client: httpx.AsyncClient) -> None:
    document = await load_url(f"{base_url}/", client=client, max_bytes=MAX)

    assert document.title == "127.0.0.1"


async def test_unsupported_content_type_is_a_load_error(base_url: str, client: httpx.AsyncClient) -> None:
    with pytest.raises(LoadError, match="unsupported content type image/png"):
        await load_url(f"{base_url}/logo.png", client=client, max_bytes=MAX)


async def test_network_error_names_the_host_and_error_class(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(LoadError, match=r"cannot fetch from 127\.0\.0\.1 \(ConnectError") as caught:
        await load_url(f"http://127.0.0.1:{port}/doc", client=client, max_bytes=MAX)

    assert caught.value.message.startswith(f"skipped http://127.0.0.1:{port}/doc: cannot fetch from 127.0.0.1")
    assert "Traceback" not in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("url", "reason"), [("http://[::1/page", "invalid URL"), ("https:///no-host", "URL has no host")]
)
async def test_malformed_url_is_a_load_error(client: httpx.AsyncClient, url: str, reason: str) -> None:
    with pytest.raises(LoadError, match=reason):
        await load_url(url, client=client, max_bytes=MAX)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/file.md", "file:///notes.md", "127.0.0.1/page"])
async def test_only_http_and_https_are_fetched(client: httpx.AsyncClient, url: str) -> None:
    with pytest.raises(LoadError, match="only http and https"):
        await load_url(url, client=client, max_bytes=MAX)
