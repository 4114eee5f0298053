"""The call guard's decisions on plain values (the secured mesh test drives it over TLS)."""
from __future__ import annotations

from pathlib import Path

import pytest

from mediamesh.config import Settings
from mediamesh.errors import AuthenticationRequired, CallerNotAllowed
from mediamesh.security import CallGuard, parse_tokens, server_credentials

TOKEN = "a" * 32
RPC = "/mediamesh.v1.AudioService/AnalyzeRhythm"


def test_tokens_file_names_callers_and_rejects_short_tokens() -> None:
    assert parse_tokens(f"# ops\n{TOKEN} ci-runner\n\n{'b' * 20}  # no name\n") == \
        {TOKEN: "ci-runner", "b" * 20: "token#4"}
    with pytest.raises(ValueError, match="at least 16"):
        parse_tokens("short")


def test_token_guard_admits_the_right_bearer_only() -> None:
    guard = CallGuard({TOKEN: "ci"})
    assert guard.admit(RPC, [("authorization", f"Bearer {TOKEN}")], {}).name == "ci"
    assert guard.admit(RPC, [("authorization", f"bearer {TOKEN}")], {}).via == "token"
    for metadata, words in (([], "needs a bearer token"),
                            ([("authorization", TOKEN)], "Bearer <token>"),
                            ([("authorization", f"Bearer {TOKEN}x")], "not accepted")):
        with pytest.raises(AuthenticationRequired, match=words):
            guard.admit(RPC, metadata, {})
    # probes carry no secrets
    assert guard.admit("/grpc.health.v1.Health/Check", [], {}).via == "anonymous"


def test_identity_guard_reads_the_verified_certificate_names() -> None:
    guard = CallGuard(identities=frozenset({"alice"}))
    context = {"x509_common_name": [b"alice"], "x509_subject_alternative_name": [b"alice"]}
    assert guard.admit(RPC, [], context).name == "alice"
    with pytest.raises(CallerNotAllowed, match="mallory"):
        guard.admit(RPC, [], {"x509_common_name": [b"mallory"]})
    with pytest.raises(CallerNotAllowed, match="none"):
        guard.admit(RPC, [], {})


def test_unusable_security_settings_fail_at_start_with_a_reason(tmp_path: Path) -> None:
    base = Settings(state_dir=tmp_path)
    with pytest.raises(ValueError, match="needs mutual TLS"):
        CallGuard.from_settings(base.model_copy(update={"auth_allowed_identities": ["x"]}))
    empty = tmp_path / "accepted"
    empty.write_text("# nobody yet\n")
    with pytest.raises(ValueError, match="no tokens"):
        CallGuard.from_settings(base.model_copy(update={"auth_accepted_tokens_file": empty}))
    with pytest.raises(ValueError, match="needs tls_cert_file"):
        server_credentials(base.model_copy(update={"tls_client_auth": True}))
    with pytest.raises(ValueError, match="cannot read TLS key"):
        server_credentials(base.model_copy(update={"tls_cert_file": tmp_path / "c.pem",
                                                   "tls_key_file": tmp_path / "k.pem"}))
    assert not CallGuard.from_settings(base).enabled
