"""Where credential Secrets come from: the ``SecretSource`` protocol and an in-memory source.

The authorizer asks ``await source.ensure(namespace, names)`` (a no-op once the Secrets are
known) and then ``source.value(namespace, ref)``. ``SecretStore`` holds the values; the
in-memory ``StaticSecretSource`` (``wisp dev``, tests) is set by hand, the Kubernetes one
(``wisp.security.kube_secrets``) by watches, so a rotated Secret takes effect at once.
Every value stored is announced to the ``on_value`` observers (the log redactor).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Protocol

from wisp.api.function import SecretKey

SecretName = tuple[str, str]  # (namespace, name)
ValueObserver = Callable[[bytes], None]


class SecretSource(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...

    async def ensure(self, namespace: str, names: Collection[str]) -> None:
        """Make the named Secrets' current values available (start watching them if needed)."""

    def value(self, namespace: str, ref: SecretKey) -> bytes | None:
        """The Secret key's bytes, or None when the Secret or the key does not exist."""

    def retain(self, wanted: Collection[SecretName]) -> None:
        """Forget (stop watching) Secrets no Function references any more."""

    def add_observer(self, observer: ValueObserver) -> None: ...


class SecretStore:
    """Secret data by (namespace, name); the shared half of every source."""

    def __init__(self) -> None:
        self._data: dict[SecretName, dict[str, bytes]] = {}
        self._observers: list[ValueObserver] = []

    def add_observer(self, observer: ValueObserver) -> None:
        self._observers.append(observer)
        for data in self._data.values():
            for raw in data.values():
                observer(raw)

    def put(self, namespace: str, name: str, data: Mapping[str, bytes | str]) -> None:
        values = {k: v.encode() if isinstance(v, str) else bytes(v) for k, v in data.items()}
        for raw in values.values():
            for observer in self._observers:
                observer(raw)
        self._data[(namespace, name)] = values

    def remove(self, namespace: str, name: str) -> None:
        self._data.pop((namespace, name), None)

    def value(self, namespace: str, ref: SecretKey) -> bytes | None:
        data = self._data.get((namespace, ref.name))
        return None if data is None else data.get(ref.key)


class StaticSecretSource(SecretStore):
    """Secrets set by hand: ``wisp dev`` (from local files) and tests."""

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ensure(self, namespace: str, names: Collection[str]) -> None:
        return None

    def retain(self, wanted: Collection[SecretName]) -> None:
        return None
