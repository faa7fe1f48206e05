"""Concrete implementations of the ports: Kubernetes, storage, identity providers, notifications."""
