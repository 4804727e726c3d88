"""Typed FastAPI dependencies over the lifespan state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from core.settings import Settings


def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
