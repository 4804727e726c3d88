"""The page a person sees at the end of an install (``/slack/oauth_redirect``): plain HTML, no script and no style
(the Content-Security-Policy allows neither inline), saying what happened and what to do next.

Bolt runs the flow; these replace its default pages, whose reasons are error codes.
"""

from __future__ import annotations

from html import escape

from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.response import BoltResponse

from core.logging import get_logger

log = get_logger(__name__)

START_AGAIN = '<a href="/slack/install">Start the installation again</a>'

# Bolt's failure reasons; anything else is an error code Slack sent back.
_REASONS = {
    "access_denied": "The installation was cancelled in Slack. Nothing was installed.",
    "invalid_browser": (
        "This page was opened in another browser than the one that started the installation, or reloaded. "
        f"{START_AGAIN} in one browser."
    ),
    "invalid_state": f"This installation link has expired or was already used. {START_AGAIN}.",
    "missing_code": f"Slack sent no authorisation code. {START_AGAIN}.",
    "invalid_code": f"Slack did not accept the authorisation code (it expires quickly, and works once). {START_AGAIN}.",
    "storage_error": (
        "Threadwise could not save the installation. Try again in a moment; if it keeps failing, tell whoever runs "
        "Threadwise."
    ),
}


def _page(title: str, *paragraphs: str) -> str:
    body = "\n".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    return (
        '<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{escape(title)} · Threadwise</title></head>\n"
        f"<body>\n<h1>{escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def install_callbacks(tenant: str | None) -> AsyncCallbackOptions:
    """The success and failure pages; ``tenant`` is ``SLACK_TENANT`` (None: each workspace searches its own)."""

    async def succeeded(args: AsyncSuccessArgs) -> BoltResponse:
        installation = args.installation
        org_wide = bool(installation.is_enterprise_install)
        where = escape(
            (installation.enterprise_name if org_wide else installation.team_name)
            or installation.team_id
            or "your workspace"
        )
        into = f"the organisation <b>{where}</b>" if org_wide else f"the workspace <b>{where}</b>"
        log.info(
            "slack workspace installed",
            team_id=installation.team_id,
            enterprise_id=installation.enterprise_id,
            org_wide=org_wide,
        )
        page = _page(
            "Threadwise is installed",
            f"Threadwise is now in {into}. Invite it to a channel with <code>/invite @Threadwise</code> and mention "
            "it with a question, or send it a direct message.",
            _documents(tenant, None if org_wide else installation.team_id),
            '<a href="slack://open">Open Slack</a>',
        )
        return _response(args.settings.state_utils.build_set_cookie_for_deletion(), 200, page)

    async def failed(args: AsyncFailureArgs) -> BoltResponse:
        reason = _REASONS.get(args.reason) or (
            f"Slack reported <code>{escape(args.reason)}</code>. {START_AGAIN}, or tell whoever runs Threadwise."
        )
        log.info("slack install not completed", reason=args.reason)
        page = _page("Threadwise was not installed", reason)
        return _response(args.settings.state_utils.build_set_cookie_for_deletion(), args.suggested_status_code, page)

    return AsyncCallbackOptions(success=succeeded, failure=failed)


def _documents(tenant: str | None, team_id: str | None) -> str:
    """Where the answers come from: ``SLACK_TENANT``, else the workspace's own tenant (for an org-wide install, each
    workspace's own)."""
    if tenant is None and team_id is None:
        return (
            "Each workspace of the organisation answers from its own documents, under its team id (<code>T…</code>): "
            "whoever runs Threadwise adds them with <code>threadwise ingest … --tenant T…</code>."
        )
    owner = escape(tenant or team_id or "")
    return (
        f"It answers from the documents of the tenant <code>{owner}</code>: whoever runs Threadwise adds them with "
        f"<code>threadwise ingest … --tenant {owner}</code>."
    )


def _response(delete_cookie: str, status: int, page: str) -> BoltResponse:
    # The state's cookie has done its work, whatever the outcome.
    return BoltResponse(
        status=status, body=page, headers={"Content-Type": "text/html; charset=utf-8", "Set-Cookie": delete_cookie}
    )
