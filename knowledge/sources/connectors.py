"""The kinds of source, each with its settings model and its connector, built from a source's stored settings.

The kinds that know no chat platform are built in (their modules are imported only when used); the Slack and
Discord history kinds live with their platform in ``bot/`` and are handed to ``Sources`` as extra kinds.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from knowledge.errors import KnowledgeError
from knowledge.sources.protocol import Connector

BUILT_IN_MODULES: Mapping[str, str] = {
    "website": "knowledge.sources.website",
    "github": "knowledge.sources.github",
    "confluence": "knowledge.sources.confluence",
    "notion": "knowledge.sources.notion",
}
"""Kind → the module whose ``KIND`` describes it."""


@dataclass(frozen=True, slots=True)
class RunContext:
    """What one run of a source gives its connector besides the settings."""

    known_versions: Mapping[str, str] = field(default_factory=dict)
    """Item key → the version stored by the last sync, so that a connector can ask the place conditionally."""
    max_bytes: int = 20_000_000
    """The largest body a connector downloads."""
    secret_key: SecretStr | None = None
    """Opens the tokens sealed in settings (``knowledge.sources.secrets``)."""


@dataclass(frozen=True, slots=True)
class ConnectorKind:
    """One kind of source: how its settings are checked and how a run's connector is built from them."""

    kind: str
    settings: type[BaseModel]
    build: Callable[[Any, RunContext], Connector]
    """Called with the validated settings (an instance of ``settings``)."""


class ConnectorKinds:
    """The kinds a deployment knows: the built-in ones and any ``extra`` (the chat platforms' history kinds)."""

    def __init__(self, extra: Iterable[ConnectorKind] = ()) -> None:
        self._extra = {kind.kind: kind for kind in extra}

    @property
    def names(self) -> list[str]:
        return sorted({*BUILT_IN_MODULES, *self._extra})

    def get(self, kind: str) -> ConnectorKind:
        if kind in self._extra:
            return self._extra[kind]
        if kind in BUILT_IN_MODULES:
            found: ConnectorKind = importlib.import_module(BUILT_IN_MODULES[kind]).KIND
            return found
        raise KnowledgeError(f"unknown source kind {kind!r}; one of: {', '.join(self.names)}")

    def validate(self, kind: str, settings: Mapping[str, Any]) -> BaseModel:
        """``settings`` checked against the kind's model; ``KnowledgeError`` naming each problem otherwise."""
        model = self.get(kind).settings
        try:
            return model.model_validate(dict(settings))
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors())
            raise KnowledgeError(f"{kind} source settings: {problems}") from None

    def connector(self, kind: str, settings: Mapping[str, Any], context: RunContext) -> Connector:
        """A connector for one run of a source (its request budget and caches are that run's)."""
        return self.get(kind).build(self.validate(kind, settings), context)
