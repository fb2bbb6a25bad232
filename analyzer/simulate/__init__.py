"""Models of the Kubernetes autoscalers as array functions: no I/O; a large HPA replay may share its
columns among processes, through :mod:`analyzer.runtime`."""
