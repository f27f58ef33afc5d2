#!/usr/bin/env python3
"""A tiny CoAP peer for aiocoap-client's tests (RFC 7252 §3 framing only).

Usage: coap_peer.py PORT LOG MODE [ARGS]
  respond CF HEX     answer every request 2.05 with Content-Format CF and
                     the payload HEX (piggybacked)
  observe            answer GET with Observe 0 with Observe and notify every
                     0.2 s (NON) until the client deregisters (Observe 1) or
                     resets
  observe-end K      as observe, but end after K notifications with a 2.05
                     without Observe
  plain              answer 2.05 "plain" without Observe, whatever is asked
  rst                answer every CON with RST
  created            answer 2.01 with Location-Path a/b and Location-Query x=1
Every datagram received is logged to LOG, one line each:
  type=T code=C.DD token=HEX observe=N|- proxy-uri=URI|- uri-path=a/b
  uri-host=H|- payload=LEN body=HEX (the first 64 bytes)|-
"""
import select
import socket
import sys
import time


def parse(d):
    t = (d[0] >> 4) & 3
    tkl = d[0] & 15
    code, mid = d[1], int.from_bytes(d[2:4], "big")
    tok, i, num, opts = d[4:4 + tkl], 4 + tkl, 0, []
    while i < len(d) and d[i] != 0xFF:
        delta, length = d[i] >> 4, d[i] & 15
        i += 1
        vals = []
        for v in (delta, length):
            if v == 13:
                v, i = d[i] + 13, i + 1
            elif v == 14:
                v, i = int.from_bytes(d[i:i + 2], "big") + 269, i + 2
            vals.append(v)
        num += vals[0]
        opts.append((num, d[i:i + vals[1]]))
        i += vals[1]
    payload = d[i + 1:] if i < len(d) else b""
    return t, code, mid, tok, opts, payload


def opt_bytes(opts):
    out, last = b"", 0
    for num, val in sorted(opts, key=lambda o: o[0]):
        delta, length = num - last, len(val)
        last = num
        hdr, ext = 0, b""
        for shift, v in ((4, delta), (0, length)):
            if v < 13:
                hdr |= v << shift
            elif v < 269:
                hdr |= 13 << shift
                ext += bytes([v - 13])
            else:
                hdr |= 14 << shift
                ext += (v - 269).to_bytes(2, "big")
        out += bytes([hdr]) + ext + val
    return out


def uint(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""


def msg(t, code, mid, tok, opts, payload=b""):
    d = bytes([0x40 | t << 4 | len(tok), code]) + mid.to_bytes(2, "big") + tok
    d += opt_bytes(opts)
    return d + (b"\xff" + payload if payload else b"")


def main():
    port, log, mode = int(sys.argv[1]), open(sys.argv[2], "a", buffering=1), sys.argv[3]
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    # Dual-stack on loopback and everything: "localhost" may be 127.0.0.1.
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    log.write("ready\n")
    observer, seq, mid, next_at, left = None, 2, 0x1000, 0.0, None
    if mode == "observe-end":
        left = int(sys.argv[4])
    while True:
        wait = max(0.0, next_at - time.time()) if observer else None
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            addr, tok = observer
            mid += 1
            if left is not None and left == 0:
                s.sendto(msg(1, 0x45, mid, tok, [(12, b"")], b"over"), addr)
                observer = None
                continue
            s.sendto(msg(1, 0x45, mid, tok, [(6, uint(seq)), (12, b"")],
                         b"n%d" % (seq - 1)), addr)
            seq += 1
            if left is not None:
                left -= 1
            next_at = time.time() + 0.2
            continue
        d, addr = s.recvfrom(65536)
        try:
            t, code, rmid, tok, opts, payload = parse(d)
        except (IndexError, ValueError):
            continue
        o = dict()
        for num, val in opts:
            o.setdefault(num, []).append(val)
        obs = int.from_bytes(o[6][0], "big") if 6 in o else None
        log.write("type=%d code=%d.%02d token=%s observe=%s proxy-uri=%s "
                  "uri-path=%s uri-host=%s payload=%d body=%s\n" % (
                      t, code >> 5, code & 31, tok.hex(),
                      "-" if obs is None else obs,
                      o[35][0].decode() if 35 in o else "-",
                      "/".join(v.decode() for v in o.get(11, [])),
                      o[3][0].decode() if 3 in o else "-",
                      len(payload), payload[:64].hex() or "-"))
        if t == 3:  # RST: the client forgets the observation
            observer = None
            continue
        if t == 2 or code == 0:
            continue
        rt = 2 if t == 0 else 1
        rmid_out = rmid if t == 0 else (mid := mid + 1)
        if mode == "rst":
            s.sendto(msg(3, 0, rmid, b"", []), addr)
        elif mode == "created":
            s.sendto(msg(rt, 0x41, rmid_out, tok,
                         [(8, b"a"), (8, b"b"), (20, b"x=1")]), addr)
        elif mode == "respond":
            cf, hexdata = int(sys.argv[4]), bytes.fromhex(sys.argv[5])
            s.sendto(msg(rt, 0x45, rmid_out, tok, [(12, uint(cf))], hexdata), addr)
        elif mode in ("observe", "observe-end") and obs == 0:
            observer, next_at = (addr, tok), time.time() + 0.2
            s.sendto(msg(rt, 0x45, rmid_out, tok, [(6, uint(1)), (12, b"")], b"n0"), addr)
        elif obs == 1 and observer and observer[1] == tok:
            observer = None
            s.sendto(msg(rt, 0x45, rmid_out, tok, [(12, b"")], b"bye"), addr)
        else:
            s.sendto(msg(rt, 0x45, rmid_out, tok, [(12, b"")], b"plain"), addr)


if __name__ == "__main__":
    main()
