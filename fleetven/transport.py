"""HTTP transport to the VTN: the only fleetven module that opens sockets.

One :class:`Transport` serves a whole fleet. It owns one aiohttp
``ClientSession`` over one ``TCPConnector``: a bounded pool of keep-alive
connections shared by every VEN of the fleet, a DNS cache, a total timeout on
every request and a cap on every response body.

TLS: aiohttp keys its connection pool on the ``ssl`` argument of a request,
so a connection opened with one ``SSLContext`` is only ever reused by
requests passing that same context object. The caller keeps one context per
TLS identity (client certificate, CA, hostname policy) and passes it with
every request of the VENs using that identity: VENs sharing an identity share
connections, VENs with different client certificates never do. ``ssl=None``
means aiohttp's default verifying context for ``https`` URLs.

::

    async with Transport("https://vtn.example.com/OpenADR2/Simple/2.0b") as transport:
        reply = await transport.request("OadrPoll", build_message(poll), ssl=identity_ctx, ven="site-0001")
"""

from __future__ import annotations

import ssl as _ssl
from types import TracebackType
from typing import Final

import aiohttp
from yarl import URL

from .exceptions import ConfigurationError, HTTPStatusError, MessageTooLarge, TransportError, TransportTimeout
from .messages import model as m
from .messages.parse import DEFAULT_MAX_SIZE

__all__ = (
    "Transport",
    "SERVICES",
    "SERVICE_OF",
    "EI_REGISTER_PARTY",
    "EI_EVENT",
    "EI_REPORT",
    "EI_OPT",
    "OADR_POLL",
)

EI_REGISTER_PARTY: Final = "EiRegisterParty"
EI_EVENT: Final = "EiEvent"
EI_REPORT: Final = "EiReport"
EI_OPT: Final = "EiOpt"
OADR_POLL: Final = "OadrPoll"

#: The OpenADR 2.0b simple-HTTP services, appended to the VTN URL.
SERVICES: Final[tuple[str, ...]] = (EI_REGISTER_PARTY, EI_EVENT, EI_REPORT, EI_OPT, OADR_POLL)

#: The service each VEN-to-VTN message is posted to. ``oadrResponse``
#: (:class:`~fleetven.messages.model.ResponseMessage`) is absent: it goes to the
#: service of the message it answers, which the caller passes explicitly.
SERVICE_OF: Final[dict[type, str]] = {
    m.QueryRegistration: EI_REGISTER_PARTY,
    m.CreatePartyRegistration: EI_REGISTER_PARTY,
    m.CancelPartyRegistration: EI_REGISTER_PARTY,
    m.CanceledPartyRegistration: EI_REGISTER_PARTY,
    m.RequestEvent: EI_EVENT,
    m.CreatedEvent: EI_EVENT,
    m.RegisterReport: EI_REPORT,
    m.RegisteredReport: EI_REPORT,
    m.CreatedReport: EI_REPORT,
    m.UpdateReport: EI_REPORT,
    m.CanceledReport: EI_REPORT,
    m.CreateReport: EI_REPORT,
    m.CancelReport: EI_REPORT,
    m.UpdatedReport: EI_REPORT,
    m.CreateOpt: EI_OPT,
    m.CancelOpt: EI_OPT,
    m.Poll: OADR_POLL,
}

_CONTENT_TYPE: Final = "application/xml"


class Transport:
    """One per fleet: one aiohttp ``ClientSession``, a bounded keep-alive pool, timeouts.

    The session is created lazily by the first request (or ``async with``),
    inside the running event loop, so a Transport can be built before the loop
    runs. Every later use must happen on that same loop.

    :param vtn_url: the VTN's base URL, e.g. ``https://vtn:8080/OpenADR2/Simple/2.0b``;
        a service name is appended to it (``{vtn_url}/OadrPoll``).
    :param timeout: seconds a request may take in all: waiting for a pooled
        connection, connecting, TLS, sending and reading the whole answer.
    :param limit: most connections open at once (in use or idle); requests
        beyond it wait for a free connection (within ``timeout``).
    :param max_size: the largest response body accepted, in bytes.
    :param user_agent: the ``User-Agent`` header; ``fleetven/<version>`` by default.
    :param keepalive_timeout: seconds an idle pooled connection is kept open.
    :param ttl_dns_cache: seconds a resolved VTN address is cached (``None``: forever).
    :raises ConfigurationError: a URL that is not ``http``/``https`` with a host,
        or a non-positive number.
    """

    __slots__ = (
        "vtn_url",
        "timeout",
        "limit",
        "max_size",
        "user_agent",
        "keepalive_timeout",
        "ttl_dns_cache",
        "_https",
        "_urls",
        "_headers",
        "_client_timeout",
        "_session",
        "_closed",
    )

    def __init__(
        self,
        vtn_url: str,
        *,
        timeout: float = 30.0,
        limit: int = 64,
        max_size: int = DEFAULT_MAX_SIZE,
        user_agent: str | None = None,
        keepalive_timeout: float = 30.0,
        ttl_dns_cache: int | None = 60,
    ) -> None:
        base = vtn_url.rstrip("/")
        url = URL(base)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(f"vtn_url must be an http:// or https:// URL with a host, not {vtn_url!r}")
        for name, value in (("timeout", timeout), ("limit", limit), ("max_size", max_size)):
            if not value > 0:
                raise ConfigurationError(f"Transport {name} must be positive, not {value!r}", setting=name)
        if not keepalive_timeout >= 0:
            raise ConfigurationError(f"Transport keepalive_timeout must be >= 0, not {keepalive_timeout!r}")
        if user_agent is None:
            from . import __version__

            user_agent = f"fleetven/{__version__}"
        self.vtn_url: str = base
        self.timeout: float = timeout
        self.limit: int = limit
        self.max_size: int = max_size
        self.user_agent: str = user_agent
        self.keepalive_timeout: float = keepalive_timeout
        self.ttl_dns_cache: int | None = ttl_dns_cache
        self._https = url.scheme == "https"
        # Pre-parsed URLs: aiohttp skips parsing when given a yarl.URL.
        self._urls: dict[str, URL] = {s: URL(f"{base}/{s}") for s in SERVICES}
        self._headers: dict[str, str] = {"Content-Type": _CONTENT_TYPE, "User-Agent": user_agent}
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._session is not None else "idle")
        return f"<Transport {self.vtn_url} {state} limit={self.limit}>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.limit,
            keepalive_timeout=self.keepalive_timeout,
            ttl_dns_cache=self.ttl_dns_cache,
            use_dns_cache=True,
        )
        self._session = session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            # Only the headers set above: no Accept-Encoding (so no compressed
            # answers to undo), no Accept.
            skip_auto_headers=("Accept-Encoding", "Accept"),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self._client_timeout,
            auto_decompress=False,
            raise_for_status=False,
        )
        return session

    async def request(
        self, service: str, body: bytes, *, ssl: _ssl.SSLContext | None = None, ven: str | None = None
    ) -> bytes:
        """POST ``body`` (an ``oadrPayload``) to ``{vtn_url}/{service}`` and return the answer's body.

        :param service: one of :data:`SERVICES`; see :data:`SERVICE_OF`.
        :param body: the request document, sent with ``Content-Type: application/xml``.
        :param ssl: the TLS context of the VEN's identity (https only); ``None``
            is aiohttp's default verifying context. Connections are pooled per
            context object: pass the same object for the same identity.
        :param ven: the VEN's name, for error messages.
        :returns: the response body bytes (any ``Content-Type``).
        :raises HTTPStatusError: the VTN answered with a status other than 200 (field ``status``).
        :raises TransportTimeout: no complete answer within :attr:`timeout`.
        :raises TransportError: connecting, TLS, sending or reading failed, or the transport is closed.
        :raises MessageTooLarge: the answer is longer than :attr:`max_size`.
        :raises ConfigurationError: ``service`` is not an OpenADR service.

        Every error carries the fields ``ven``, ``service`` and ``url``.
        """
        url = self._urls.get(service)
        if url is None:
            raise ConfigurationError(f"unknown OpenADR service {service!r}; expected one of {', '.join(SERVICES)}")
        session = self._session
        if session is None:
            if self._closed:
                raise TransportError(
                    f"transport is closed (ven={ven}, service={service}, url={url})",
                    ven=ven,
                    service=service,
                    url=str(url),
                )
            session = self._open()
        try:
            async with session.post(
                url, data=body, ssl=ssl if ssl is not None and self._https else True, allow_redirects=False
            ) as resp:
                if resp.status != 200:
                    status = f"{resp.status} {resp.reason}" if resp.reason else str(resp.status)
                    raise HTTPStatusError(
                        f"VTN answered HTTP {status} (ven={ven}, service={service}, url={url})",
                        ven=ven,
                        service=service,
                        url=str(url),
                        status=resp.status,
                    )
                length = resp.content_length
                if length is not None:
                    if length > self.max_size:
                        resp.close()
                        raise self._too_large(ven, service, url, f"announced {length} bytes")
                    # The parser stops the body at Content-Length: bounded.
                    return await resp.read()
                return await self._read_capped(resp, ven, service, url)
        except TransportError:
            raise  # HTTPStatusError from above (a ConnectionError, hence an OSError)
        except TimeoutError as exc:  # before OSError: TimeoutError is one; aiohttp's timeouts are TimeoutErrors
            raise TransportTimeout(
                f"no answer within {self.timeout} s (ven={ven}, service={service}, url={url})",
                ven=ven,
                service=service,
                url=str(url),
                timeout=self.timeout,
            ) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(
                f"request failed: {_describe(exc)} (ven={ven}, service={service}, url={url})",
                ven=ven,
                service=service,
                url=str(url),
            ) from exc
        except RuntimeError as exc:
            # aiohttp raises RuntimeError("Session is closed") when close() raced a request.
            if session.closed:
                raise TransportError(
                    f"transport closed during the request (ven={ven}, service={service}, url={url})",
                    ven=ven,
                    service=service,
                    url=str(url),
                ) from exc
            raise

    async def _read_capped(self, resp: aiohttp.ClientResponse, ven: str | None, service: str, url: URL) -> bytes:
        # No Content-Length (chunked, or until EOF): read chunk by chunk, never past max_size.
        chunks: list[bytes] = []
        size = 0
        content = resp.content
        while True:
            chunk = await content.readany()
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_size:
                resp.close()
                raise self._too_large(ven, service, url, "read more")
            chunks.append(chunk)

    def _too_large(self, ven: str | None, service: str, url: URL, what: str) -> MessageTooLarge:
        return MessageTooLarge(
            f"answer larger than {self.max_size} bytes ({what}) (ven={ven}, service={service}, url={url})",
            ven=ven,
            service=service,
            url=str(url),
            max_size=self.max_size,
        )

    async def close(self) -> None:
        """Close every pooled connection. Idempotent; the transport cannot be used afterwards."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> Transport:
        if self._closed:
            raise TransportError(f"transport is closed (url={self.vtn_url})", url=self.vtn_url)
        if self._session is None:
            self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name
