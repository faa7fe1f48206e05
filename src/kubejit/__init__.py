"""kubejit: Just-In-Time access for Kubernetes.

Access is requested for a task, approved by the right people, limited to pre-defined roles and
namespaces, guarded while it is used, removed on time, and recorded on a tamper-evident audit trail.
"""

__version__ = "0.1.0"
