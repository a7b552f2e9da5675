"""wisp's gateway: the data plane every call enters through.

Routing (``router``), scale from zero (``activator``), load balancing with per-pod limits
(``pool``), the proxy hop (``proxy``), metrics and stats, all fed from a ``Backend`` (the seam to
Kubernetes, to ``wisp dev``'s local processes, or to a static table in tests).
"""
