#!/usr/bin/env bash
# aiocoap-fileserver as a user runs it, against libcoap's coap-client-notls
# (and a few hand-made datagrams where coap-client cannot send what is
# needed): command line, GET (blockwise from a 1 MiB file, listings,
# ETags, Accept), Observe, every traversal attempt, PUT and DELETE with
# their preconditions, streamed uploads and their limits, shutdown.
# Usage: fileserver.sh PATH/TO/aiocoap-fileserver
set -u
here=$(dirname "$0")
. "$here/lib.sh"
fs=$1
command -v coap-client-notls >/dev/null ||
  { echo "FAIL coap-client-notls not installed (libcoap3-bin)"; exit 1; }
command -v python3 >/dev/null || { echo "FAIL python3 not installed"; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

root="$work/root"
mkdir -p "$root/sub" "$work/outside/dir"
echo "the secret" >"$work/outside/secret"
echo "deep secret" >"$work/outside/dir/deep"
echo hello >"$root/a.txt"
echo '{"a": 1}' >"$root/sub/b c.json"
echo odd >"$root/sub/we,ird>name"
head -c 1048576 /dev/urandom >"$root/big.bin"
ln -s "$work/outside/secret" "$root/out-file"
ln -s "$work/outside/dir" "$root/out-dir"
ln -s "$work/outside/secret" "$root/out-file2"
mkdir "$root/many"
for i in $(seq -w 1 200); do : >"$root/many/file-$i"; done
ln -s ../../outside/secret "$root/sub/rel-out"
mkfifo "$root/fifo"

cc() { coap-client-notls -B 5 "$@" 2>&1; }
# The response line of coap-client -v 7: "v:1 t:ACK c:2.05 ... [ options ]".
code_of() { coap-client-notls -B 5 -v 7 "$@" 2>&1 | grep -Eo 'c:[2-5]\.[0-9]{2}' | tail -1; }
etag_of() { coap-client-notls -B 5 -v 7 "$1" 2>&1 | grep -Eo 'ETag:0x[0-9a-f]+' | tail -1 | cut -d: -f2; }

# ---- the command line ----
out=$("$fs" --help 2>/dev/null); st=$?
expect "--help prints the usage on stdout and exits 0 ($st)" \
  '^0 usage: aiocoap-fileserver \[--bind HOST:PORT\] \[--write\]' "$st $out"
out=$("$fs" --version); st=$?
expect "--version names the program and the version, exit 0" \
  '^0 aiocoap-fileserver \(aiocoap-c\) [0-9]+\.[0-9]+\.[0-9]+$' "$st $out"
err=$("$fs" --frobnicate 2>&1 >/dev/null); st=$?
expect "an unknown flag: exit 2, named, usage on stderr" \
  '^2 .*unknown option --frobnicate.*usage: aiocoap-fileserver' "$st $(echo $err)"
err=$("$fs" --etag-length 9 2>&1 >/dev/null); st=$?
expect "--etag-length 9: exit 2 naming the value" '^2 .*--etag-length.*: 9 usage' \
  "$st $(echo $err)"
err=$("$fs" --bind 2>&1 >/dev/null); st=$?
expect "--bind without value: exit 2" '^2 .*--bind needs a value' "$st $(echo $err)"
err=$("$fs" --bind "[::1" 2>&1 >/dev/null); st=$?
expect "--bind with a malformed value: exit 2 naming it" '^2 .*--bind: not HOST:PORT: \[::1 usage' \
  "$st $(echo $err)"
err=$("$fs" a b 2>&1 >/dev/null); st=$?
expect "two PATHs: exit 2" '^2 .*only one PATH.*: b' "$st $(echo $err)"
err=$("$fs" --bind "[::1]:0" "$work/nonexistent" 2>&1 >/dev/null); st=$?
expect "a PATH that is not there: exit 1 with a message" \
  '^1 aiocoap-fileserver: cannot serve .*nonexistent' "$st $err"

# ---- a writing server on a port it picks (--bind HOST:0) ----
# umask 027: a new file must get 0640.
(umask 027; exec "$fs" --bind "[::1]:0" --write --upload-timeout 3 \
  --max-uploads 2 "$root" 2>"$work/log") &
fspid=$!
pids+=("$fspid")
for _ in $(seq 50); do grep -q 'serving' "$work/log" 2>/dev/null && break; sleep 0.1; done
port=$(grep -Eo '\]:[0-9]+$' "$work/log" | tr -d ']:')
expect "port 0: the port bound is printed" '^[1-9][0-9]*$' "$port"
B="coap://[::1]:$port"
wait_until 50 coap-client-notls -B 1 "$B/a.txt" || true

# ---- GET ----
expect "GET a file" '^hello$' "$(cc "$B/a.txt")"
expect "its Content-Format is guessed from .txt" 'Content-Format:text/plain' \
  "$(coap-client-notls -B 5 -v 7 "$B/a.txt" 2>&1)"
expect "and .json" 'Content-Format:application/json' \
  "$(coap-client-notls -B 5 -v 7 "$B/sub/b%20c.json" 2>&1)"
coap-client-notls -B 30 -b 64 "$B/big.bin" -o "$work/big64" >/dev/null 2>&1
expect "a 1 MiB file in 64-byte blocks is byte for byte the file" '^same$' \
  "$(cmp -s "$root/big.bin" "$work/big64" && echo same || echo "differs: $(wc -c <"$work/big64" 2>/dev/null) bytes")"
expect "block 3 of 64 bytes, with Size2 only on block 0" \
  'Block2:3/M/64' "$(coap-client-notls -B 5 -v 7 -b 3,64 "$B/big.bin" -o /dev/null 2>&1 | grep 'c:2.05' | head -1)"
expect "block 0 carries Size2 1048576" 'Size2:1048576' \
  "$(coap-client-notls -B 5 -v 7 -b 64 "$B/big.bin" -o /dev/null 2>&1 | grep 'c:2.05' | head -1)"
expect "the root listing, sorted, directories with ct=40" \
  '^</a.txt>,</big.bin>,</fifo>,</many/>;ct=40,</out-dir>,</out-file>,</out-file2>,</sub/>;ct=40$' "$(cc "$B/")"
expect "a subdirectory's names percent-encoded" \
  '^</sub/b%20c.json>,</sub/rel-out>,</sub/we%2Cird%3Ename>$' "$(cc "$B/sub/")"
links=$(cc -b 64 "$B/many/" | tr , '\n')
expect "a long listing, blockwise in 64-byte blocks, is whole" \
  '^200 </many/file-001> </many/file-200>$' \
  "$(echo "$links" | grep -c '^</many/file-[0-9]*>$') $(echo "$links" | head -1) $(echo "$links" | tail -1)"
# Beyond FS_MAX_LISTING_BYTES (1 MiB): 10,000 names of 100 bytes.
python3 -c '
import os, sys
for i in range(10000):
    open(os.path.join(sys.argv[1], "%05d-%s" % (i, "n" * 94)), "w").close()
' "$(mkdir "$root/huge" && echo "$root/huge")"
expect "a listing beyond 1 MiB: 5.00, not a truncated one" '^5.00 Listing too large' \
  "$(cc "$B/huge/")"
rm -rf "$root/huge"
expect "/.well-known/core points at the tree" '^</>;ct=40' \
  "$(cc "$B/.well-known/core")"
expect "a directory without trailing slash: 4.00 saying so" \
  '4.00 .*add trailing slash' "$(cc "$B/sub")"
expect "a file with trailing slash: 4.00 saying so" \
  '4.00 .*strip the trailing slash' "$(cc "$B/a.txt/")"
expect "a missing file: 4.04" '^4.04' "$(cc "$B/nope")"
expect "a path below a file: 4.04" '^4.04' "$(cc "$B/a.txt/x")"
expect "a FIFO: 4.03, at once" '^4.03' "$(timeout 5 coap-client-notls -B 3 "$B/fifo" 2>&1)"
expect "the server still answers after the FIFO" '^hello$' "$(cc "$B/a.txt")"
expect "Accept the file cannot satisfy: 4.06" '^4.06' "$(cc -A 50 "$B/a.txt")"
expect "Accept it can: served" '^hello$' "$(cc -A 0 "$B/a.txt")"
expect "a listing for Accept other than 40: 4.06" '^4.06' "$(cc -A 0 "$B/sub/")"
etag=$(etag_of "$B/a.txt")
expect "GET gives an ETag of 8 bytes" '^0x[0-9a-f]{16}$' "$etag"
expect "GET with that ETag: 2.03 Valid" '^c:2.03$' "$(code_of -O "4,$etag" "$B/a.txt")"
expect "GET with another ETag: 2.05" '^c:2.05$' "$(code_of -O 4,0x0102 "$B/a.txt")"
# An unreadable file: as root everything is readable, so a server runs as
# nobody on a directory of its own for this.
pub="$work/pub"
mkdir "$pub"; echo locked >"$pub/locked"; chmod 600 "$pub/locked"
echo open >"$pub/open"
asnobody=()
if [ "$(id -u)" -eq 0 ]; then
  chmod 711 "$work"; chmod 755 "$pub"; chown 0:0 "$pub/locked"
  asnobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
else
  chmod 000 "$pub/locked"
fi
"${asnobody[@]}" "$fs" --bind "[::1]:0" --etag-length 0 "$pub" 2>"$work/log3" &
pubpid=$!
pids+=("$pubpid")
for _ in $(seq 50); do grep -q 'serving' "$work/log3" 2>/dev/null && break; sleep 0.1; done
P="coap://[::1]:$(grep -Eo '\]:[0-9]+$' "$work/log3" | tr -d ']:')"
wait_until 50 coap-client-notls -B 1 "$P/open" || true
expect "a readable file next to it is served" '^open$' "$(cc "$P/open")"
expect "--etag-length 0: no ETag" '^none$' "$(e=$(etag_of "$P/open"); echo "${e:-none}")"
expect "an unreadable file: 4.03" '^4.03' "$(cc "$P/locked")"
kill "$pubpid"; wait "$pubpid" 2>/dev/null

# ---- traversal: every attempt refused, nothing of outside leaks ----
for t in '%2e%2e/outside/secret' 'sub/%2e%2e/%2e%2e/outside/secret' \
         '%2e/a.txt' 'sub/%2e/b%20c.json' '/a.txt' 'sub//b%20c.json' \
         '%2e%2e%2Foutside%2Fsecret' 'sub%2F..%2F..%2Foutside%2Fsecret' \
         'a.txt%00' 'a%00.txt' 'out-file' 'out-dir/deep' 'out-dir/' \
         'sub/rel-out' '.aiocoap-upload-0'; do
  r=$(cc "$B/$t")
  expect "GET /$t refused" '^4\.0[034]' "$r"
  checks=$((checks + 1))
  if printf '%s' "$r" | grep -q 'secret'; then
    echo "FAIL GET /$t leaked the outside file"; failures=$((failures + 1))
  else
    echo "ok   GET /$t leaks nothing"
  fi
done
expect "the answers name no server path" '^clean$' \
  "$(cc "$B/out-file" "$B/nope" | grep -q "$work" && echo leaked || echo clean)"
expect "PUT through a symlink to a directory outside refused" '^4\.0[034]' \
  "$(cc -m put -e pwned "$B/out-dir/deep")"
expect "DELETE through it refused" '^4\.0[034]' "$(cc -m delete "$B/out-dir/deep")"
expect "the outside stays untouched" '^deep secret$' "$(cat "$work/outside/dir/deep")"
expect "PUT to a symlink leading outside replaces the link, not its target" \
  '^c:2.04 the secret regular file$' \
  "$(code_of -m put -e replaced "$B/out-file2") $(cat "$work/outside/secret") $(stat -c %F "$root/out-file2")"
expect "PUT to ../ refused" '^4.00' "$(cc -m put -e pwned "$B/%2e%2e/pwned")"
expect "nothing written outside" '^absent$' \
  "$([ -e "$work/pwned" ] && echo present || echo absent)"

# ---- Observe ----
echo first >"$root/obs.txt"
echo other >"$root/obs2.txt"
# The observers live far longer than the checks take (they are killed
# below): under a loaded ASan run the three registrations may take
# seconds, and an observer whose -s time ran out would miss the changes.
coap-client-notls -B 60 -s 50 "$B/obs.txt" >"$work/obs1" 2>&1 &
o1=$!
coap-client-notls -B 60 -s 50 "$B/obs2.txt" >"$work/obs2" 2>&1 &
o2=$!
coap-client-notls -B 60 -s 50 "$B/sub/" >"$work/obsdir" 2>&1 &
o3=$!
wait_until 30 grep -q first "$work/obs1"
wait_until 30 grep -q other "$work/obs2"
wait_until 30 grep -q 'b%20c' "$work/obsdir"
echo second >"$root/obs.txt"
wait_until 10 grep -q second "$work/obs1"
expect "a change reaches the observer within a second" 'second' "$(cat "$work/obs1")"
echo new >"$root/sub/newfile"
wait_until 10 grep -q newfile "$work/obsdir"
expect "a new entry reaches the directory's observer within a second" \
  '</sub/newfile>' "$(cat "$work/obsdir")"
rm "$root/obs.txt"
wait_until 10 grep -q 4.04 "$work/obs1"
expect "deleting the file ends its observation with 4.04" '4.04' "$(cat "$work/obs1")"
echo changed >"$root/obs2.txt"
wait_until 10 grep -q changed "$work/obs2"
expect "another file's observer goes on" 'changed' "$(cat "$work/obs2")"
kill "$o1" "$o2" "$o3" 2>/dev/null; wait "$o1" "$o2" "$o3" 2>/dev/null
# An observer that vanished (killed, no deregistration) changes nothing.
echo again >"$root/obs2.txt"
sleep 0.3
expect "after the observers vanished, GET still serves the file" '^again$' \
  "$(cc "$B/obs2.txt")"
coap-client-notls -B 60 -s 50 "$B/obs2.txt" >"$work/obs4" 2>&1 &
o4=$!
wait_until 30 grep -q again "$work/obs4"
echo "once more" >"$root/obs2.txt"
wait_until 10 grep -q "once more" "$work/obs4"
expect "and a new observer is notified as before" 'once more' "$(cat "$work/obs4")"
kill "$o4" 2>/dev/null; wait "$o4" 2>/dev/null

# ---- PUT and DELETE ----
expect_empty "PUT a new file" "$(cc -m put -e 'new body' "$B/sub/put.txt")"
expect "it reads back" '^new body$' "$(cat "$root/sub/put.txt")"
expect "a new file gets the umask's mode (027: 640)" '^640$' \
  "$(stat -c %a "$root/sub/put.txt")"
chmod 604 "$root/sub/put.txt"
cc -m put -e 'second body' "$B/sub/put.txt" >/dev/null
expect "a PUT keeps an existing file's mode" '^604 second body$' \
  "$(stat -c %a "$root/sub/put.txt") $(cat "$root/sub/put.txt")"
echo prog >"$root/sub/prog"; chmod 4755 "$root/sub/prog"
cc -m put -e 'from the network' "$B/sub/prog" >/dev/null
expect "but never set-user-ID: 4755 becomes 755" '^755$' "$(stat -c %a "$root/sub/prog")"
rm -f "$root/sub/prog"
expect "PUT answers 2.04 for an existing file, with an ETag" 'c:2.04 .*ETag:0x' \
  "$(coap-client-notls -B 5 -v 7 -m put -e third "$B/sub/put.txt" 2>&1 | grep 'c:2')"
etag=$(etag_of "$B/sub/put.txt")
expect "If-Match with a wrong ETag: 4.12" '^c:4.12$' \
  "$(code_of -m put -O 1,0x0102030405060708 -e wrong "$B/sub/put.txt")"
expect "the file is unchanged" '^third$' "$(cat "$root/sub/put.txt")"
expect "If-Match with a list holding the ETag: 2.04" '^c:2.04$' \
  "$(code_of -m put -O 1,0x0102 -O "1,$etag" -e fourth "$B/sub/put.txt")"
expect "written" '^fourth$' "$(cat "$root/sub/put.txt")"
expect "If-Match with the old ETag now: 4.12" '^c:4.12$' \
  "$(code_of -m put -O "1,$etag" -e fifth "$B/sub/put.txt")"
# The check and the rename happen under an flock on the current file: a
# program (or another server) holding it makes the PUT wait its turn.
flock -x "$root/sub/put.txt" sleep 2 &
lockpid=$!
sleep 0.3
expect "PUT while another holds the file's lock: 5.03, nothing changed" \
  '^c:5.03 fourth$' \
  "$(code_of -m put -e locked "$B/sub/put.txt") $(cat "$root/sub/put.txt")"
wait "$lockpid"
expect "If-Match on an absent file: 4.12" '^c:4.12$' \
  "$(code_of -m put -O 1,0x0102 -e x "$B/sub/absent.txt")"
expect "and nothing was created" '^absent$' \
  "$([ -e "$root/sub/absent.txt" ] && echo present || echo absent)"
expect "If-None-Match on an existing file: 4.12" '^c:4.12$' \
  "$(code_of -m put -O 5 -e x "$B/sub/put.txt")"
expect "If-None-Match on an absent one: 2.01 Created" '^c:2.01$' \
  "$(code_of -m put -O 5 -e created "$B/sub/inm.txt")"
expect "PUT to a directory path: 4.00" '^4.00' "$(cc -m put -e x "$B/sub/")"
expect "PUT to a directory's name: 4.00" '^4.00' "$(cc -m put -e x "$B/sub")"
expect "PUT below a missing directory: 4.04" '^4.04' "$(cc -m put -e x "$B/nodir/x")"
expect "DELETE with a wrong If-Match: 4.12" '^c:4.12$' \
  "$(code_of -m delete -O 1,0x0102 "$B/sub/inm.txt")"
expect "the file is still there" '^created$' "$(cat "$root/sub/inm.txt")"
etag=$(etag_of "$B/sub/inm.txt")
expect "DELETE with the right If-Match: 2.02" '^c:2.02$' \
  "$(code_of -m delete -O "1,$etag" "$B/sub/inm.txt")"
expect "gone" '^absent$' "$([ -e "$root/sub/inm.txt" ] && echo present || echo absent)"
expect "DELETE of a missing file: 4.04" '^4.04' "$(cc -m delete "$B/sub/inm.txt")"
expect "DELETE of a directory: 4.00" '^4.00' "$(cc -m delete "$B/sub/")"
expect "POST: 4.05" '^4.05' "$(cc -m post -e x "$B/a.txt")"

# ---- streamed uploads ----
head -c 10485760 /dev/urandom >"$work/up10"
expect_empty "PUT 10 MiB in 1024-byte blocks" \
  "$(coap-client-notls -B 60 -m put -b 1024 -f "$work/up10" "$B/up10.bin" 2>&1)"
coap-client-notls -B 60 -b 1024 "$B/up10.bin" -o "$work/back10" >/dev/null 2>&1
expect "read back, it is the upload byte for byte" '^same same$' \
  "$(cmp -s "$work/up10" "$root/up10.bin" && echo same) $(cmp -s "$work/up10" "$work/back10" && echo same)"
expect "no temporary file is left" '^0$' \
  "$(ls -a "$root" | grep -c '^\.aiocoap-upload-')"
# Blocks sent by hand where coap-client cannot (it always sends whole
# bodies).  Each argument is PATH:BLOCK1[:TAG]: one block of 1024 bytes
# (the TAG letter repeated, or "u"), Block1 as one hex byte, and a
# Request-Tag TAG when given.  Each request comes from a socket of its
# own, or with -s all from one (one endpoint); one python for all, so
# that they come well within the upload timeout.  Prints the codes.
raw_put() {
  python3 - "$port" "$@" <<'PY'
import os, socket, sys
port, args = int(sys.argv[1]), sys.argv[2:]
same = args[:1] == ["-s"]
args = args[1:] if same else args
def sock():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(3)
    return s
shared = sock()
codes = []
for i, spec in enumerate(args):
    parts = spec.split(":")
    path, b1 = parts[0].encode(), int(parts[1], 16)
    tag = parts[2].encode() if len(parts) > 2 else None
    assert len(path) < 13
    mid = (os.getpid() + i) & 0xffff
    msg = bytes([0x40, 3, mid >> 8, mid & 0xff])
    msg += bytes([0xb0 | len(path)]) + path          # Uri-Path (11)
    msg += bytes([0xd1, 27 - 11 - 13, b1])           # Block1 (27)
    if tag is not None:                              # Request-Tag (292)
        msg += bytes([0xd0 | len(tag), 292 - 27 - 13]) + tag
    msg += b"\xff" + (tag or b"u")[:1] * 1024
    s = shared if same else sock()
    s.sendto(msg, ("::1", port))
    r = s.recv(2048)
    codes.append("%d.%02d" % (r[1] >> 5, r[1] & 31))
print(" ".join(codes))
PY
}
expect "block 0 of two longer bodies: 2.31 each; a third beyond --max-uploads 2: 5.03" \
  '^2.31 2.31 5.03$' "$(raw_put part1:0e part2:0e part3:0e)"
expect "their temporary files exist, hidden from the listing" '^2 hidden$' \
  "$(ls -a "$root" | grep -c '^\.aiocoap-upload-') $(cc "$B/" | grep -q aiocoap-upload && echo shown || echo hidden)"
expect "a later block of no upload: 4.08" '^4.08$' "$(raw_put part4:1e)"
expect "a block shorter than its size while more follow: 4.00" '^4.00$' \
  "$(raw_put part5:0d)"
sleep 5
expect "abandoned uploads are removed after --upload-timeout" '^0$' \
  "$(ls -a "$root" | grep -c '^\.aiocoap-upload-')"
expect "and their files never appeared" '^absent$' \
  "$([ -e "$root/part1" ] || [ -e "$root/part2" ] && echo present || echo absent)"
expect "a gap (block 2 after block 0): 4.08, and the upload is dropped" \
  '^2.31 4.08 0$' "$(raw_put -s gap:0e gap:2e) $(ls -a "$root" | grep -c '^\.aiocoap-upload-')"
# RFC 7959 §2.5: two bodies to one path from one endpoint, told apart by
# their Request-Tags; block 1 (0x16: last, 1024 bytes) of each ends it.
expect "two uploads to one path with different Request-Tags" \
  '^2.31 2.31 2.01 2.04$' "$(raw_put -s tag:0e:a tag:0e:b tag:16:a tag:16:b)"
expect "each got its own blocks: the last one to finish wins, whole" \
  '^2048 b$' "$(wc -c <"$root/tag") $(tr -d b <"$root/tag" | wc -c | sed 's/^0$/b/')"
expect "a block beyond the end of a file: 4.02" '^4.02' \
  "$(cc -b 100,64 "$B/a.txt")"
expect "GET with If-Match that does not hold: 4.12" '^c:4.12$' \
  "$(code_of -O 1,0x0102 "$B/a.txt")"
expect "GET with If-None-Match on a file that exists: 4.12" '^c:4.12$' \
  "$(code_of -O 5 "$B/a.txt")"

# FS_MAX_UPLOADS_PER_PEER (4): a fifth upload from one endpoint waits,
# even with --max-uploads to spare; shutdown removes the open ones.
mkdir "$work/w2"
"$fs" --bind "[::1]:0" --write --max-uploads 8 "$work/w2" 2>"$work/log4" &
w2pid=$!
pids+=("$w2pid")
for _ in $(seq 50); do grep -q 'serving' "$work/log4" 2>/dev/null && break; sleep 0.1; done
mainport=$port
port=$(grep -Eo '\]:[0-9]+$' "$work/log4" | tr -d ']:')
wait_until 50 coap-client-notls -B 1 "coap://[::1]:$port/" || true
expect "four uploads from one endpoint: 2.31; a fifth: 5.03; another endpoint: 2.31" \
  '^2.31 2.31 2.31 2.31 5.03 2.31$' \
  "$(raw_put -s p1:0e p2:0e p3:0e p4:0e p5:0e) $(raw_put p6:0e)"
kill -TERM "$w2pid"; wait "$w2pid"; st=$?
expect "SIGTERM with uploads open: exit 0, their temporary files removed" '^0 0$' \
  "$st $(ls -a "$work/w2" | grep -c '^\.aiocoap-upload-')"
port=$mainport

# ---- the walk without openat2, a read-only server, a port in use ----
AIOCOAP_FILESERVER_NO_OPENAT2=1 "$fs" --bind "[::1]:0" --etag-length 3 "$root" 2>"$work/log2" &
ropid=$!
pids+=("$ropid")
for _ in $(seq 50); do grep -q 'serving' "$work/log2" 2>/dev/null && break; sleep 0.1; done
rport=$(grep -Eo '\]:[0-9]+$' "$work/log2" | tr -d ']:')
R="coap://[::1]:$rport"
wait_until 50 coap-client-notls -B 1 "$R/a.txt" || true
expect "read-only (walk): GET works" '^hello$' "$(cc "$R/a.txt")"
expect "--etag-length 3: ETags of 3 bytes" '^0x[0-9a-f]{6}$' "$(etag_of "$R/a.txt")"
expect "read-only (walk): a 1 MiB file intact" '^same$' \
  "$(coap-client-notls -B 30 "$R/big.bin" -o "$work/bigw" >/dev/null 2>&1; cmp -s "$root/big.bin" "$work/bigw" && echo same)"
for t in out-file out-dir/deep out-dir/ sub/rel-out '%2e%2e/outside/secret'; do
  expect "read-only (walk): GET /$t refused" '^4\.0[034]' "$(cc "$R/$t")"
done
expect "read-only: PUT 4.03" '^4.03' "$(cc -m put -e x "$R/a.txt")"
expect "read-only: DELETE 4.03" '^4.03' "$(cc -m delete "$R/a.txt")"
expect "and the file is unchanged" '^hello$' "$(cat "$root/a.txt")"
err=$("$fs" --bind "[::1]:$rport" "$root" 2>&1); st=$?
expect "a second server on a port in use: exit 1 with a message" \
  '^1 aiocoap-fileserver: cannot serve on \[::1\]:[0-9]+: .*in use' "$st $err"

# ---- shutdown ----
kill -INT "$ropid"; wait "$ropid"; st=$?
expect "SIGINT: exit 0" '^0$' "$st"
kill -TERM "$fspid"; wait "$fspid"; st=$?
expect "SIGTERM: exit 0" '^0$' "$st"
expect "and nothing but the start line on stderr" '^1$' "$(wc -l <"$work/log")"
finish
