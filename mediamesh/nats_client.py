"""A lazily connected, self-reconnecting NATS connection with JetStream, shared by a process."""
from __future__ import annotations

import asyncio
import ssl
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from mediamesh.config import Settings
from mediamesh.errors import StorageUnavailable
from mediamesh.logs import get_logger

log = get_logger()


def nats_options(settings: Settings) -> dict[str, Any]:
    """nats.connect() keywords for the mesh's credentials: a .creds file (JWT + nkey, an
    external NATS in operator mode) or a token, and TLS verified against nats_tls_ca_file."""
    options: dict[str, Any] = {}
    if settings.nats_credentials_file:
        options["user_credentials"] = str(settings.nats_credentials_file)
    if settings.nats_token_file:
        try:
            options["token"] = settings.nats_token_file.read_text().strip()
        except OSError as exc:
            raise ValueError(f"cannot read nats_token_file {settings.nats_token_file}: "
                             f"{exc.strerror or exc}") from exc
    if settings.nats_tls_ca_file:
        options["tls"] = ssl.create_default_context(cafile=str(settings.nats_tls_ca_file))
    return options


class NatsConnection:
    def __init__(self, url: str, *, connect_timeout_s: float = 2.0,
                 options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.options = dict(options or {})
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> NatsConnection:
        """The mesh's NATS, with its credentials."""
        return cls(settings.nats_address, options=nats_options(settings))

    async def client(self) -> Client:
        """The connected client; raises StorageUnavailable (UNAVAILABLE) when NATS is down."""
        async with self._lock:
            if self._client is not None and not self._client.is_closed:
                return self._client
            try:
                self._client = await nats.connect(
                    self.url, connect_timeout=self.connect_timeout_s, max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5, allow_reconnect=True,
                    disconnected_cb=self._on_disconnect, reconnected_cb=self._on_reconnect,
                    **self.options)
            except (TimeoutError, OSError, nats.errors.NoServersError) as exc:
                raise StorageUnavailable(f"NATS at {self.url} is unreachable ({exc}); start it "
                                         "with `mediamesh up` or check `mediamesh status`",
                                         resource=self.url) from exc
            return self._client

    async def jetstream(self) -> JetStreamContext:
        return (await self.client()).jetstream()

    async def is_ready(self) -> bool:
        """Connected and JetStream answers; never raises."""
        try:
            js = await self.jetstream()
            await js.account_info()
            return True
        except Exception:  # noqa: BLE001 - readiness is a yes/no
            return False

    async def _on_disconnect(self) -> None:
        log.warning("nats.disconnected", url=self.url)

    async def _on_reconnect(self) -> None:
        log.info("nats.reconnected", url=self.url)

    async def close(self) -> None:
        if self._client is not None and not self._client.is_closed:
            await self._client.drain()
        self._client = None
