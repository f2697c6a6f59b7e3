"""Downloads from outside services (Replicate outputs, Google profile pictures) without letting
a URL turn the server into a proxy into our own network (SSRF-01).

Every hop — the first URL and each redirect — must be https (http only when enabled), name a
host on the allow-list by name (never a literal IP), use the scheme's default port, and
resolve only to public addresses. The connection then goes to the very address that was
checked (the URL carries the IP; `Host` and TLS SNI carry the name, and the certificate is
verified against the name), so a DNS answer that changes between check and connect — DNS
rebinding — cannot redirect it. Bodies are streamed and cut off past `max_bytes`, and the
whole fetch, DNS and redirects included, runs under one deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_DEFAULT_PORTS = {"https": 443, "http": 80}
# NAT64 (RFC 6052) embeds an IPv4 address in the low 32 bits; the gateway would reach it.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class FetchRefused(Exception):
    """The URL, the address it resolves to, or the answer breaks the rules; retrying won't help."""


class FetchFailed(Exception):
    """The download did not complete (DNS, network, timeout, HTTP status); it may be transient."""


@dataclass(frozen=True, slots=True)
class FetchedFile:
    data: bytes
    content_type: str | None  # the declared media type; untrusted, intake sniffs the bytes


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver returns for `host`, in its order, without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: IPAddress) -> bool:
    """True only for globally routable unicast addresses, looking inside IPv6 wrappers of IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class SafeFetcher:
    def __init__(
        self,
        *,
        allowed_hosts: frozenset[str],
        max_bytes: int,
        timeout: float,
        resolver: Resolver | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_http: bool = False,
        max_redirects: int = 3,
    ) -> None:
        """`allowed_hosts` holds exact names ("lh3.googleusercontent.com") and suffixes with a
        leading dot (".replicate.delivery" matches its subdomains, not the bare domain).
        `timeout` bounds each network operation and the whole fetch. A `client` passed in is
        used as is (its redirect setting is overridden per request) and not closed by us."""
        if max_bytes <= 0 or timeout <= 0 or max_redirects < 0:
            raise ValueError("max_bytes and timeout must be positive, max_redirects >= 0")
        if client is not None and transport is not None:
            raise ValueError("pass a client or a transport, not both")
        self._exact = frozenset(h.lower() for h in allowed_hosts if not h.startswith("."))
        self._suffixes = tuple(h.lower() for h in allowed_hosts if h.startswith("."))
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._resolve = resolver or system_resolver
        self._schemes = frozenset({"https", "http"} if allow_http else {"https"})
        self._max_redirects = max_redirects
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            # Proxies from the environment would resolve names themselves, bypassing the checks.
            trust_env=False,
            # No keep-alive: the pool is keyed by IP, so a pooled connection opened (and its
            # certificate checked) for one name could otherwise carry a request for another.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def __aenter__(self) -> SafeFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def fetch(self, url: str) -> FetchedFile:
        """Download `url`, following at most `max_redirects` redirects, each one re-checked."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(self._parse(url))
        except TimeoutError as exc:
            raise FetchFailed(f"the download did not finish within {self._timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise FetchFailed(f"the download failed: {type(exc).__name__}") from exc

    async def _follow(self, url: httpx.URL) -> FetchedFile:
        for _ in range(self._max_redirects + 1):
            response = await self._open(url)
            try:
                target = self._redirect_target(response, url)
                if target is None:
                    return await self._read(response)
            finally:
                await response.aclose()
            url = target
        raise FetchRefused(f"more than {self._max_redirects} redirects")

    def _parse(self, url: str | httpx.URL) -> httpx.URL:
        try:
            return httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise FetchRefused("not a valid URL") from exc

    def _check_url(self, url: httpx.URL) -> str:
        """The host name to connect to, once the URL passes every rule that needs no DNS."""
        if url.scheme not in self._schemes:
            raise FetchRefused(f"scheme {url.scheme!r} is not allowed")
        if url.userinfo:
            raise FetchRefused("credentials in URLs are not allowed")
        if url.port is not None:  # httpx drops the scheme's default port, so this is another
            raise FetchRefused("only the scheme's default port is allowed")
        host = url.raw_host.decode("ascii").lower()
        if _is_ip_literal(host):
            raise FetchRefused("hosts must be names, not IP addresses")
        if not self._is_allowed(host.rstrip(".")):
            raise FetchRefused(f"host {host!r} is not on the allow-list")
        return host

    def _is_allowed(self, host: str) -> bool:
        return host in self._exact or any(host.endswith(suffix) for suffix in self._suffixes)

    async def _public_addresses(self, host: str, port: int) -> list[str]:
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:  # socket.gaierror included
            raise FetchFailed(f"could not resolve {host!r}") from exc
        if not addresses:
            raise FetchFailed(f"{host!r} has no addresses")
        for address in addresses:
            try:
                parsed = ipaddress.ip_address(address)
            except ValueError as exc:
                raise FetchRefused(f"{host!r} resolved to a non-address {address!r}") from exc
            # One internal address is enough to refuse: which one gets used is not ours to pick.
            if not is_public_address(parsed):
                raise FetchRefused(f"{host!r} resolves to a non-public address")
        return addresses

    async def _open(self, url: httpx.URL) -> httpx.Response:
        host = self._check_url(url)
        addresses = await self._public_addresses(host, _DEFAULT_PORTS[url.scheme])
        headers = {"Host": host, "Accept": "image/*", "Accept-Encoding": "identity"}
        extensions = {"sni_hostname": host} if url.scheme == "https" else {}
        failure: httpx.TransportError | None = None
        for address in addresses:  # try the next checked address if one is unreachable
            request = self._client.build_request(
                "GET", url.copy_with(host=address), headers=headers, extensions=extensions
            )
            try:
                return await self._client.send(request, stream=True, follow_redirects=False)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc
        raise FetchFailed(f"could not connect to {host!r}") from failure

    def _redirect_target(self, response: httpx.Response, url: httpx.URL) -> httpx.URL | None:
        if response.status_code not in _REDIRECTS:
            return None
        location = response.headers.get("location")
        if not location:
            raise FetchFailed(f"redirect {response.status_code} without a Location")
        # Resolve relative to the URL with the host *name*: the response's own URL carries the IP.
        try:
            return url.join(location)
        except httpx.InvalidURL as exc:
            raise FetchRefused("the redirect target is not a valid URL") from exc

    async def _read(self, response: httpx.Response) -> FetchedFile:
        if not response.is_success:
            raise FetchFailed(f"the server answered {response.status_code}")
        # We asked for identity: a compressed body could inflate far past max_bytes per chunk.
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            raise FetchRefused("compressed responses are not accepted")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise FetchRefused(f"the file is larger than {self._max_bytes} bytes")
        body = bytearray()
        async for chunk in response.aiter_raw(_CHUNK):
            body += chunk
            if len(body) > self._max_bytes:
                raise FetchRefused(f"the file is larger than {self._max_bytes} bytes")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        return FetchedFile(data=bytes(body), content_type=media_type or None)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
