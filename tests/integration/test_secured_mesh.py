"""A second real mesh with everything a production deployment turns on: mutual TLS on every
gRPC port, bearer tokens, an mTLS identity allow-list, and an OTLP collector taking every
part's spans (and Triton's). The medley runs through it as one trace; strangers are refused
with statuses that say why; the parts' /metrics count what happened."""
from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import nats
import pytest
import trustme
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.mesh.health import grpc_health
from mediamesh.nats_client import NatsConnection
from mediamesh.synth.songs import render_song
from mediamesh.v1 import audio_pb2, common_pb2, workflow_pb2
from tests.integration.otlp_collector import OtlpCollector
from tests.integration.test_medley_workflow import write_songs
from tests.mesh_fixture import running_mesh

MESH_TOKEN = "mesh-" + "7" * 40
#: an "internal media server" the operator allowed (Linux routes all of 127/8 to loopback)
MEDIA_HOST = "127.0.0.2"
ALICE_TOKEN = "alice-" + "3" * 40


@dataclass
class SecuredMesh:
    settings: Settings
    collector: OtlpCollector
    folder: Path
    ca: trustme.CA

    def as_caller(self, name: str, token: str | None, **changes: object) -> Settings:
        """Settings of an outside client: its own certificate (issued by the mesh's CA for
        `name`) and token."""
        cert = self.ca.issue_cert(name, common_name=name)
        key_file, cert_file = self.folder / f"{name}.key", self.folder / f"{name}.pem"
        cert.private_key_pem.write_to_path(str(key_file))
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        token_file = None
        if token is not None:
            token_file = self.folder / f"{name}.token"
            token_file.write_text(token)
        return self.settings.model_copy(update={"tls_key_file": key_file,
                                                "tls_cert_file": cert_file,
                                                "auth_token_file": token_file, **changes})


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredMesh]:
    folder = tmp_path_factory.mktemp("secrets")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    server = ca.issue_cert("127.0.0.1", "localhost", common_name="mediamesh-mesh")
    server.private_key_pem.write_to_path(str(folder / "mesh.key"))
    server.cert_chain_pems[0].write_to_path(str(folder / "mesh.pem"))
    (folder / "mesh.token").write_text(MESH_TOKEN)
    (folder / "accepted").write_text(f"# who may call\n{MESH_TOKEN} mesh\n{ALICE_TOKEN} alice\n")
    (folder / "nats.token").write_text("nats-" + "5" * 40)
    with OtlpCollector() as collector, running_mesh(
            tmp_path_factory.mktemp("secured-mesh"),
            tls_cert_file=folder / "mesh.pem", tls_key_file=folder / "mesh.key",
            tls_ca_file=folder / "ca.pem", tls_client_auth=True,
            auth_accepted_tokens_file=folder / "accepted", auth_token_file=folder / "mesh.token",
            auth_allowed_identities=["mediamesh-mesh", "alice"],
            nats_token_file=folder / "nats.token",
            http_fetch=True, http_fetch_allowed_networks=[f"{MEDIA_HOST}/32"],
            otlp_endpoint=collector.url) as settings:
        yield SecuredMesh(settings, collector, folder, ca)


async def test_the_medley_runs_over_mutual_tls_as_one_trace(secured: SecuredMesh) -> None:
    songs = write_songs(secured.settings.media_root)[:2]
    async with MeshClient.from_settings(secured.as_caller("alice", ALICE_TOKEN)) as client:
        run = await client.run_workflow("medley", {
            "songs": [uri for uri, _ in songs], "output": "medley-out/secure.wav"},
            timeout_s=600)
    assert run.state == workflow_pb2.RUN_STATE_SUCCEEDED, run.error_message
    assert json_format.MessageToDict(run.outputs)["medley"]["uri"] == "medley-out/secure.wav"
    runs = [s for s in secured.collector.spans if s.name.endswith("/SubmitWorkflow")
            and s.service == "mediamesh-orchestrator"]
    assert runs, "the orchestrator exported no SubmitWorkflow span"
    trace_id = runs[-1].trace_id

    def complete(spans: list) -> bool:
        names = {(s.service, s.name) for s in spans}
        return {("mediamesh-compose", "/mediamesh.v1.ComposeService/RenderMedley"),
                ("mediamesh-audio", "/mediamesh.v1.AudioService/DetectChorus"),
                ("mediamesh-orchestrator", "step mix")} <= names \
            and any(s.service == "triton" for s in spans)

    spans = secured.collector.wait_for(complete, trace_id)
    services = {s.service for s in spans}
    assert {"mediamesh-orchestrator", "mediamesh-audio", "mediamesh-compose",
            "triton"} <= services, services
    steps = [s for s in spans if s.name.startswith("step ")]
    assert {s.attributes["mediamesh.step"] for s in steps} >= {"rhythm", "chorus", "mix"}
    assert all(s.attributes["mediamesh.run_id"] == run.run_id for s in steps)
    # every span hangs off another span of the same trace, up to the one SubmitWorkflow span
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_span_id not in ids]
    assert [r.name for r in roots] == ["/mediamesh.v1.WorkflowService/SubmitWorkflow"], \
        [(r.service, r.name) for r in roots]
    by_id = {s.span_id: s for s in spans}
    model_calls = [s for s in spans if s.name.startswith("triton ")]
    assert model_calls and all(by_id[s.parent_span_id].service in ("mediamesh-audio",
                                                                   "mediamesh-compose")
                               for s in model_calls)
    # the services' log lines name the run and its trace
    lines = [json.loads(line) for line in
             (secured.settings.state_dir / "logs" / "audio.log").read_text().splitlines()
             if run.run_id in line]
    assert lines and all(line["trace_id"] == trace_id for line in lines)


async def test_callers_without_the_right_credentials_are_refused(secured: SecuredMesh) -> None:
    request = audio_pb2.AnalyzeLoudnessRequest(audio=common_pb2.MediaRef(uri="none.wav"))
    address = secured.settings.service_address("audio")
    refusals = {
        "no token": (secured.as_caller("alice", None), grpc.StatusCode.UNAUTHENTICATED,
                     "needs a bearer token"),
        "wrong token": (secured.as_caller("alice", "not-a-token-" + "0" * 20),
                        grpc.StatusCode.UNAUTHENTICATED, "not accepted"),
        "stranger's certificate": (secured.as_caller("mallory", ALICE_TOKEN),
                                   grpc.StatusCode.PERMISSION_DENIED, "mallory"),
    }
    for case, (settings, code, words) in refusals.items():
        async with MeshClient.from_settings(settings) as client:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.audio.AnalyzeLoudness(request, timeout=10)
            assert refused.value.code() == code, case
            assert words in (refused.value.details() or ""), case
    # with the right credentials the same call reaches the service (and its own error)
    async with MeshClient.from_settings(secured.as_caller("alice", ALICE_TOKEN)) as client:
        with pytest.raises(grpc.aio.AioRpcError) as answered:
            await client.audio.AnalyzeLoudness(request, timeout=10)
        assert answered.value.code() == grpc.StatusCode.NOT_FOUND
    # no certificate at all, or no TLS: the handshake fails before any RPC
    async with grpc.aio.insecure_channel(address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as plaintext:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                            timeout=5)
        assert plaintext.value.code() == grpc.StatusCode.UNAVAILABLE
    ca_only = secured.settings.model_copy(update={"tls_client_auth": False})
    assert grpc_health(address, 5.0, settings=ca_only)[0] is False
    # probes need no token: health answers any certified caller
    assert grpc_health(address, 5.0, settings=secured.as_caller("mallory", None)) == \
        (True, "SERVING")


def scrape(settings: Settings, part: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = f"http://127.0.0.1:{settings.metrics_port(part)}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def test_parts_count_their_calls_and_refusals_in_prometheus(secured: SecuredMesh) -> None:
    async with MeshClient.from_settings(secured.as_caller("bob", None)) as client:
        with pytest.raises(grpc.aio.AioRpcError):
            await client.audio.AnalyzeLoudness(audio_pb2.AnalyzeLoudnessRequest(), timeout=10)
    audio = scrape(secured.settings, "audio")
    service = ("grpc_service", "mediamesh.v1.AudioService")

    def count(method: str, code: str) -> float:
        return audio.get(("grpc_server_handled_total",
                          (("grpc_code", code), ("grpc_method", method), service)), 0.0)

    assert count("AnalyzeLoudness", "PERMISSION_DENIED") >= 1  # bob is not on the list
    assert count("AnalyzeRhythm", "OK") >= 1  # the medley's steps
    assert audio[("grpc_server_in_flight", (("grpc_method", "AnalyzeRhythm"), service))] == 0
    assert audio[("mediamesh_triton_request_seconds_count", (("model", "beat_tcn"),))] >= 1
    orchestrator = scrape(secured.settings, "orchestrator")
    assert orchestrator[("mediamesh_orchestrator_runs_finished_total",
                         (("state", "succeeded"), ("workflow", "medley")))] >= 1
    assert ("mediamesh_orchestrator_queue_depth", ()) in orchestrator


async def test_nats_takes_only_the_meshs_token(secured: SecuredMesh) -> None:
    settings = secured.settings
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):  # no token
        await nats.connect(settings.nats_address, connect_timeout=2, max_reconnect_attempts=0,
                           allow_reconnect=False)
    connection = await NatsConnection.from_settings(settings).client()
    try:
        info = await connection.jetstream().account_info()
        assert info.streams >= 2  # the orchestrator's run events and work queue
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def media_server(secured: SecuredMesh) -> Iterator[str]:
    """http://127.0.0.2:<port>/ serving a song, a redirect to loopback, and a 404."""
    song = secured.folder / "song.wav"
    media.write_audio(song, render_song(3, 22_050).samples[:, :22_050 * 20], 22_050)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's API
            if self.path == "/song.wav":
                body = song.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path == "/sneaky":  # to the loopback address the mesh must not reach
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}"
                                             "/song.wav")
                self.end_headers()
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((MEDIA_HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{MEDIA_HOST}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_remote_inputs_come_only_from_allowed_hosts(secured: SecuredMesh,
                                                          media_server: str) -> None:
    async with MeshClient.from_settings(secured.as_caller("alice", ALICE_TOKEN)) as client:
        async def loudness(uri: str) -> audio_pb2.AnalyzeLoudnessResponse:
            return await client.audio.AnalyzeLoudness(audio_pb2.AnalyzeLoudnessRequest(
                audio=common_pb2.MediaRef(uri=uri)), timeout=60)

        fetched = await loudness(f"{media_server}/song.wav")
        assert -40 < fetched.integrated_lufs < 0
        refusals = {
            f"{media_server}/sneaky": (grpc.StatusCode.PERMISSION_DENIED, "127.0.0.1"),
            "http://169.254.169.254/latest/meta-data/": (grpc.StatusCode.PERMISSION_DENIED,
                                                         "169.254.169.254"),
            "http://localhost:9/x.wav": (grpc.StatusCode.PERMISSION_DENIED, "loopback"),
            f"{media_server}/missing.wav": (grpc.StatusCode.NOT_FOUND, "404"),
            "ftp://example.org/x.wav": (grpc.StatusCode.INVALID_ARGUMENT, "not allowed"),
        }
        for uri, (code, words) in refusals.items():
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await loudness(uri)
            assert refused.value.code() == code, uri
            assert words in (refused.value.details() or ""), (uri, refused.value.details())
