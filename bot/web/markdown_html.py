"""An answer's Markdown as HTML for the playground, safe to insert into the page.

CommonMark with tables, raw HTML off (a document's ``<script>`` or ``<img onerror>`` is shown as text), and
markdown-it's link check, which refuses ``javascript:``, ``vbscript:``, ``file:`` and ``data:`` addresses.
Images are off too: the page's Content-Security-Policy would block another site's image anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from bot.answer_markdown import detach_citations

LINK_REL = "noopener noreferrer nofollow"


def _link_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    # Links open in a new tab, which neither learns of the playground nor gains rank from it.
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", LINK_REL)
    return self.renderToken(tokens, idx, options, env)


@cache
def _markdown() -> MarkdownIt:
    markdown = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")
    markdown.add_render_rule("link_open", _link_open)
    return markdown


def to_html(markdown: str) -> str:
    html: str = _markdown().render(detach_citations(markdown))
    return html
