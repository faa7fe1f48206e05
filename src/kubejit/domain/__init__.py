"""The pure domain: policy, risk analysis, workflow, guardrails and audit, with no I/O."""
