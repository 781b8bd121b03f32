"""The HTTPS policy of webhooks: Twisted's browser-like one (the system's
trusted authorities, the host name checked), with a certificate that names
no host (no subjectAltName) refused. OpenSSL and service_identity are
imported only when a webhook uses HTTPS, as Twisted's TLS support is."""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.python.failure import Failure
from twisted.web.client import BrowserLikePolicyForHTTPS
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer


@implementer(IPolicyForHTTPS)
class NamedHostPolicy:
    """Twisted's browser-like HTTPS policy (the system's trusted authorities,
    the host name checked), with one hole closed: a certificate that names no
    host (no subjectAltName) is refused. Twisted's check raised on it, logged
    a CRITICAL traceback and let the handshake go on as if the host matched,
    so any such certificate a trusted authority signed got the call data."""

    def __init__(self) -> None:
        self._policy = BrowserLikePolicyForHTTPS()

    def creatorForNetloc(self, hostname: bytes, port: int) -> IOpenSSLClientConnectionCreator:
        return _NamedHostCreator(self._policy.creatorForNetloc(hostname, port), hostname.decode("ascii"))


@implementer(IOpenSSLClientConnectionCreator)
class _NamedHostCreator:
    def __init__(self, creator: IOpenSSLClientConnectionCreator, host: str) -> None:
        self._creator = creator
        self._host = host

    def clientConnectionForTLS(self, tlsProtocol: Any) -> Any:
        from OpenSSL import SSL  # only with Twisted's TLS support, as the policy above

        connection = self._creator.clientConnectionForTLS(tlsProtocol)
        connection.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _name_check(tlsProtocol, self._host))
        return connection


def _name_check(tls: Any, host: str) -> Callable[..., bool]:
    """OpenSSL's verify callback: the chain as OpenSSL found it, and the
    server's own certificate naming ``host`` in its subjectAltName. A
    failure fails the handshake with its reason (the webhook's error)."""
    from service_identity.hazmat import DNS_ID, IPAddress_ID, verify_service_identity
    from service_identity.pyopenssl import extract_patterns

    protocol: list[Any] = [tls]  # let go once checked: no cycle through OpenSSL

    def verify(connection: Any, cert: Any, error: int, depth: int, ok: int) -> bool:
        if depth != 0 or not ok:
            return bool(ok)
        try:
            wanted = IPAddress_ID(host) if isIPAddress(host) or isIPv6Address(host) else DNS_ID(host)
            verify_service_identity(extract_patterns(cert), [wanted], [])
        except Exception as exc:  # an exception must not escape into OpenSSL: any doubt fails closed
            if protocol:
                protocol.pop().failVerification(Failure(exc))
            return False
        protocol.clear()
        return True

    return verify
