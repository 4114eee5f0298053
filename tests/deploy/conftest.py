"""Fixtures of the chart tests: the chart rendered once per values profile."""
from __future__ import annotations

import pytest

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
