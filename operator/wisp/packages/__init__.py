"""Code packages: archives made from folders, stored in an OCI registry, fetched by digest.

``archive`` makes and unpacks zip/tar.gz archives, ``registry`` speaks the OCI distribution API,
``fetch`` is the one seam that gets a package's bytes (from the node's cache, a registry or an
HTTPS URL) and checks them against their digest. ``wisp deploy`` pushes with it; the init step of
a Function's pods (``wisp fetch-code``) fetches and unpacks with it.
"""
