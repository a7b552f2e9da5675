"""The wisp operator (kopf): Functions become ConfigMap + Deployment + Service; Triggers are
checked against their Function. Handlers only translate events into calls of the pure builders
(``wisp.resources``) and API writes (``wisp.controller.kube``)."""
