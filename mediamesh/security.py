"""Who may talk to the mesh: TLS / mutual TLS credentials and per-call authorisation.

Off by default (the embedded mesh listens on loopback only). Turned on by settings:
- TLS when `tls_cert_file` + `tls_key_file` are set; `tls_client_auth` makes it mutual, and
  every part then presents its own certificate when it calls another part.
- Bearer tokens when `auth_accepted_tokens_file` is set: every RPC but grpc.health (probes
  must work without secrets) needs `authorization: Bearer <token>`; parts send the token in
  `auth_token_file`.
- mTLS identities when `auth_allowed_identities` is set: the caller's certificate common
  name or DNS name must be on the list.
The check runs in the server's call wrapper before any work, so a refused call costs nothing.
"""
from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from mediamesh.config import Settings
from mediamesh.errors import AuthenticationRequired, CallerNotAllowed

#: RPC prefixes open to anyone: Kubernetes probes and load balancers have no token.
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)
BEARER = "bearer "


def _read(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def tls_enabled(settings: Settings) -> bool:
    return bool(settings.tls_cert_file and settings.tls_key_file)


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials for a part's port, or None for plaintext."""
    if not tls_enabled(settings):
        if settings.tls_client_auth:
            raise ValueError("tls_client_auth needs tls_cert_file and tls_key_file")
        return None
    key = _read(settings.tls_key_file, "TLS key")
    cert = _read(settings.tls_cert_file, "TLS certificate")
    ca = _read(settings.tls_ca_file, "TLS CA")
    if settings.tls_client_auth and ca is None:
        raise ValueError("tls_client_auth needs tls_ca_file (the CA that signs callers' "
                         "certificates)")
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                       require_client_auth=settings.tls_client_auth)


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """What a client of the mesh dials with: None (plaintext) unless a CA is configured;
    with mutual TLS the process's own certificate goes along."""
    ca = _read(settings.tls_ca_file, "TLS CA")
    if ca is None and not tls_enabled(settings):
        return None
    mutual = settings.tls_client_auth and tls_enabled(settings)
    return grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=_read(settings.tls_key_file, "TLS key") if mutual else None,
        certificate_chain=_read(settings.tls_cert_file, "TLS certificate") if mutual else None)


def tls_channel_options(settings: Settings) -> list[tuple[str, Any]]:
    """Name to verify in the server certificate when it is not the dialled host (when the
    channel is TLS at all: the same test as channel_credentials, without reading files)."""
    if settings.tls_server_name and (settings.tls_ca_file or tls_enabled(settings)):
        return [("grpc.ssl_target_name_override", settings.tls_server_name)]
    return []


def read_token(settings: Settings) -> str | None:
    """The bearer token this process sends, from `auth_token_file`."""
    data = _read(settings.auth_token_file, "auth token file")
    if data is None:
        return None
    token = data.decode().strip()
    if not token:
        raise ValueError(f"auth token file {settings.auth_token_file} is empty")
    return token


def parse_tokens(text: str) -> dict[str, str]:
    """Accepted tokens file -> {token: caller name}; '#' starts a comment."""
    tokens: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        token, _, name = line.partition(" ")
        if len(token) < 16:
            raise ValueError(f"accepted tokens line {number}: tokens must be at least 16 "
                             "characters (generate one with `openssl rand -hex 32`)")
        tokens[token] = name.strip() or f"token#{number}"
    return tokens


@dataclass(frozen=True)
class Caller:
    """Who made a call, for logs and traces."""

    name: str
    via: str  # "token", "mtls" or "anonymous"


@dataclass
class CallGuard:
    """Admits or refuses each call; stateless apart from the configured secrets."""

    tokens: dict[str, str] = field(default_factory=dict)
    identities: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> CallGuard:
        raw = _read(settings.auth_accepted_tokens_file, "accepted tokens file")
        tokens = parse_tokens(raw.decode()) if raw is not None else {}
        if settings.auth_accepted_tokens_file and not tokens:
            raise ValueError(f"accepted tokens file {settings.auth_accepted_tokens_file} has "
                             "no tokens: every call would be refused")
        if settings.auth_allowed_identities and not settings.tls_client_auth:
            raise ValueError("auth_allowed_identities needs mutual TLS (tls_client_auth) to "
                             "know who the caller is")
        return cls(tokens, frozenset(settings.auth_allowed_identities))

    @property
    def enabled(self) -> bool:
        return bool(self.tokens or self.identities)

    def admit(self, method: str, metadata: Iterable[tuple[str, Any]],
              auth_context: dict[str, Sequence[bytes]]) -> Caller:
        """The caller, or AuthenticationRequired / CallerNotAllowed naming what to fix."""
        if not self.enabled or method.startswith(EXEMPT_PREFIXES):
            return Caller("anonymous", "anonymous")
        caller = Caller("anonymous", "anonymous")
        if self.identities:
            names = peer_identities(auth_context)
            allowed = sorted(self.identities.intersection(names))
            if not allowed:
                raise CallerNotAllowed(
                    f"client certificate {sorted(names) or '(none)'} is not allowed to call "
                    "this server; add its common name or DNS name to auth_allowed_identities",
                    resource=",".join(sorted(names)))
            caller = Caller(allowed[0], "mtls")
        if self.tokens:
            caller = Caller(self._token_caller(metadata), "token")
        return caller

    def _token_caller(self, metadata: Iterable[tuple[str, Any]]) -> str:
        values = [v for k, v in metadata if k == "authorization" and isinstance(v, str)]
        if not values:
            raise AuthenticationRequired(
                "this server needs a bearer token: send metadata 'authorization: Bearer "
                "<token>' (the CLI and SDK read it from MEDIAMESH_AUTH_TOKEN_FILE)")
        value = values[0]
        if not value.lower().startswith(BEARER):
            raise AuthenticationRequired("the authorization metadata must read 'Bearer <token>'")
        presented = value[len(BEARER):].strip().encode()
        for token, name in self.tokens.items():
            if hmac.compare_digest(presented, token.encode()):
                return name
        raise AuthenticationRequired("the bearer token is not accepted by this server; check "
                                     "the token file against the server's accepted tokens")


def peer_identities(auth_context: dict[str, Sequence[bytes]]) -> set[str]:
    """Common name and DNS names of the peer's verified certificate."""
    names: set[str] = set()
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        for value in auth_context.get(key, ()):
            names.add(value.decode(errors="replace") if isinstance(value, bytes) else str(value))
    return names
