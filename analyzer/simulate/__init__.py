"""Pure, vectorised models of the Kubernetes autoscalers (no I/O)."""
