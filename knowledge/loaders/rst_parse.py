"""rST text to a docutils doctree, safely: no file or raw inclusion, no messages, no config files, no global leaks."""

from __future__ import annotations

import copy
import re
import threading
from typing import Any

from docutils import frontend, nodes, utils
from docutils.parsers.rst import Parser, directives, roles
from docutils.parsers.rst.languages import en
from docutils.transforms import references

from knowledge.loaders import rst_directives, rst_roles

# docutils keeps its role and directive tables in module globals, and the ``role``/``default-role`` directives
# of a document write to them; each parse restores them, under one lock, so documents cannot affect each other.
_LOCK = threading.Lock()
_LOCAL_ROLES: dict[str, Any] = vars(roles)["_roles"]
_LOCAL_DIRECTIVES: dict[str, Any] = vars(directives)["_directives"]
_DIRECTIVE_REGISTRY: dict[str, Any] = vars(directives)["_directive_registry"]

_NAME = r"(?:(?!_)\w)+(?:[-._+:](?:(?!_)\w)+)*"
# Found anywhere a directive can start, table cells included; a superset is harmless.
_DIRECTIVE_USE = re.compile(rf"(?<![^\s|])\.\.[ \t]+(?P<name>{_NAME})[ \t]*::")

# Resolve substitutions and hyperlink targets; leave out the transforms that only add messages or
# ``problematic`` nodes (dangling references), as an unresolved reference simply renders as its text.
_TRANSFORMS = [
    references.Substitutions,
    references.PropagateTargets,
    references.AnonymousHyperlinks,
    references.IndirectHyperlinks,
    references.ExternalTargets,
    references.InternalTargets,
]


class _NullSink:
    """A warning stream that keeps nothing."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def _settings() -> Any:
    # get_default_settings reads no configuration files, unlike a Publisher.
    settings = frontend.get_default_settings(Parser)
    settings.file_insertion_enabled = False
    settings.raw_enabled = False
    settings.report_level = 5
    settings.halt_level = 5
    settings.warning_stream = _NullSink()
    settings.syntax_highlight = "none"  # code stays one text node, as written
    settings.smart_quotes = False
    settings.pep_references = False
    settings.rfc_references = False
    settings.language_code = "en"
    return settings


_SETTINGS = _settings()


def unknown_directive_names(text: str) -> set[str]:
    names = {match["name"].lower() for match in _DIRECTIVE_USE.finditer(text)}
    return {name for name in names if name not in _LOCAL_DIRECTIVES | en.directives | _DIRECTIVE_REGISTRY}


def parse_rst(text: str, *, source_uri: str = "<rst>") -> nodes.document:
    """The doctree of ``text``, with Sphinx's roles and directives known and any unknown one made harmless."""
    parser = Parser()
    document = utils.new_document(source_uri, copy.copy(_SETTINGS))
    with _LOCK:
        saved_roles, saved_directives = dict(_LOCAL_ROLES), dict(_LOCAL_DIRECTIVES)
        try:
            rst_roles.register_generic_roles(rst_roles.unknown_role_names(text, _LOCAL_ROLES))
            rst_directives.register_generic_directives(unknown_directive_names(text))
            parser.parse(text, document)
        finally:
            _LOCAL_ROLES.clear()
            _LOCAL_ROLES.update(saved_roles)
            _LOCAL_DIRECTIVES.clear()
            _LOCAL_DIRECTIVES.update(saved_directives)
    document.transformer.add_transforms(_TRANSFORMS)
    document.transformer.apply_transforms()
    return document
