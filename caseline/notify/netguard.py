"""Where webhooks may point: public internet addresses only.

A webhook URL is chosen by a user; without this guard Caseline would POST to whatever it
names -- the cloud metadata service (169.254.169.254), a database on localhost, an
intranet host (server-side request forgery). Unless ``settings.WEBHOOK_ALLOW_PRIVATE`` is
on, a target is refused when its host is ``localhost`` (or ``*.localhost``) or an address
that is not globally routable: loopback (127/8, ::1), private (10/8, 172.16/12,
192.168/16, fc00::/7), link-local (169.254/16, fe80::/10), shared (100.64/10),
unspecified, reserved, multicast -- also when written as an IPv4-mapped IPv6 address.

It is checked twice:
- when the webhook is saved (``url_problem``: the host as written and, if it resolves,
  every address it resolves to), so the user gets a 422 at once;
- when each delivery connects (``GuardedHTTPHandler`` / ``GuardedHTTPSHandler``): the
  name is resolved, every address checked, and the connection made to exactly the
  addresses checked, so a DNS answer that changed since (DNS rebinding) cannot slip
  through. Webhook deliveries connect directly (no HTTP proxy from the environment).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings

LOCAL_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "localhost6"}
)


class BlockedAddress(OSError):
    """The target is not a public address (urllib wraps it in a URLError)."""


def allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False))


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None and not is_public(embedded):
            return False
        if ip.teredo is not None and not all(is_public(a) for a in ip.teredo):
            return False
    return ip.is_global and not ip.is_multicast


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def host_problem(host: str) -> str | None:
    """Why ``host`` (a name or an address literal) is refused, without asking DNS."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name:
        return "has no host"
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return f"{host} is this machine (localhost)"
    ip = _ip(name)
    if ip is not None and not is_public(ip):
        return f"{host} is a loopback, private or link-local address"
    return None


def resolve_problem(host: str, port: int) -> str | None:
    """Why ``host`` is refused after resolving it; None when every address is public
    (or when it does not resolve now: the delivery checks again when it connects)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    for *_, sockaddr in infos:
        ip = _ip(str(sockaddr[0]))
        if ip is not None and not is_public(ip):
            return f"{host} resolves to {ip}, a loopback, private or link-local address"
    return None


def url_problem(url: str) -> str | None:
    """Why a webhook may not target ``url`` (None: it may, or private targets are
    allowed by WEBHOOK_ALLOW_PRIVATE)."""
    if allow_private():
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "is not a valid URL"
    return host_problem(host) or resolve_problem(host, port)


def guarded_create_connection(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """``socket.create_connection`` that refuses non-public targets and connects to the
    very addresses it checked."""
    host, port = address
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"{host} does not resolve")
    if not allow_private():
        problem = host_problem(host)
        if problem:
            raise BlockedAddress(f"refused: {problem} (WEBHOOK_ALLOW_PRIVATE is off)")
        for *_, sockaddr in infos:
            ip = _ip(str(sockaddr[0]))
            if ip is None or not is_public(ip):
                raise BlockedAddress(
                    f"refused: {host} resolves to {sockaddr[0]}, a loopback, private or "
                    "link-local address (WEBHOOK_ALLOW_PRIVATE is off)"
                )
    error: OSError | None = None
    for family, socktype, proto, _, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    assert error is not None
    raise error


class GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = guarded_create_connection


class GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = guarded_create_connection


class GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(GuardedHTTPConnection, req)


class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(GuardedHTTPSConnection, req, context=self._context)


def build_opener(*handlers) -> urllib.request.OpenerDirector:
    """An opener whose HTTP(S) connections go only where the guard allows, directly."""
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), GuardedHTTPHandler, GuardedHTTPSHandler, *handlers
    )
