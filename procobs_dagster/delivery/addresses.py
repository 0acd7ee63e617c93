"""Where a webhook may not point: link-local and cloud-metadata addresses.

The relay POSTs signed events to whatever URL a sink names and keeps the start of each
answer it gets back (``last_error``, shown by ``procobs relay dead``). Pointed at a cloud
metadata service (169.254.169.254 and its kin), a sink would make the relay a way into the
machine's credentials. Such destinations are refused unless the sink says
``allow_link_local: true``.

They are checked twice:

* when a sink is configured: the URL's host, whether a well-known metadata name or an
  address in any spelling the resolver accepts (``169.254.169.254``, ``2852039166``,
  ``0xA9FEA9FE``, ``0251.0376.0251.0376``, ``169.254.43518``, ``[::ffff:169.254.169.254]``,
  ``[fe80::1%eth0]``);
* when a delivery connects: the address the connection actually reached, after DNS.
  A name that resolves to such an address — when configured, or later, by a DNS change —
  is caught before a byte of the request is sent. The check is on the connected socket,
  so there is no window between a lookup and the connection.

Loopback and private addresses are allowed: receivers on the same host or network are
ordinary deployments.
"""

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Where cloud metadata services answer. 169.254.0.0/16 and fe80::/10 are link-local
# as a whole: AWS, Azure, GCP, OpenStack, DigitalOcean and Oracle serve metadata there.
REFUSED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata (classic)
    )
)
# Names the clouds' resolvers answer with a metadata address.
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64).
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

ALLOW_OPTION = "allow_link_local"


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_refused_address(address: IPAddress) -> bool:
    """Is ``address`` link-local or a cloud metadata service (also inside IPv6)?"""
    plain = _embedded_ipv4(address)
    return any(plain in network for network in REFUSED_NETWORKS if plain.version == network.version)


def _address_of(host: str) -> IPAddress | None:
    """The address a host names literally, in any spelling getaddrinfo accepts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton reads what resolvers read: one number, hex, octal, fewer than 4 parts.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def refused_host(host: str) -> str | None:
    """Why a URL's host may not receive webhooks (None when it may)."""
    name = host.lower().rstrip(".")
    if name in METADATA_NAMES:
        return f"{name} is a cloud metadata service"
    address = _address_of(name)
    if address is None:
        return None
    if is_refused_address(address):
        return f"{address} is a link-local or cloud metadata address"
    if isinstance(address, ipaddress.IPv4Address) and name != str(address):
        # 2852039166 or 0xA9FEA9FE hide what they are from whoever reads the config.
        return f"{host!r} spells an IPv4 address unusually: write it as {address}"
    return None


def refused_peer(server_addr: tuple | None) -> str | None:
    """Why the address a connection reached may not receive webhooks (None when it may)."""
    if not server_addr:
        return None
    try:
        address = ipaddress.ip_address(str(server_addr[0]).partition("%")[0])
    except ValueError:
        return None
    if is_refused_address(address):
        return f"the host resolved to {address}, a link-local or cloud metadata address"
    return None
