"""The broker's HTTP API (FastAPI): requests, reviews, grants, audit, health and metrics."""
