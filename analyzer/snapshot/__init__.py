"""The snapshot: the one data contract between collectors and everything that analyses. Its Kubernetes
objects are validated at load and typed once (``kube.py``: pods and workloads; ``hpa.py``: HPAs and KEDA
ScaledObjects; ``vpa.py``: VPAs); below this package nothing reads them as raw dicts but the writers and
patch builders."""
