"""Collections: find, create and delete them, always within one tenant. Functions flush; callers commit."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from knowledge.audience import TENANT_WIDE
from knowledge.embeddings.base import Embedder
from knowledge.errors import EmbeddingModelMismatchError, KnowledgeError, UnknownCollectionError
from knowledge.models import Collection
from knowledge.published import PublishedSite
from knowledge.term_stats import remove_collection_postings
from knowledge.vector_index import drop_vector_index

MAX_NAME_LENGTH = 200
PUBLISHED_KEY = "published"
"""Where a collection's settings keep its published site."""

# Every search looks its collections up: the statements are built once (building one per call cost about a
# fifth of the lookup's CPU).
_OF_TENANT = select(Collection).where(Collection.tenant == bindparam("tenant")).order_by(Collection.name)
_NAMED = _OF_TENANT.where(Collection.name.in_(bindparam("names", expanding=True)))


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise KnowledgeError(f"a collection name must be 1–{MAX_NAME_LENGTH} characters; got {len(cleaned)}")
    return cleaned


def ensure_same_model(collection: Collection, embedder: Embedder) -> None:
    if collection.embedding_model != embedder.name or collection.dims != embedder.dims:
        raise EmbeddingModelMismatchError(collection.name, collection.embedding_model, embedder.name)


async def get_or_create_collection(
    session: AsyncSession, *, tenant: str, name: str, embedder: Embedder, audience: str | None = None
) -> tuple[Collection, bool]:
    """The tenant's collection called ``name`` (created if missing, for ``audience``: by default the whole
    tenant) and whether it was created.

    Refuses a collection that was embedded with another model, or one whose audience is not ``audience`` (when
    given): a private channel's history must never land where others can search it.
    """
    name = check_name(name)
    collection = await session.scalar(select(Collection).where(Collection.tenant == tenant, Collection.name == name))
    if collection is not None:
        ensure_same_model(collection, embedder)
        if audience is not None and collection.audience != audience:
            raise KnowledgeError(
                f"collection {name!r} is shown to {collection.audience!r}, not {audience!r}; use another collection"
            )
        return collection, False
    collection = Collection(
        tenant=tenant,
        name=name,
        embedding_model=embedder.name,
        dims=embedder.dims,
        audience=audience or TENANT_WIDE,
    )
    session.add(collection)
    await session.flush()
    return collection, True


async def find_collections(session: AsyncSession, *, tenant: str, names: Sequence[str] | None) -> list[Collection]:
    """The named collections of ``tenant`` (all of them when ``names`` is None); unknown names are an error."""
    if names is None:
        return list(await session.scalars(_OF_TENANT, {"tenant": tenant}))
    found = list(await session.scalars(_NAMED, {"tenant": tenant, "names": list(names)}))
    missing = sorted(set(names) - {c.name for c in found})
    if missing:
        raise UnknownCollectionError(tenant, missing)
    return found


async def list_collections(session: AsyncSession, *, tenant: str | None = None) -> list[Collection]:
    query = select(Collection).order_by(Collection.tenant, Collection.name)
    if tenant is not None:
        query = query.where(Collection.tenant == tenant)
    return list(await session.scalars(query))


async def delete_collection(session: AsyncSession, *, tenant: str, name: str) -> None:
    """Delete a collection with its documents, chunks, statistics and vector index."""
    (collection,) = await find_collections(session, tenant=tenant, names=[name])
    await drop_vector_index(session, collection)
    await remove_collection_postings(session, collection_id=collection.id)
    await session.execute(delete(Collection).where(Collection.id == collection.id))
    await session.flush()


async def remember_site(
    session: AsyncSession, collection: Collection, site: PublishedSite | None, *, forget: bool = False
) -> PublishedSite | None:
    """The site the collection's documents are published on: ``site`` when given (stored for later ingests),
    none after ``forget``, else the one stored by an earlier ingest."""
    settings = dict(collection.settings or {})
    if forget:
        settings.pop(PUBLISHED_KEY, None)
    elif site is not None:
        settings[PUBLISHED_KEY] = site.to_settings()
    else:
        return PublishedSite.from_settings(settings.get(PUBLISHED_KEY))
    collection.settings = settings  # a new dict, so the JSONB column is seen as changed
    await session.flush()
    return site if not forget else None


THRESHOLDS_KEY = "thresholds"
"""Where a collection's settings keep its calibrated abstention thresholds, one per answer mode."""


def stored_threshold(collection: Collection, mode: str) -> float | None:
    """The threshold ``threadwise eval threshold --collection`` stored for ``mode``, if any."""
    value = (collection.settings or {}).get(THRESHOLDS_KEY, {}).get(mode)
    return float(value) if isinstance(value, int | float) else None


async def store_threshold(session: AsyncSession, *, tenant: str, name: str, mode: str, value: float) -> None:
    (collection,) = await find_collections(session, tenant=tenant, names=[name])
    settings = dict(collection.settings or {})
    settings[THRESHOLDS_KEY] = {**settings.get(THRESHOLDS_KEY, {}), mode: round(value, 4)}
    collection.settings = settings  # a new dict, so the JSONB column is seen as changed
    await session.flush()
