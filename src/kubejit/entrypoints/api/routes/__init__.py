"""The broker's routes, one APIRouter per job; ``create_app`` includes them in this order."""

from __future__ import annotations

from fastapi import APIRouter

from kubejit.entrypoints.api.routes import audit, authorization, gateway, health, login, profiles, requests, sessions

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    login.router,
    requests.router,
    gateway.router,
    audit.router,
    authorization.router,
    profiles.router,
    sessions.router,
)

__all__ = ["ROUTERS"]
