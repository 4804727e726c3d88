"""Sphinx's interpreted-text roles for plain docutils: each becomes inline code or plain text, never an error."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from docutils import nodes, utils
from docutils.parsers.rst import roles
from docutils.parsers.rst.languages import en

if TYPE_CHECKING:
    from docutils.parsers.rst.roles import _RoleFn
    from docutils.parsers.rst.states import Inliner

RoleResult = tuple[list[nodes.Node], list[nodes.system_message]]

# Names of code: Python objects, shell commands, files and keys read best in backticks.
CODE_ROLES = frozenset(
    {"func", "meth", "class", "attr", "data", "exc", "mod", "obj", "const", "deco", "type", "envvar", "option"}
    | {"command", "program", "file", "samp", "kbd", "makevar", "mimetype", "regexp", "token", "keyword"}
    | {f"py:{name}" for name in ("func", "meth", "class", "attr", "data", "exc", "mod", "obj", "const", "deco")}
    | {"std:envvar", "std:option", "std:token", "std:keyword"}
)
# Cross-references and labels whose words are prose.
TEXT_ROLES = frozenset(
    {"ref", "doc", "term", "any", "numref", "download", "guilabel", "menuselection", "abbr", "dfn", "manpage"}
    | {"std:ref", "std:doc", "std:term", "issue", "pr", "gh", "user", "commit", "mailheader", "newsgroup"}
)
# Python Enhancement Proposals and RFCs: docutils has these, but not Sphinx's ``8#anchor`` or ``Title <8>`` forms.
_NUMBERED = {"pep": ("PEP", "https://peps.python.org/pep-{:04d}/"), "rfc": ("RFC", "https://tools.ietf.org/html/rfc{}")}

_EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*(?<!\x00)<(?P<target>.*?)>$", re.DOTALL)
# How docutils spells a role name, in its prefix (``:name:`x```) and suffix (```x`:name:``) positions.
_NAME = r"(?:(?!_)\w)+(?:[-._+:](?:(?!_)\w)+)*"
_ROLE_USE = re.compile(rf":(?P<prefix>{_NAME}):`|`:(?P<suffix>{_NAME}):")


def role_text(text: str) -> str:
    """Sphinx's displayed text: ``Title <target>`` shows the title, ``~a.b.c`` shows ``c``, ``!``/``.`` go."""
    match = _EXPLICIT_TITLE.match(text)
    if match:
        return utils.unescape(match["title"]).strip()
    target = utils.unescape(text).strip().lstrip("!")
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return target.lstrip(".")


def code_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Inliner,
    options: Mapping[str, Any] | None = None,
    content: Sequence[str] | None = None,
) -> RoleResult:
    """A role whose text is code: ``:func:`~app.run``` → ``run`` in backticks."""
    shown = role_text(text)
    return [nodes.literal(rawtext, shown)], []


def text_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Inliner,
    options: Mapping[str, Any] | None = None,
    content: Sequence[str] | None = None,
) -> RoleResult:
    """A role whose text is prose: a cross-reference, a GUI label, an issue number."""
    shown = role_text(text)
    base = name.lower().rsplit(":", 1)[-1]
    if base == "guilabel":  # "&Cancel" marks a keyboard accelerator; "&&" is a literal ampersand
        shown = shown.replace("&&", "\x00").replace("&", "").replace("\x00", "&")
    elif base == "menuselection":
        shown = shown.replace("-->", "→")
    elif base in {"issue", "pr"} and shown.isdigit():
        shown = f"#{shown}"
    return [nodes.inline(rawtext, shown)], []


def numbered_role(
    name: str,
    rawtext: str,
    text: str,
    lineno: int,
    inliner: Inliner,
    options: Mapping[str, Any] | None = None,
    content: Sequence[str] | None = None,
) -> RoleResult:
    """``:pep:`8``` → a link to PEP 8; a title or ``#anchor`` is kept, a bad number becomes plain text."""
    label, url = _NUMBERED[name.lower()]
    match = _EXPLICIT_TITLE.match(text)
    number_text = utils.unescape(match["target"] if match else text).strip()
    number, _, anchor = number_text.partition("#")
    if not number.isdigit():
        return [nodes.inline(rawtext, role_text(text))], []
    shown = role_text(text) if match else f"{label} {int(number)}"
    uri = url.format(int(number)) + (f"#{anchor}" if anchor else "")
    return [nodes.reference(rawtext, shown, refuri=uri)], []


def _register(name: str, role_fn: object) -> None:
    roles.register_local_role(name, cast("_RoleFn", role_fn))


def register_sphinx_roles() -> None:
    """Teach docutils Sphinx's roles; called once at import (the names are fixed, so the registry stays bounded)."""
    for name in CODE_ROLES:
        _register(name, code_role)
    for name in TEXT_ROLES:
        _register(name, text_role)
    for name in _NUMBERED:
        _register(name, numbered_role)


def unknown_role_names(text: str, known: Mapping[str, object]) -> set[str]:
    """Role names used in ``text`` that neither ``known`` (the local registry) nor docutils itself knows."""
    names = {(match["prefix"] or match["suffix"]).lower() for match in _ROLE_USE.finditer(text)}
    builtin = set(en.roles) | set(en.roles.values())
    return {name for name in names if name not in known and name not in builtin}


def register_generic_roles(names: set[str]) -> None:
    """Unknown roles show their text as inline code: most are project extensions naming code."""
    for name in names:
        _register(name, code_role)


register_sphinx_roles()
