"""Who may call what, and what the gateway accepts: wisp's security controls.

Pure decisions (``authorizer``, ``ratelimit``, ``forwarding``, ``ssrf`` classification,
``redact``) take their inputs, including the clock, as arguments; the aiohttp pieces
(``middleware``, ``extension``) and the Kubernetes Secret watch (``kube_secrets``) only feed
them. ``wisp.security.extension.security_extension`` plugs everything into the gateway's
``make_app(..., extensions=[...])``; ``admin_middleware`` guards the admin app.
See docs/security.md for the threat model.
"""
