"""SSRF-01: the output fetcher never reaches internal addresses, never follows a redirect it has
not re-checked, never reads an unbounded body and never waits forever.

HTTP is faked at the transport boundary with respx (which fails any request without a route),
DNS through the fetcher's resolver argument.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx

from app.integrations.fetcher import FetchedFile, FetchFailed, FetchRefused, SafeFetcher

CDN = "out.replicate.delivery"
CDN_IP = "151.101.1.1"  # any public address; the test never leaves the process
OTHER_IP = "151.101.65.1"
ALLOWED = frozenset({".replicate.delivery", "lh3.googleusercontent.com"})
KiB = 1024
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


class FakeDns:
    """A resolver that answers from a table and remembers what it was asked."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.queries: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.queries.append(host)
        if host not in self.table:
            raise OSError(f"NXDOMAIN {host}")
        return self.table[host]


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    # assert_all_mocked: a request nobody expected fails the test instead of going out.
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def dns() -> FakeDns:
    return FakeDns({CDN: [CDN_IP], "lh3.googleusercontent.com": [OTHER_IP]})


def _fetcher(
    dns: FakeDns,
    *,
    max_bytes: int = 256 * KiB,
    timeout: float = 2.0,
    allow_http: bool = False,
    max_redirects: int = 3,
) -> SafeFetcher:
    return SafeFetcher(
        allowed_hosts=ALLOWED,
        resolver=dns,
        max_bytes=max_bytes,
        timeout=timeout,
        allow_http=allow_http,
        max_redirects=max_redirects,
    )


async def test_ssrf01_happy_path_connects_to_the_checked_address(
    router: respx.MockRouter, dns: FakeDns
) -> None:
    route = router.get(f"https://{CDN_IP}/p/out.png").respond(
        200, content=PNG_BYTES, headers={"Content-Type": "image/png; charset=binary"}
    )

    async with _fetcher(dns) as fetcher:
        fetched = await fetcher.fetch(f"https://{CDN}/p/out.png")

    assert fetched == FetchedFile(data=PNG_BYTES, content_type="image/png")
    request = route.calls.last.request
    # DNS rebinding: the connection goes to the address we checked, the name rides in Host
    # and in TLS SNI (which httpcore also verifies the certificate against).
    assert request.url.host == CDN_IP
    assert request.headers["host"] == CDN
    assert request.extensions["sni_hostname"] == CDN
    assert request.headers["accept-encoding"] == "identity"
    assert dns.queries == [CDN]


async def test_ssrf01_unreachable_address_falls_back_to_the_next_checked_one(
    router: respx.MockRouter, dns: FakeDns
) -> None:
    dns.table[CDN] = [CDN_IP, OTHER_IP]
    router.get(f"https://{CDN_IP}/a.png").mock(side_effect=httpx.ConnectError("refused"))
    router.get(f"https://{OTHER_IP}/a.png").respond(200, content=PNG_BYTES)

    async with _fetcher(dns) as fetcher:
        assert (await fetcher.fetch(f"https://{CDN}/a.png")).data == PNG_BYTES


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.53.0.1",
        "10.0.0.7",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:169.254.169.254",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
    ],
)
async def test_ssrf01_internal_addresses_are_refused(
    router: respx.MockRouter, dns: FakeDns, address: str
) -> None:
    dns.table[CDN] = [address]

    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchRefused, match="non-public"):
            await fetcher.fetch(f"https://{CDN}/out.png")

    assert not router.calls, "nothing may be sent"


async def test_ssrf01_one_internal_address_among_public_ones_is_refused(
    router: respx.MockRouter, dns: FakeDns
) -> None:
    dns.table[CDN] = [CDN_IP, "10.0.0.7"]

    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchRefused):
            await fetcher.fetch(f"https://{CDN}/out.png")

    assert not router.calls


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/out.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/out.png",
        "https://[::ffff:127.0.0.1]/out.png",
        f"https://{CDN_IP}/out.png",  # even a public one: the allow-list is by name
    ],
)
async def test_ssrf01_literal_ip_hosts_are_refused(
    router: respx.MockRouter, dns: FakeDns, url: str
) -> None:
    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchRefused, match="not IP addresses"):
            await fetcher.fetch(url)

    assert dns.queries == []
    assert not router.calls


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/out.png",
        "https://replicate.delivery.evil.example/out.png",
        "https://evilreplicate.delivery/out.png",  # suffixes match whole labels only
        "https://replicate.delivery/out.png",  # ".replicate.delivery" means subdomains
        "https://localhost/out.png",
        "https://metadata.google.internal/computeMetadata/v1/",
    ],
)
async def test_ssrf01_hosts_outside_the_allow_list_are_refused(
    router: respx.MockRouter, dns: FakeDns, url: str
) -> None:
    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchRefused, match="allow-list"):
            await fetcher.fetch(url)

    assert dns.queries == []
    assert not router.calls


@pytest.mark.parametrize(
    "url",
    [
        f"http://{CDN}/out.png",
        f"https://user:secret@{CDN}/out.png",
        f"https://{CDN}:8443/out.png",
        "file:///etc/passwd",
        f"gopher://{CDN}/_",
        "not a url at all",
    ],
)
async def test_ssrf01_other_schemes_ports_and_credentials_are_refused(
    router: respx.MockRouter, dns: FakeDns, url: str
) -> None:
    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchRefused):
            await fetcher.fetch(url)

    assert not router.calls


async def test_ssrf01_plain_http_only_when_enabled(router: respx.MockRouter, dns: FakeDns) -> None:
    route = router.get(f"http://{CDN_IP}/out.png").respond(200, content=PNG_BYTES)

    async with _fetcher(dns, allow_http=True) as fetcher:
        assert (await fetcher.fetch(f"http://{CDN}/out.png")).data == PNG_BYTES

    assert "sni_hostname" not in route.calls.last.request.extensions


@pytest.mark.parametrize(
    ("location", "refusal"),
    [
        ("https://internal.replicate.delivery/x", "non-public"),  # allowed name, internal IP
        ("https://169.254.169.254/latest/meta-data/", "not IP addresses"),
        ("http://169.254.169.254/latest/meta-data/", "scheme"),
        ("https://evil.example/x", "allow-list"),
        ("https://[::ffff:10.0.0.1]/x", "not IP addresses"),
    ],
)
async def test_ssrf01_redirect_to_an_internal_target_is_refused(
    router: respx.MockRouter, dns: FakeDns, location: str, refusal: str
) -> None:
    dns.table["internal.replicate.delivery"] = ["10.0.0.1"]
    router.get(f"https://{CDN_IP}/out.png").respond(302, headers={"Location": location})

    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchRefused, match=refusal):
            await fetcher.fetch(f"https://{CDN}/out.png")

    assert len(router.calls) == 1, "only the first, allowed hop may be requested"


async def test_ssrf01_redirects_are_followed_and_rechecked(
    router: respx.MockRouter, dns: FakeDns
) -> None:
    router.get(f"https://{CDN_IP}/start").respond(
        302, headers={"Location": "https://lh3.googleusercontent.com/a/pic"}
    )
    router.get(f"https://{OTHER_IP}/a/pic").respond(301, headers={"Location": "/b/pic"})
    final = router.get(f"https://{OTHER_IP}/b/pic").respond(200, content=PNG_BYTES)

    async with _fetcher(dns) as fetcher:
        assert (await fetcher.fetch(f"https://{CDN}/start")).data == PNG_BYTES

    # The relative redirect is resolved against the host name, not the address we dialled.
    assert final.calls.last.request.headers["host"] == "lh3.googleusercontent.com"
    assert dns.queries == [CDN, "lh3.googleusercontent.com", "lh3.googleusercontent.com"]


async def test_ssrf01_redirect_chains_are_bounded(router: respx.MockRouter, dns: FakeDns) -> None:
    router.get(f"https://{CDN_IP}/loop").respond(302, headers={"Location": "/loop"})

    async with _fetcher(dns, max_redirects=2) as fetcher:
        with pytest.raises(FetchRefused, match="redirects"):
            await fetcher.fetch(f"https://{CDN}/loop")

    assert len(router.calls) == 3


async def test_ssrf01_oversized_body_stops_reading(router: respx.MockRouter, dns: FakeDns) -> None:
    max_bytes = 256 * KiB
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        chunk = b"\x00" * (16 * KiB)
        # No Content-Length; 50 MiB (finite, so that a missing cap fails rather than hangs).
        for _ in range(50 * 1024 * KiB // len(chunk)):
            sent += len(chunk)
            yield chunk

    router.get(f"https://{CDN_IP}/big").mock(return_value=httpx.Response(200, content=endless()))

    async with _fetcher(dns, max_bytes=max_bytes) as fetcher:
        with pytest.raises(FetchRefused, match="larger"):
            await fetcher.fetch(f"https://{CDN}/big")

    assert sent <= max_bytes + 64 * KiB


async def test_ssrf01_declared_oversized_body_is_refused_unread(
    router: respx.MockRouter, dns: FakeDns
) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        sent += 1
        yield b"\x00" * KiB

    router.get(f"https://{CDN_IP}/big").mock(
        return_value=httpx.Response(200, content=body(), headers={"Content-Length": str(10**9)})
    )

    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchRefused, match="larger"):
            await fetcher.fetch(f"https://{CDN}/big")

    assert sent == 0


async def test_ssrf01_compressed_bodies_are_refused(router: respx.MockRouter, dns: FakeDns) -> None:
    # A gzip chunk can inflate a thousandfold in one step, past any per-chunk check.
    async def gzip_bomb() -> AsyncIterator[bytes]:
        yield gzip.compress(bytes(64 * 1024 * KiB))

    router.get(f"https://{CDN_IP}/z").mock(
        return_value=httpx.Response(200, content=gzip_bomb(), headers={"Content-Encoding": "gzip"})
    )

    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchRefused, match="compressed"):
            await fetcher.fetch(f"https://{CDN}/z")


# The answers below are held until the test releases them: the fetch must give up while they are
# still pending (ordering, not a stopwatch). GUARD_S only turns a missing deadline into a failure
# instead of a hang.
GUARD_S = 30


async def test_ssrf01_slow_server_times_out(router: respx.MockRouter, dns: FakeDns) -> None:
    released = asyncio.Event()
    answered = False

    async def stall(request: httpx.Request) -> httpx.Response:
        nonlocal answered
        await released.wait()
        answered = True
        return httpx.Response(200, content=PNG_BYTES)

    router.get(f"https://{CDN_IP}/slow").mock(side_effect=stall)

    try:
        async with _fetcher(dns, timeout=0.3) as fetcher:
            with pytest.raises(FetchFailed, match="did not finish"):
                await asyncio.wait_for(fetcher.fetch(f"https://{CDN}/slow"), GUARD_S)
        assert not answered, "the fetch waited for the server's answer"
    finally:
        released.set()


async def test_ssrf01_dripping_body_hits_the_total_deadline(
    router: respx.MockRouter, dns: FakeDns
) -> None:
    # Each byte arrives well within a per-read timeout; only a total deadline ends this.
    released = asyncio.Event()
    sent = 0

    async def drip() -> AsyncIterator[bytes]:
        nonlocal sent
        while not released.is_set():
            await asyncio.sleep(0.02)
            sent += 1
            yield b"\x00"

    router.get(f"https://{CDN_IP}/drip").mock(return_value=httpx.Response(200, content=drip()))

    try:
        async with _fetcher(dns, timeout=0.3) as fetcher:
            with pytest.raises(FetchFailed, match="did not finish"):
                await asyncio.wait_for(fetcher.fetch(f"https://{CDN}/drip"), GUARD_S)
        # Bytes were arriving (so no per-read timeout fired) and the body never ended (it
        # only ends when released): the total deadline is what stopped the fetch.
        assert sent > 0
    finally:
        released.set()


async def test_ssrf01_slow_dns_hits_the_deadline(router: respx.MockRouter) -> None:
    async def stuck_resolver(host: str, port: int) -> list[str]:
        await asyncio.sleep(3)
        return [CDN_IP]

    fetcher = SafeFetcher(
        allowed_hosts=ALLOWED, max_bytes=KiB, timeout=0.2, resolver=stuck_resolver
    )
    async with fetcher:
        with pytest.raises(FetchFailed, match="did not finish"):
            await fetcher.fetch(f"https://{CDN}/x")


@pytest.mark.parametrize("status", [403, 404, 500, 503])
async def test_ssrf01_error_statuses_fail(
    router: respx.MockRouter, dns: FakeDns, status: int
) -> None:
    router.get(f"https://{CDN_IP}/gone").respond(status, content=b"<html>error</html>")

    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchFailed, match=str(status)):
            await fetcher.fetch(f"https://{CDN}/gone")


async def test_ssrf01_unknown_host_fails(router: respx.MockRouter, dns: FakeDns) -> None:
    async with _fetcher(dns) as fetcher:
        with pytest.raises(FetchFailed, match="resolve"):
            await fetcher.fetch("https://nowhere.replicate.delivery/x")


async def test_ssrf01_default_resolver_refuses_a_name_pointing_inside(
    router: respx.MockRouter,
) -> None:
    # The real system resolver: "localhost" resolves to loopback on every machine.
    fetcher = SafeFetcher(allowed_hosts=frozenset({"localhost"}), max_bytes=KiB, timeout=2.0)
    async with fetcher:
        with pytest.raises(FetchRefused, match="non-public"):
            await fetcher.fetch("https://localhost/x")

    assert not router.calls
