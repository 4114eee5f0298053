"""`python -m mediamesh.mesh.probe`, the Helm chart's exec probe when the parts speak TLS, run
as Kubernetes runs it (a process configured by MEDIAMESH_* variables) against a real
MeshServer in this test: plaintext, TLS and mutual TLS, a service that is not ready, a
certificate that does not carry the name, a closed port."""
from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from mediamesh.config import Settings
from mediamesh.grpc_server import MeshServer, unimplemented_service
from mediamesh.mesh.probe import parser
from mediamesh.security import server_credentials
from mediamesh.v1 import audio_pb2, audio_pb2_grpc

SERVICE_NAME = "mm-mediamesh-audio"  # the part's Service name: what its certificate carries
CONTRACT = "mediamesh.v1.AudioService"


@dataclass
class Secrets:
    folder: Path

    def env(self, mutual: bool = False) -> dict[str, str]:
        """The variables the chart gives a part when tls.enabled (and tls.clientAuth)."""
        env = {"MEDIAMESH_TLS_CERT_FILE": str(self.folder / "tls.crt"),
               "MEDIAMESH_TLS_KEY_FILE": str(self.folder / "tls.key"),
               "MEDIAMESH_TLS_CA_FILE": str(self.folder / "ca.crt")}
        if mutual:
            env["MEDIAMESH_TLS_CLIENT_AUTH"] = "true"
        return env


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Secrets:
    """What a cert-manager Certificate's Secret holds: tls.crt, tls.key, ca.crt."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.crt"))
    cert = ca.issue_cert(SERVICE_NAME, f"{SERVICE_NAME}.media.svc", common_name=SERVICE_NAME)
    cert.private_key_pem.write_to_path(str(folder / "tls.key"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "tls.crt"))
    return Secrets(folder)


@contextlib.asynccontextmanager
async def audio_server(env: dict[str, str]) -> AsyncIterator[MeshServer]:
    """A MeshServer serving AudioService's contract on a free loopback port, with the
    credentials the same settings give a part."""
    settings = Settings(**{k.removeprefix("MEDIAMESH_").lower(): v for k, v in env.items()})
    server = MeshServer([unimplemented_service(audio_pb2, audio_pb2_grpc, "AudioService")],
                        "127.0.0.1:0", max_message_bytes=settings.grpc_max_message_bytes,
                        credentials=server_credentials(settings), shutdown_grace_s=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def run_probe(env: dict[str, str], port: int, *args: str) -> tuple[int, str]:
    """The probe as the kubelet runs it: a fresh process, the pod's environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAMESH_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mediamesh.mesh.probe", "--part", "audio", "--timeout", "3", *args,
        env={**clean, **env, "MEDIAMESH_AUDIO_PORT": str(port)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_plaintext_part_serving_and_not_ready() -> None:
    async with audio_server({}) as server:
        code, out = await run_probe({}, server.port)
        assert (code, out.count("\n")) == (0, 1), out
        assert out.strip() == f'audio 127.0.0.1:{server.port} service="": SERVING'
        # readiness follows dependencies: the named service goes NOT_SERVING on its own
        await server.set_serving(False, CONTRACT)
        code, out = await run_probe({}, server.port, "--service", CONTRACT)
        assert code == 1 and out.strip().endswith(f"service={CONTRACT}: NOT_SERVING"), out
        code, out = await run_probe({}, server.port)  # liveness still answers
        assert code == 0, out


async def test_tls_part_is_probed_over_tls_with_the_service_name(secrets: Secrets) -> None:
    env = secrets.env()
    async with audio_server(env) as server:
        # the certificate names the Service, not 127.0.0.1: the probe verifies that name
        code, out = await run_probe(env, server.port, "--server-name", SERVICE_NAME,
                                    "--service", CONTRACT)
        assert code == 0 and out.strip().endswith("SERVING"), out
        code, out = await run_probe({**env, "MEDIAMESH_TLS_SERVER_NAME": SERVICE_NAME},
                                    server.port)
        assert code == 0, out  # tls_server_name from the environment does the same
        # a name the certificate does not carry fails verification
        code, out = await run_probe(env, server.port, "--server-name", "someone-else")
        assert code == 1 and "UNAVAILABLE" in out and "certificate" in out, out
        # a plaintext probe of a TLS port fails (the native grpc: probe's problem)
        code, out = await run_probe({}, server.port)
        assert code == 1, out


async def test_mutual_tls_part_admits_the_probe_with_the_parts_own_certificate(
        secrets: Secrets) -> None:
    env = secrets.env(mutual=True)
    async with audio_server(env) as server:
        code, out = await run_probe(env, server.port, "--server-name", SERVICE_NAME)
        assert code == 0, out
        # without a client certificate the handshake is refused
        code, out = await run_probe(secrets.env(), server.port, "--server-name", SERVICE_NAME)
        assert code == 1, out


async def test_closed_port_and_unreadable_files_fail_with_one_line(secrets: Secrets) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: nothing answers
        code, out = await run_probe({}, port, "--timeout", "1")
        assert code == 1 and out.count("\n") == 1 and "UNAVAILABLE" in out, out
    env = {**secrets.env(), "MEDIAMESH_TLS_CA_FILE": str(secrets.folder / "missing.crt")}
    code, out = await run_probe(env, port)
    assert code == 1 and "missing.crt" in out, out


def test_command_line() -> None:
    args = parser().parse_args(["--part", "orchestrator", "--service",
                                "mediamesh.v1.WorkflowService"])
    assert (args.part, args.service, args.host, args.server_name) == \
        ("orchestrator", "mediamesh.v1.WorkflowService", "127.0.0.1", None)
    assert parser().parse_args(["--part", "audio"]).service == ""
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(["--part", "triton"])  # not a gRPC part of the mesh
    assert exit_info.value.code == 2
