# Random requests for fileserver_fuzz.sh: GET, PUT, DELETE and POST with
# Uri-Paths made of '.', '..', '/', NUL, '%2e', the temporary-file prefix,
# invalid UTF-8 and the names of symlinks leading out, with Observe,
# If-Match, If-None-Match and Block options now and then.  Prints a
# tally of the response codes, and LEAK (exit 1) if any response carries
# the outside file's content.
# Usage: python3 fileserver_fuzz.py PORT COUNT SEED
import os
import random
import socket
import sys

port, count, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
pieces = [b".", b"..", b"/", b"\0", b"a", b"o", b"d", b"x", b"s", b"",
          b"%2e", b".aiocoap-upload-", b"\xff", b"outside"]


def option(delta, value):
    def nibble(v):
        if v < 13:
            return v, b""
        if v < 269:
            return 13, bytes([v - 13])
        return 14, (v - 269).to_bytes(2, "big")
    d, dext = nibble(delta)
    n, next_ = nibble(len(value))
    return bytes([d << 4 | n]) + dext + next_ + value


s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(2)
tally = {}
leaked = False
for i in range(count):
    segs = [b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 3)))
            for _ in range(rnd.randint(0, 5))]
    code = rnd.choice([1, 1, 3, 4, 2])
    opts = [(11, seg[:255]) for seg in segs]
    if rnd.random() < 0.2:
        opts.append((6, b""))
    if rnd.random() < 0.2:
        opts.append((1, bytes(rnd.randint(0, 8))))
    if rnd.random() < 0.2:
        opts.append((5, b""))
    if rnd.random() < 0.3:
        opts.append((23 if code == 1 else 27, bytes([rnd.randint(0, 255)])))
    opts.sort(key=lambda o: o[0])
    msg = bytes([0x40, code, (i >> 8) & 0xff, i & 0xff])
    last = 0
    for number, value in opts:
        msg += option(number - last, value)
        last = number
    if code == 3:
        msg += b"\xff" + os.urandom(rnd.randint(1, 64))
    s.sendto(msg, ("::1", port))
    try:
        r = s.recv(4096)
        c = "%d.%02d" % (r[1] >> 5, r[1] & 31)
        if b"secret" in r:
            leaked = True
            print("LEAK", segs)
    except socket.timeout:
        c = "timeout"
    tally[c] = tally.get(c, 0) + 1
print(" ".join("%s:%d" % kv for kv in sorted(tally.items())))
sys.exit(1 if leaked else 0)
