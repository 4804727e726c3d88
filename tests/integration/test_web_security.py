"""The web app's browser defences through the real app: security headers on every response, host names other
than the server's refused (DNS rebinding), the API docs and the readiness details for the operator only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from structlog.testing import capture_logs

from bot.web.app import create_app
from bot.web.security_headers import CONTENT_SECURITY_POLICY
from bot.web.trusted_hosts import allowed_host_names, host_name
from core.settings import load_settings
from tests.integration.helpers.api import ADMIN_TOKEN

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@asynccontextmanager
async def client_for(
    database_url: str, base_url: str = "http://threadwise.test", **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(load_settings(database={"url": database_url}, **settings))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield client


def assert_protected(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, response.request.url
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self';" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"


async def test_every_kind_of_response_carries_the_security_headers(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        responses = [
            await client.get("/"),
            await client.get("/admin"),
            await client.get("/healthz"),
            await client.get("/static/playground.js"),
            await client.post("/api/v1/ask", json={"question": "Anything?", "tenant": "nobody", "stream": True}),
            await client.post("/api/v1/ask", json={}),  # a 422
            await client.get("/no-such-page"),  # a 404
            await client.get("/", headers={"Host": "evil.example"}),  # refused before any route
        ]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 200, 422, 404, 400]
    assert responses[4].headers["content-type"].startswith("text/event-stream")  # still streamed
    for response in responses:
        assert_protected(response)


async def test_pages_load_their_scripts_and_styles_from_files(database_url_text: str) -> None:
    async with client_for(database_url_text) as client:
        pages = {path: (await client.get(path)).text for path in ("/", "/admin", "/docs")}
        assets = {
            path: await client.get(path)
            for path in (
                "/static/playground.js",
                "/static/playground.css",
                "/static/admin.css",
                "/static/docs.js",
                "/static/swagger-ui/swagger-ui-bundle.js",
                "/static/swagger-ui/swagger-ui.css",
            )
        }
    for path, page in pages.items():
        assert not re.search(r"<script>|<style|\sstyle=|\son[a-z]+=", page), f"inline script or style in {path}"
    assert '<script src="/static/playground.js"' in pages["/"]
    assert 'href="/static/admin.css"' in pages["/admin"]
    for path, response in assets.items():
        assert response.status_code == 200, path
        expected = "text/css" if path.endswith(".css") else "text/javascript"
        assert response.headers["content-type"].startswith(expected), path
        assert response.headers["cache-control"] == "no-cache"  # revalidated: no stale script after an upgrade
    assert "/api/v1/ask" in assets["/static/playground.js"].text
    assert ".outcome-answered" in assets["/static/admin.css"].text


async def test_a_foreign_host_name_is_refused_in_local_mode(
    database_url_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB_ALLOWED_HOSTS")  # the defaults: loopback names only
    with capture_logs() as logs:
        async with client_for(database_url_text, base_url="http://127.0.0.1:8000") as client:
            refused = {path: await client.get(path, headers={"Host": "evil.example"}) for path in ("/", "/admin")}
            refused["/api/v1/ask"] = await client.post(
                "/api/v1/ask", json={"question": "Anything?"}, headers={"Host": "evil.example:8000"}
            )
            refused["no host"] = await client.get("/", headers={"Host": ""})
            served = [
                await client.get("/admin", headers={"Host": host})
                for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000")
            ]
            probe = await client.get("/healthz", headers={"Host": "10.1.2.3:8000"})  # a kubelet's probe
    for path, response in refused.items():
        assert response.status_code == 400, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert "WEB_ALLOWED_HOSTS" in response.json()["detail"]
    assert "'evil.example'" in refused["/"].json()["detail"]
    assert [response.status_code for response in served] == [200] * 4
    assert probe.status_code == 200
    assert any(entry["event"] == "request refused: host name not allowed" for entry in logs)


async def test_configured_names_and_subdomain_patterns_are_served(
    database_url_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEB_ALLOWED_HOSTS", "Bot.Example.com, *.corp.example")
    async with client_for(database_url_text, base_url="https://bot.example.com") as client:
        hosts = ["bot.example.com", "bot.example.com:443", "team.corp.example", "corp.example", "example.com"]
        codes = [(await client.get("/", headers={"Host": host})).status_code for host in hosts]
    assert codes == [200, 200, 200, 400, 400]


@pytest.mark.usefixtures("without_pooler")
def test_the_default_names_are_loopback_and_a_specific_listen_address() -> None:
    assert host_name("[::1]:8000") == "::1" and host_name("Example.COM.:80") == "example.com"
    assert allowed_host_names(load_settings()) == ["localhost", "127.0.0.1", "::1", "threadwise.test"]
    lan = load_settings(web={"host": "192.168.1.20", "allowed_hosts": []})
    assert allowed_host_names(lan) == ["localhost", "127.0.0.1", "::1", "192.168.1.20"]
    with capture_logs() as logs:
        production = load_settings(
            environment="production", admin={"token": ADMIN_TOKEN}, web={"host": "0.0.0.0", "allowed_hosts": []}
        )
        assert allowed_host_names(production) == ["localhost", "127.0.0.1", "::1"]
    assert any("WEB_ALLOWED_HOSTS is unset" in entry["event"] for entry in logs)  # said at start-up


async def test_the_api_docs_are_for_the_operator_and_load_nothing_from_elsewhere(database_url_text: str) -> None:
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        anonymous = [await client.get(path) for path in ("/docs", "/openapi.json")]
        page = await client.get("/docs", auth=("admin", ADMIN_TOKEN))  # a browser's login
        schema = await client.get("/openapi.json", headers=BEARER)
        redoc = await client.get("/redoc", headers=BEARER)
    assert [response.status_code for response in anonymous] == [401, 401]
    assert anonymous[0].headers["www-authenticate"].startswith("Basic")  # the browser asks for a login
    assert page.status_code == 200 and schema.status_code == 200
    assert "/api/v1/ask" in schema.json()["paths"]
    assert not set(schema.json()["paths"]) & {"/docs", "/openapi.json"}
    assert '<script src="/static/swagger-ui/swagger-ui-bundle.js">' in page.text
    assert re.findall(r"https?://", page.text) == []  # no CDN
    assert redoc.status_code == 404


async def test_readiness_details_are_for_the_operator(database_url_text: str) -> None:
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        anonymous = await client.get("/readyz")
        wrong = await client.get("/readyz", headers={"Authorization": "Bearer not-the-token"})
        operator = await client.get("/readyz", headers=BEARER)
        live = await client.get("/healthz")
    assert anonymous.status_code == wrong.status_code == operator.status_code == 200
    assert anonymous.json() == wrong.json() == {"status": "ready"}
    assert "pgvector" not in anonymous.text and "PostgreSQL" not in anonymous.text
    assert operator.json()["checks"]["pgvector"].startswith("pgvector 0.")
    assert live.status_code == 200 and live.json() == {"status": "ok"}


async def test_an_open_servers_readiness_details_are_not_told_to_a_foreign_host(
    database_url_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEB_ALLOWED_HOSTS")
    async with client_for(database_url_text, base_url="http://127.0.0.1:8000") as client:  # no token: open
        local = await client.get("/readyz")
        rebound = await client.get("/readyz", headers={"Host": "evil.example"})  # a DNS-rebinding page
    assert local.json()["checks"]["pgvector"].startswith("pgvector 0.")
    assert rebound.status_code == 200 and rebound.json() == {"status": "ready"}


async def _chunks(total: int, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield b"a" * min(size, total - sent)
        sent += size


async def test_bodies_over_their_routes_limit_are_refused_before_anything_reads_them(database_url_text: str) -> None:
    async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
        declared = await client.post("/api/v1/ask", content=b"a" * (200 * 1024))  # no token: 413 all the same
        chunked = await client.post(
            "/api/v1/ask", content=_chunks(10 * 1024 * 1024), headers={"Content-Type": "application/json"}
        )
        chunked_with_token = await client.post(
            "/api/v1/ask", content=_chunks(300 * 1024), headers=BEARER | {"Content-Type": "application/json"}
        )
        dashboard = await client.post("/admin/answers/1/verify", content=b"x" * (20 * 1024), headers=BEARER)
        under = await client.post("/api/v1/ask", content=b"a" * (100 * 1024))  # within the limit: the 401
    for response in (declared, chunked, chunked_with_token, dashboard):
        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "larger than this route accepts" in response.json()["detail"]
        assert_protected(response)
    assert under.status_code == 401
