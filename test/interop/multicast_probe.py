#!/usr/bin/env python3
"""Sends one CoAP datagram to a group and prints what comes back.

Usage: multicast_probe.py GROUP PORT IFACE TYPE PATH [OPTION_HEX] [WAIT_S] [timed]
  TYPE  NON or CON
  PATH  Uri-Path segments joined by '/' (empty for none)
Prints one line per datagram received within WAIT_S seconds (default 1.5):
  FROM-ADDRESS TYPE CODE PAYLOAD...
(with "timed", each line starts with the milliseconds since the send)
and "none" when nothing came.  A test helper, not a CoAP implementation:
it encodes only the header, Uri-Path and one raw option.
"""
import socket
import sys
import time

group, port, iface, mtype, path = sys.argv[1:6]
extra = bytes.fromhex(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] else b""
wait = float(sys.argv[7]) if len(sys.argv) > 7 and sys.argv[7] else 1.5
timed = len(sys.argv) > 8 and sys.argv[8] == "timed"
t = {"CON": 0, "NON": 1}[mtype]
msg = bytearray([0x40 | t << 4 | 2, 0x01, 0x12, 0x34, 0xAB, 0xCD])
last = 0
for seg in [s for s in path.split("/") if s]:
    b = seg.encode()
    delta = 11 - last
    msg.append(delta << 4 | len(b) if len(b) < 13 else delta << 4 | 13)
    if len(b) >= 13:
        msg.append(len(b) - 13)
    msg += b
    last = 11
msg += extra
v4 = ":" not in group
if v4:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 25, iface.encode())  # SO_BINDTODEVICE
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    dest = (group, int(port))
else:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    idx = socket.if_nametoindex(iface)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
    dest = (group, int(port), 0, idx)
sent_at = time.time()
s.sendto(bytes(msg), dest)
s.settimeout(0.1)
deadline = time.time() + wait
got = 0
while time.time() < deadline:
    try:
        data, src = s.recvfrom(2048)
    except socket.timeout:
        continue
    got += 1
    types = ["CON", "NON", "ACK", "RST"]
    code = "%d.%02d" % (data[1] >> 5, data[1] & 31) if len(data) > 1 else "?"
    payload = data.split(b"\xff", 1)[1] if b"\xff" in data[4:] else b""
    if timed:
        print(int((time.time() - sent_at) * 1000), end=" ")
    print(src[0], types[(data[0] >> 4) & 3], code,
          payload.decode("utf-8", "replace")[:200])
if got == 0:
    print("none")
