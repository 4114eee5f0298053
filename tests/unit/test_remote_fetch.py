"""Which hosts a remote input may come from (the SSRF rules), on plain addresses."""
from __future__ import annotations

import ipaddress

import pytest

from mediamesh.errors import InvalidArgument
from mediamesh.remote_fetch import FetchPolicy, _target, address_allowed

OPEN = FetchPolicy()


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.9.9.9", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "fe80::1", "fc00::1", "0.0.0.0", "::", "224.0.0.1", "240.0.0.1", "100.64.0.1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1"])
def test_internal_addresses_are_refused(address: str) -> None:
    assert not address_allowed(ipaddress.ip_address(address), OPEN)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_are_fetched(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), OPEN)


def test_the_operator_can_allow_an_internal_network() -> None:
    policy = FetchPolicy.of(["10.20.0.0/16"], 1 << 20, 5)
    assert address_allowed(ipaddress.ip_address("10.20.3.4"), policy)
    assert not address_allowed(ipaddress.ip_address("10.21.3.4"), policy)
    with pytest.raises(ValueError, match="http_fetch_allowed_networks"):
        FetchPolicy.of(["not-a-network"], 1, 1)


def test_urls_must_be_http_with_a_host() -> None:
    assert _target("https://media.example/a%20b.mp4?x=1", "f") == \
        ("https", "media.example", 443, "/a%20b.mp4?x=1")
    assert _target("http://h:8080", "f") == ("http", "h", 8080, "/")
    for bad in ("ftp://h/x", "http:///nohost", "http://h:99999/x", "gopher://h"):
        with pytest.raises(InvalidArgument):
            _target(bad, "input.uri")
