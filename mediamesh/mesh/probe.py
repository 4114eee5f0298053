"""`python -m mediamesh.mesh.probe --part audio [--service NAME]`: a Kubernetes exec probe.

Kubernetes' native `grpc:` probes speak plaintext only, so when a part's gRPC port serves
TLS (the Helm chart's `tls.enabled`) its startup, liveness and readiness probes run this
instead. Settings come from the pod's MEDIAMESH_* environment (the part's own certificate,
key and CA, so mutual TLS works too); the probe dials the part's own port on 127.0.0.1,
verifies the certificate against `--server-name` (default: tls_server_name), asks
grpc.health.v1 for `--service` ("" = the process answers; the part's contract service =
its dependencies are ready) and prints one line. Exit status 0 when SERVING, 1 otherwise
(2 for a wrong command line). Health is exempt from tokens and identity checks, so the
probe needs no bearer token.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from mediamesh.config import SERVICE_PORT_OFFSETS, load_settings
from mediamesh.mesh.health import grpc_health

SERVING, NOT_SERVING = 0, 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mediamesh.mesh.probe",
        description="Check a mesh part's grpc.health.v1 over the transport its settings say "
                    "(TLS, mutual TLS or plaintext); exit 0 when SERVING.")
    p.add_argument("--part", required=True, choices=list(SERVICE_PORT_OFFSETS),
                   help="the part whose own port (MEDIAMESH_<PART>_PORT) is dialled")
    p.add_argument("--service", default="",
                   help='grpc.health.v1 service name: "" (default; liveness) or the part\'s '
                        "contract service, e.g. mediamesh.v1.AudioService (readiness)")
    p.add_argument("--host", default="127.0.0.1", help="address to dial (default 127.0.0.1)")
    p.add_argument("--server-name", default=None,
                   help="name to verify in the part's certificate (default: tls_server_name; "
                        "the certificate rarely names 127.0.0.1)")
    p.add_argument("--timeout", type=float, default=1.0, help="seconds (default 1)")
    return p


def probe(argv: Sequence[str] | None = None) -> tuple[int, str]:
    """(exit status, the line to print)."""
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except (ValidationError, ValueError) as exc:
        return NOT_SERVING, f"{args.part}: invalid MEDIAMESH_* settings: {exc}".replace("\n", " ")
    if args.server_name:
        settings = settings.model_copy(update={"tls_server_name": args.server_name})
    address = f"{args.host}:{getattr(settings, f'{args.part}_port')}"
    shown = args.service or '""'
    label = f"{args.part} {address} service={shown}"
    try:
        serving, status = grpc_health(address, args.timeout, args.service, settings=settings)
    except ValueError as exc:  # an unreadable certificate, key or CA file
        return NOT_SERVING, f"{label}: {exc}"
    if serving:
        return SERVING, f"{label}: {status}"
    hint = ""
    if status in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
        hint = " (not listening yet, or the TLS handshake failed: check the certificate's " \
               "names against --server-name / tls_server_name and its CA)"
    return NOT_SERVING, f"{label}: {status}{hint}"


def main(argv: Sequence[str] | None = None) -> int:
    code, line = probe(argv)
    print(line, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
