"""Starting the gateway as a process, in one place for ``wisp gateway`` and ``wisp dev``.

``process`` builds the invocation and admin apps with the security layer around them, listens,
stops them cleanly, and runs a process until SIGINT/SIGTERM; ``cluster`` is ``wisp gateway``'s
wiring of those to a Kubernetes cluster. ``wisp.dev`` wires the same ones to local processes.
This layer sits above the gateway and the packages that extend it (security, queue, console), so
none of them needs to import another to be started.
"""
