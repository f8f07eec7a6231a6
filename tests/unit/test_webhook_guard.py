"""The SSRF guard: which webhook URLs and addresses are refused, and how a checked address is pinned.

No test sends traffic, nor connects to prove a refusal: addresses are judged by the pure checks,
host names by a fake resolver, and only literal addresses reach the real resolver (getaddrinfo
reads them without asking DNS).
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import ip_address, ip_network

import httpx
import pytest

from footfall.exceptions import ConfigurationError, InvalidWebhook, UnsafeTarget
from footfall.outbound.guard import (
    MAX_URL_LENGTH,
    AllowList,
    Resolver,
    Target,
    check_address,
    parse_url,
    pinned_request_parts,
    refuse_reason,
    resolve,
)

NO_ALLOW = AllowList.parse("")


def fake_resolver(
    table: dict[str, list[str]], calls: list[tuple[str, int]] | None = None
) -> Resolver:
    """Fixed answers by host name; an unknown name fails as getaddrinfo does."""

    async def lookup(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append((host, port))
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return lookup


def run_resolve(url: str, allow: AllowList, resolver: Resolver | None = None) -> Target:
    return asyncio.run(resolve(url, allow, resolver=resolver))


def test_a_loopback_neighbour_is_refused_when_only_127_0_0_1_is_allowed() -> None:
    allow = AllowList.parse("127.0.0.1")
    with pytest.raises(UnsafeTarget) as raised:
        check_address("127.0.0.2", "127.0.0.2", allow)
    assert raised.value.field == "url"
    assert "127.0.0.2" in raised.value.message
    assert "loopback" in raised.value.message
    with pytest.raises(UnsafeTarget):
        run_resolve("http://127.0.0.2:8080/hook", allow)


@pytest.mark.parametrize(
    "url",
    ["http://2130706434/", "http://0x7f.0.0.2/", "http://[::ffff:127.0.0.2]/", "http://127.2/"],
)
def test_other_spellings_of_a_loopback_address_are_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="loopback") as raised:
        run_resolve(url, AllowList.parse("127.0.0.1"))
    assert "127.0.0.2" in raised.value.message


@pytest.mark.parametrize("allowed", ["127.0.0.1", "127.0.0.0/30", " 10.0.0.0/8 , 127.0.0.1 ,"])
def test_an_allowed_loopback_address_resolves_to_itself(allowed: str) -> None:
    target = run_resolve("http://127.0.0.1:8080/hook?a=1", AllowList.parse(allowed))
    assert target == Target(
        "http://127.0.0.1:8080/hook?a=1", "http", "127.0.0.1", 8080, ("127.0.0.1",)
    )


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.2", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("fec0::1", "site-local"),
        ("240.0.0.1", "reserved"),
        ("::7f00:1", "reserved"),
        ("192.0.0.8", "not globally routable"),
        ("198.18.0.1", "not globally routable"),
        ("2001:db8::1", "not globally routable"),
    ],
)
def test_addresses_that_are_not_public_are_refused_with_their_reason(
    address: str, reason: str
) -> None:
    assert refuse_reason(ip_address(address)) == reason
    with pytest.raises(UnsafeTarget) as raised:
        check_address("hooks.example", address, NO_ALLOW)
    assert raised.value.field == "url"
    assert f"hooks.example resolves to {address} ({reason})" in raised.value.message
    assert "FOOTFALL_WEBHOOK_ALLOW_HOSTS" in raised.value.message


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "2606:4700::1", "::ffff:93.184.215.14", "64:ff9b::5db8:d70e"]
)
def test_public_addresses_pass(address: str) -> None:
    assert refuse_reason(ip_address(address)) is None
    check_address("hooks.example", address, NO_ALLOW)


def test_an_answer_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(UnsafeTarget, match="not an IP address"):
        check_address("hooks.example", "hooks.example", NO_ALLOW)


def test_a_public_host_name_resolves_to_its_unique_addresses_in_order() -> None:
    calls: list[tuple[str, int]] = []
    answers = ["2606:4700::1", "93.184.215.14", "2606:4700::1"]
    resolver = fake_resolver({"hooks.example": answers}, calls)
    target = run_resolve("https://Hooks.Example/in", NO_ALLOW, resolver)
    assert target == Target(
        "https://hooks.example/in", "https", "hooks.example", 443, ("2606:4700::1", "93.184.215.14")
    )
    assert calls == [("hooks.example", 443)]


@pytest.mark.parametrize("answers", [["93.184.215.14", "10.0.0.7"], ["10.0.0.7", "93.184.215.14"]])
def test_a_host_name_with_one_private_address_among_public_ones_is_refused(
    answers: list[str],
) -> None:
    resolver = fake_resolver({"rebind.example": answers})
    with pytest.raises(UnsafeTarget, match=r"rebind\.example resolves to 10\.0\.0\.7 \(private\)"):
        run_resolve("https://rebind.example/hook", NO_ALLOW, resolver)


@pytest.mark.parametrize(
    "allowed", ["HOOKS.internal", "hooks.internal.", "10.0.0.0/24", "10.0.0.5"]
)
def test_the_allow_list_lets_a_host_name_or_its_network_through(allowed: str) -> None:
    resolver = fake_resolver({"hooks.internal": ["10.0.0.5"]})
    target = run_resolve("http://hooks.internal:8080/", AllowList.parse(allowed), resolver)
    assert target.addresses == ("10.0.0.5",)
    with pytest.raises(UnsafeTarget):
        run_resolve("http://hooks.internal:8080/", NO_ALLOW, resolver)


def test_an_allowed_host_name_does_not_let_other_names_through() -> None:
    resolver = fake_resolver({"hooks.internal": ["10.0.0.5"], "other.example": ["10.0.0.5"]})
    with pytest.raises(UnsafeTarget, match=r"other\.example"):
        run_resolve("http://other.example/", AllowList.parse("hooks.internal"), resolver)


def test_an_allowed_ipv4_address_also_allows_its_ipv4_mapped_form() -> None:
    allow = AllowList.parse("127.0.0.1")
    assert allow.allows_address(ip_address("::ffff:127.0.0.1"))
    assert not allow.allows_address(ip_address("::ffff:127.0.0.2"))
    check_address("::ffff:127.0.0.1", "::ffff:127.0.0.1", allow)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.example/", "must use http or https, not 'ftp'"),
        ("file:///etc/passwd", "must use http or https, not 'file'"),
        ("javascript:alert(1)", "must use http or https, not 'javascript'"),
        ("hooks.example/in", "must use http or https, and be absolute"),
        ("//hooks.example/in", "must use http or https, and be absolute"),
        ("http://user:secret@hooks.example/", "credentials"),
        ("https://token@hooks.example/", "credentials"),
        ("http:///in", "no host"),
        ("https://", "no host"),
        ("http://hooks.example:0/", "port 0"),
        ("http://hooks.example:99999/", "port 99999"),
        ("http://hooks.example:port/", "not a valid URL"),
        ("http://hooks example/", "not a valid host"),
        ("http://[fe80::1%25eth0]/", "not a valid host"),
        ("https://hooks.example/" + "a" * MAX_URL_LENGTH, "longer than 2048"),
    ],
)
def test_urls_that_are_not_plain_http_are_invalid(url: str, says: str) -> None:
    calls: list[tuple[str, int]] = []
    with pytest.raises(InvalidWebhook, match=says) as raised:
        parse_url(url)
    assert raised.value.field == "url"
    assert not isinstance(raised.value, UnsafeTarget)
    with pytest.raises(InvalidWebhook, match=says):
        run_resolve(url, NO_ALLOW, fake_resolver({}, calls))
    assert calls == []


def test_a_url_of_the_maximum_length_is_accepted_and_a_unicode_host_is_encoded() -> None:
    url = "https://hooks.example/"
    assert str(parse_url(url + "a" * (MAX_URL_LENGTH - len(url)))).endswith("a")
    resolver = fake_resolver({"xn--bcher-kva.example": ["93.184.215.14"]})
    target = run_resolve("https://Bücher.example/in", NO_ALLOW, resolver)
    assert (target.url, target.host) == (
        "https://xn--bcher-kva.example/in",
        "xn--bcher-kva.example",
    )


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({}, "cannot resolve webhook URL host nowhere.example"),
        ({"nowhere.example": []}, "no addresses"),
    ],
)
def test_a_host_that_does_not_resolve_is_invalid(table: dict[str, list[str]], says: str) -> None:
    with pytest.raises(InvalidWebhook, match=says) as raised:
        run_resolve("https://nowhere.example/", NO_ALLOW, fake_resolver(table))
    assert raised.value.field == "url"
    assert not isinstance(raised.value, UnsafeTarget)


def test_the_allow_list_parses_hosts_addresses_and_networks() -> None:
    allow = AllowList.parse(" 127.0.0.1, Example.Internal ,10.0.0.0/8,[::1],, 192.168.1.7/24 ")
    assert allow.hosts == frozenset({"example.internal"})  # addresses are networks only
    assert allow.networks == (
        ip_network("127.0.0.1/32"),
        ip_network("10.0.0.0/8"),
        ip_network("::1/128"),
        ip_network("192.168.1.0/24"),
    )
    assert allow.allows_host("EXAMPLE.internal.")
    assert allow.allows_address(ip_address("192.168.1.200"))
    assert not allow.allows_address(ip_address("192.168.2.1"))
    assert AllowList.parse("") == AllowList(frozenset(), ())


@pytest.mark.parametrize(
    "text",
    [
        "10.0.0.0/33",
        "10.0.0.0/8x",
        "999.1.1.1/8",
        "fe80::/129",
        "hooks.example:8080",
        "http://x",
        "a b",
    ],
)
def test_a_bad_allow_list_entry_is_a_configuration_error(text: str) -> None:
    with pytest.raises(ConfigurationError, match="FOOTFALL_WEBHOOK_ALLOW_HOSTS") as raised:
        AllowList.parse(f"127.0.0.1,{text}")
    assert repr(text) in raised.value.message


@pytest.mark.parametrize(
    ("target", "address", "url", "host", "extensions"),
    [
        (
            Target("http://hooks.example/in?a=1", "http", "hooks.example", 80, ("93.184.215.14",)),
            "93.184.215.14",
            "http://93.184.215.14/in?a=1",
            "hooks.example",
            {},
        ),
        (
            Target(
                "https://hooks.example:8443/in",
                "https",
                "hooks.example",
                8443,
                ("10.0.0.1", "2606:4700::1"),
            ),
            "2606:4700::1",
            "https://[2606:4700::1]:8443/in",
            "hooks.example:8443",
            {"sni_hostname": "hooks.example"},
        ),
        (
            Target("https://[2606:4700::1]/in", "https", "2606:4700::1", 443, ("2606:4700::1",)),
            "2606:4700::1",
            "https://[2606:4700::1]/in",
            "[2606:4700::1]",
            {"sni_hostname": "2606:4700::1"},
        ),
    ],
)
def test_pinned_request_parts_connect_to_the_checked_address_and_keep_the_host(
    target: Target, address: str, url: str, host: str, extensions: dict[str, object]
) -> None:
    assert pinned_request_parts(target, address) == (httpx.URL(url), {"Host": host}, extensions)


def test_a_pinned_request_goes_to_the_address_with_the_original_host() -> None:
    target = Target(
        "https://hooks.example:8443/in", "https", "hooks.example", 8443, ("93.184.215.14",)
    )
    url, headers, extensions = pinned_request_parts(target, "93.184.215.14")
    seen: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(receive)) as client:
        client.post(url, headers=headers, extensions=extensions, content=b"{}")
    [request] = seen
    assert (request.url.host, request.url.port) == ("93.184.215.14", 8443)
    assert request.headers["host"] == "hooks.example:8443"
    assert request.extensions["sni_hostname"] == "hooks.example"


def test_pinning_refuses_an_address_that_was_not_checked() -> None:
    target = Target("http://hooks.example/", "http", "hooks.example", 80, ("93.184.215.14",))
    with pytest.raises(ValueError, match="not one of the checked addresses"):
        pinned_request_parts(target, "10.0.0.1")


def test_an_allowed_address_written_as_a_host_name_is_not_allowed() -> None:
    """``127.0.0.1.`` is a name (glibc does not read it as an address): whatever DNS answers
    for it is checked like any name's answer."""
    resolver = fake_resolver({"127.0.0.1.": ["127.0.0.2"]})
    with pytest.raises(UnsafeTarget, match=r"127\.0\.0\.2"):
        run_resolve("http://127.0.0.1./hook", AllowList.parse("127.0.0.1"), resolver)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("::ffff:127.0.0.1", True),  # IPv4-mapped: a connection to it reaches 127.0.0.1
        ("2002:7f00:1::1", False),  # 6to4 and NAT64 carry 127.0.0.1 but go to a relay
        ("64:ff9b::7f00:1", False),
    ],
)
def test_an_allowed_address_covers_its_mapped_form_only(address: str, allowed: bool) -> None:
    allow = AllowList.parse("127.0.0.1")
    assert allow.allows_address(ip_address(address)) is allowed
