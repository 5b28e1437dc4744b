"""Tell the neighbours an address now lives at this link's MAC.

Adding an address sends nothing by itself (ip-sysctl: arp_notify and
ndisc_notify cover link up and MAC changes only), so a neighbour that had
a moved address cached at the old NIC's MAC keeps sending there. After a
move we send what arping -U and ndsend do:

* IPv4: a gratuitous ARP request (sender = target = the address) to the
  broadcast MAC. Linux neighbours take it even within their locktime.
* IPv6: an unsolicited neighbour advertisement (RFC 4861 7.2.6: Override
  set, Solicited clear, target link-layer address option) from the
  address to ff02::1, hop limit 255.

Sockets are made in the calling process's network namespace.
"""

import fcntl
import ipaddress
import socket
import struct

SIOCGIFHWADDR = 0x8927
ETH_P_ARP = 0x0806
BROADCAST = b"\xff" * 6
NA_OVERRIDE = 0x20000000
ND_OPT_TARGET_LLADDR = 2


def mac_of(iface):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        info = fcntl.ioctl(s.fileno(), SIOCGIFHWADDR, struct.pack("256s", iface.encode()[:15]))
    return info[18:24]


def garp_frame(mac, address):
    ip = ipaddress.IPv4Address(address).packed
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, ip, b"\0" * 6, ip)
    return BROADCAST + mac + struct.pack("!H", ETH_P_ARP) + arp


def na_message(mac, address):
    target = ipaddress.IPv6Address(address).packed
    option = struct.pack("!BB6s", ND_OPT_TARGET_LLADDR, 1, mac)
    # type 136, code 0, checksum 0 (the kernel fills it in for ICMPv6)
    return struct.pack("!BBHI16s", 136, 0, 0, NA_OVERRIDE, target) + option


_packet = []


def _packet_socket():
    """One send-only packet socket (protocol 0: it receives nothing) for
    the process's life: closing one waits for an RCU grace period in the
    kernel, 15-20 ms that a move would otherwise pay each time."""
    if not _packet:
        _packet.append(socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
    return _packet[0]


def send(iface, family, address):
    """One announcement of ``address`` on ``iface``."""
    mac = mac_of(iface)
    if family == 4:
        _packet_socket().sendto(garp_frame(mac, address), (iface, ETH_P_ARP))
        return
    index = socket.if_nametoindex(iface)
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as s:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        s.bind((address, 0, 0, index))
        s.sendto(na_message(mac, address), ("ff02::1", 0, 0, index))
