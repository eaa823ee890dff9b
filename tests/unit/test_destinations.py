"""Which destinations a tenant's webhook URL may point to (plumbing/destinations.py)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from plumbing.destinations import Destinations, Refused, is_public

pytestmark = pytest.mark.unit


def resolving(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def resolver(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("Name or service not known")
        return table[host]

    return resolver


PUBLIC = Destinations(resolver=resolving({
    "hooks.example.org": ["93.184.216.34"],
    "both.example.org": ["93.184.216.34", "10.0.0.5"],
    "metadata.example.org": ["169.254.169.254"],
    "v6.example.org": ["2606:4700::6810:85e5"],
    "mapped.example.org": ["::ffff:127.0.0.1"],
}))


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "255.255.255.255", "192.0.2.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1",
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
])
def test_private_loopback_link_local_and_reserved_addresses_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::6810:85e5"])
def test_public_addresses_are_public(address):
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("url, why", [
    ("http://hooks.example.org/h", "https://"),
    ("ftp://hooks.example.org/h", "https://"),
    ("https://user:pw@hooks.example.org/h", "credentials"),
    ("https://127.0.0.1/h", "not a public address"),
    ("https://[::1]/h", "not a public address"),
    ("https://169.254.169.254/latest/meta-data", "not a public address"),
    ("https://10.0.0.8:5432/", "not a public address"),
    ("https://postgres/h", "internal name"),
    ("https://kafka:9092/h", "internal name"),
    ("https://intake/h", "internal name"),
    ("https://localhost/h", "internal name"),
    ("https://db.internal/h", "internal name"),
    ("https://printer.local/h", "internal name"),
    ("https://hooks.example.org:0/h", "port 0"),
    ("https://hooks.example.org:99999/h", "not a valid URL"),
    ("http://127.0.0.1:8080/h", "https://"),  # loopback http only with the development setting
])
def test_urls_a_tenant_may_not_register(url, why):
    with pytest.raises(Refused, match=why):
        PUBLIC.check_url(url)


async def test_every_answer_of_a_name_is_checked():
    assert (await PUBLIC.resolve("https://hooks.example.org/h"))[1] == "93.184.216.34"
    assert (await PUBLIC.resolve("https://v6.example.org/h"))[1] == "2606:4700::6810:85e5"
    for host, why in [("both", "10.0.0.5"), ("metadata", "169.254.169.254"), ("mapped", "127.0.0.1")]:
        with pytest.raises(Refused, match=why):
            await PUBLIC.resolve(f"https://{host}.example.org/h")
    with pytest.raises(Refused, match="does not resolve"):
        await PUBLIC.resolve("https://nowhere.example.org/h")


async def test_a_name_that_rebinds_after_registration_is_refused_at_delivery():
    answers = {"rebind.example.org": ["93.184.216.34"]}
    destinations = Destinations(resolver=resolving(answers))
    assert (await destinations.resolve("https://rebind.example.org/h"))[1] == "93.184.216.34"
    answers["rebind.example.org"] = ["127.0.0.1"]
    with pytest.raises(Refused, match="127.0.0.1"):
        await destinations.resolve("https://rebind.example.org/h")


async def test_the_request_goes_to_the_checked_address_under_the_name():
    async with httpx.AsyncClient() as client:
        request = await PUBLIC.pinned_request(
            client, "POST", "https://hooks.example.org:8443/in?x=1", content=b"{}", headers={"X-A": "b"}
        )
    assert request.url.host == "93.184.216.34" and request.url.port == 8443 and request.url.path == "/in"
    assert request.url.query == b"x=1"
    assert request.headers["host"] == "hooks.example.org:8443"
    assert request.headers["x-a"] == "b"
    assert request.extensions["sni_hostname"] == "hooks.example.org"


def test_loopback_http_is_allowed_only_by_the_development_setting():
    development = Destinations(allow_loopback_http=True)
    assert development.check_url("http://127.0.0.1:8080/h").port == 8080
    assert development.check_url("http://localhost:8080/h").hostname == "localhost"
    with pytest.raises(Refused, match="https://"):
        development.check_url("http://10.0.0.1/h")  # only loopback, even in development
    with pytest.raises(Refused, match="https://"):
        development.check_url("http://hooks.example.org/h")
