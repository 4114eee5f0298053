"""Fixtures of the chart tests: the chart rendered once per values profile."""
from __future__ import annotations

import os

import pytest

from mediamesh.config import Settings, load_settings
from tests.deploy.chart import PROFILES, Rendered, profile_values, render


@pytest.fixture(scope="session", params=sorted(PROFILES))
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def rendered_profiles() -> dict[str, Rendered]:
    return {name: render(profile_values(name)) for name in PROFILES}


@pytest.fixture(scope="session")
def rendered(profile: str, rendered_profiles: dict[str, Rendered]) -> Rendered:
    return rendered_profiles[profile]


@pytest.fixture
def pod_env(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Load Settings the way a pod does: from its MEDIAMESH_* environment only."""
    def load(env: dict[str, str]) -> Settings:
        for name in [n for n in os.environ if n.startswith("MEDIAMESH_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return load_settings()
    return load
