"""Typed FastAPI dependencies over the lifespan state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import Settings

if TYPE_CHECKING:
    from agent.service import AgentService


def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """The app's sessionmaker (the agent's: one connection pool per process)."""
    agent: AgentService = request.state.agent
    return agent.store.sessionmaker


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
