"""The gateway (``kubejit gateway``): an authenticating Kubernetes API proxy that enforces grants, applies
in-session guardrails, records activity and closes sessions when their grant ends."""
