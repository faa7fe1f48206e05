"""The only place that talks to the Kubernetes API for the broker and the gateway."""
