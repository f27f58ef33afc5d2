#!/usr/bin/env bash
# How a group of N servers (default 50) answers one multicast discovery
# (issue 14): N multicast-node servers, each in a network namespace of its
# own on one bridge (test/interop/multicast_netns.sh), and aiocoap-client
# in the hub sending GET /.well-known/core to ff02::fd%br0 once.  For the
# servers' leisure at its default (5 s, RFC 7252 §8.2) and at 0 it prints
# how many servers answered, how many distinct ones, and when, counted
# from the client's start: the first answer, the median, the last (the
# client then has them all) and when the client ended (its
# --multicast-timeout: leisure + 2 s).  Each answer is timestamped as the
# client writes its "Response arrived from ..." line to stderr.  A
# benchmark, not a test: root or unprivileged user namespaces needed.
# Usage: cli/bench-multicast.sh [BUILD_DIR] [N]
set -u
build=${1:-build}
count=${2:-50}
case $build in /*) ;; *) build=$PWD/$build ;; esac
here=$(cd "$(dirname "$0")" && pwd)
lib=$here/../test/interop
. "$lib/lib.sh"
enter_netns "$0" "$build" "$count"
. "$lib/multicast_netns.sh"
node=$build/test/multicast-node
client=$build/cli/aiocoap-client
[ -x "$node" ] && [ -x "$client" ] || {
  echo "bench-multicast: build $node and $client first" >&2
  exit 1
}
dir=$(mktemp -d)
trap 'netns_cleanup; rm -rf "$dir"' EXIT
netns_hub || exit $?
for i in $(seq "$count"); do netns_server "$i" || exit 1; done
netns_settle

# start_nodes [LEISURE]: one node per namespace, waited for; without
# LEISURE the library's default (DEFAULT_LEISURE, 5 s).
start_nodes() {
  local i
  for i in $(seq "$count"); do
    netns_run "$i" "$node" --name "n$i" ${1:+--leisure "$1"} 2>"$dir/node$i.log"
  done
  for i in $(seq "$count"); do
    wait_until 100 grep -q serving "$dir/node$i.log" ||
      { echo "bench-multicast: node $i did not start" >&2; exit 1; }
  done
}
stop_nodes() {
  local p
  for p in "${netns_pids[@]}"; do kill -TERM "$p"; done
  for p in "${netns_pids[@]}"; do wait "$p"; done
  netns_pids=()
}
# discover LEISURE: one discovery; prints the figures.
discover() {
  local leisure=$1 timeout start end
  timeout=$(awk -v l="$leisure" 'BEGIN {print l + 2}')
  start=$EPOCHREALTIME
  "$client" 'coap://[ff02::fd%br0]/.well-known/core' \
    --multicast-timeout "$timeout" 2> >(
      while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done \
        >"$dir/stamps") >"$dir/out"
  local rc=$?
  end=$EPOCHREALTIME
  sleep 0.2 # the timestamping reader drains
  awk -v start="$start" -v end="$end" -v n="$count" -v leisure="$leisure" \
    -v rc="$rc" '
    /Response arrived from different address/ {
      t[++k] = ($1 - start) * 1000
      src[$NF] = 1
    }
    END {
      d = 0; for (s in src) d++
      if (k == 0) { printf "leisure %ss: 0/%d answered\n", leisure, n; exit }
      printf "leisure %ss: %d/%d answered (%d distinct servers), first %.0f ms, " \
             "median %.0f ms, all by %.0f ms; client ended at %.0f ms, exit %d\n",
             leisure, k, n, d, t[1], t[int((k + 1) / 2)], t[k],
             (end - start) * 1000, rc
    }' "$dir/stamps"
}

echo "bench-multicast: $count servers, one discovery each run"
start_nodes
discover 5
stop_nodes
start_nodes 0
discover 0
stop_nodes
