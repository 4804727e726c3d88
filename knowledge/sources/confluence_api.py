"""What the Confluence connector reads of the REST API v2's answers, as models: everything else in them is ignored, and
an answer without what is needed becomes a ``ConnectorError`` naming the field, not a ``KeyError`` deep in a sync."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.sources.http import SourceResponse, redacted_url
from knowledge.sources.protocol import ConnectorError

_M = TypeVar("_M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True, populate_by_name=True)


class _Links(_Model):
    webui: str = ""
    next: str | None = None


class _Version(_Model):
    number: int


class Page(_Model):
    id: str
    title: str = ""
    parent_id: str | None = Field(default=None, alias="parentId")
    version: _Version
    links: _Links = Field(default_factory=_Links, alias="_links")


class PageList(_Model):
    results: list[Page]
    links: _Links = Field(default_factory=_Links, alias="_links")


class Space(_Model):
    id: str
    key: str = ""
    homepage_id: str | None = Field(default=None, alias="homepageId")


class SpaceList(_Model):
    results: list[Space]


class _Storage(_Model):
    value: str = ""


class _Body(_Model):
    storage: _Storage = Field(default_factory=_Storage)


class PageWithBody(Page):
    body: _Body = Field(default_factory=_Body)


def parse_answer(model: type[_M], data: Any, url: str) -> _M:
    """``data`` (the JSON ``url`` answered) read as ``model``."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(map(str, problem["loc"])) or "the answer"
        raise ConnectorError(f"unexpected answer from {redacted_url(url)} ({where}: {problem['msg']})") from None


def error_reason(response: SourceResponse) -> str:
    """The API's own word on an error (``{"errors": [{"title": …, "detail": …}]}``), short, when it gives one."""
    try:
        errors = response.json().get("errors") or []
        first = errors[0] if isinstance(errors[0], dict) else {}
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""
    words = " ".join(str(first.get(field) or "") for field in ("title", "detail")).strip()
    return f": {words[:200]}" if words else ""
