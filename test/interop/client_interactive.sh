#!/usr/bin/env bash
# aiocoap-client --interactive fed from a pipe: one request per line, help,
# exit; requests run side by side; Ctrl-C stops what runs (deregistering
# observations) but not the prompt; the end of input ends it once what
# runs is over.
# Usage: client_interactive.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
dir=$(mktemp -d)
peer_pid=
spid=
trap '[ -n "$peer_pid" ] && kill $peer_pid 2>/dev/null; [ -n "$spid" ] && kill $spid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
port=$(free_udp_port)
"$server" --bind "[::1]:$port" 2>/dev/null &
spid=$!
base="coap://[::1]:$port"
wait_until 50 "$client" "$base/time" || true

out=$(printf '%s\n' "$base/time" "" "-m GET '$base/missing'" "help" "exit" "$base/never" \
  | timeout 20 "$client" --interactive 2>"$dir/err"); rc=$?
expect "--interactive from a pipe exits 0" '^0$' "$rc"
expect "a line's request is answered" '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{5}' "$out"
expect "help shows the options of a line" '--observe-exec' "$out"
expect "a failing line reports its code" '4\.04 Not Found' "$(cat "$dir/err")"
expect "and its exit code, as aiocoap's prompt does" 'Exit code: 1' "$(cat "$dir/err")"
expect "nothing after exit runs" '^1$' "$(grep -c 'Exit code' "$dir/err")"

out=$(printf '%s\n' "--frobnicate $base/time" "'unclosed" "$base/time" \
  | timeout 20 "$client" --interactive 2>"$dir/err"); rc=$?
expect "a bad line is reported, the prompt goes on" '^0 .*[0-9]{4}-' "$rc $out"
expect "the bad line names its flag" 'frobnicate' "$(cat "$dir/err")"
expect "an unclosed quote is reported" 'closing quotation' "$(cat "$dir/err")"
expect "end of input waits for the running request" '^0$' "$rc"

# Side by side: an observation runs while a later line is answered, and
# the end of input waits for it.
pport=$(free_udp_port)
start_peer "$pport" "$dir/peer.log" observe || exit 1
out=$(printf '%s\n' "--observe --observe-count 4 coap://[::1]:$pport/obs" "$base/time" \
  | timeout 20 "$client" --interactive 2>"$dir/err"); rc=$?
expect "observation and request side by side" '^0 (n0 )?[0-9]{4}-[0-9-]+ [0-9:]+ (n0 )?--- n[0-9]+ --- n[0-9]+ --- n[0-9]+ $' \
  "$rc $(printf '%s\n' "$out" | tr '\n' ' ')"

# Ctrl-C stops the observation (a deregistration) and the prompt goes on.
mkfifo "$dir/in"
: >"$dir/peer.log"
"$client" --interactive <"$dir/in" >"$dir/out" 2>"$dir/err" &
cpid=$!
exec 3>"$dir/in"
echo "--observe coap://[::1]:$pport/obs" >&3
for _ in $(seq 100); do grep -q '^---$' "$dir/out" && break; sleep 0.05; done
kill -INT "$cpid"
sleep 0.3
expect "Ctrl-C deregisters the observation" 'observe=1 ' "$(cat "$dir/peer.log")"
expect "and the prompt is still there" '^alive$' "$(kill -0 "$cpid" 2>/dev/null && echo alive)"
echo "$base/time" >&3
echo "exit" >&3
exec 3>&-
wait "$cpid"; rc=$?
expect "after Ctrl-C the next line runs, then exit (status $rc)" '^0 .*[0-9]{4}-[0-9]{2}' \
  "$rc $(tail -1 "$dir/out")"
finish
