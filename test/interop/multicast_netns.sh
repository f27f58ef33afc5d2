# Sourced by multicast_bridge.sh and cli/bench-multicast.sh, already in a
# network namespace of their own (the hub): a bridge br0 in the hub, and
# server namespaces nested in it, each held open by a sleeping process
# (unshare -n sleep) and reached with nsenter, on a veth s<I> into br0.
# Works as root and in an unprivileged user namespace alike (the nested
# namespaces belong to the same user namespace, where we are root).
#
# Addresses: the hub 10.7.0.1/16 and fd00:7::1/64 on br0; server I
# 10.7.<I/100>.<10 + I%100> and fd00:7::<I>:1, and its link-local one.
# Duplicate address detection is off: every address is ours, and waiting
# for DAD would take seconds per namespace.

netns_holders=() # index I: the pid holding server I's namespace
netns_pids=()    # index I: the program netns_run started in it
netns_hub_ns=$(readlink /proc/self/ns/net)

# The bridge, with multicast snooping off so that br0 floods every group
# (nobody answers IGMP/MLD queries here), and a route for IPv4 groups.
# Returns 77 when the kernel has no bridges to give (a container without
# the bridge module), 1 on any other failure.
netns_hub() {
  local why
  sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 2>/dev/null
  ip link set lo up
  if ! why=$(ip link add br0 type bridge mcast_snooping 0 2>&1); then
    echo "SKIP cannot make a bridge here: $why"
    return 77
  fi
  ip addr add 10.7.0.1/16 dev br0 &&
    ip addr add fd00:7::1/64 dev br0 nodad &&
    ip link set br0 up &&
    ip route add 224.0.0.0/4 dev br0 || {
    echo "FAIL cannot set up the bridge br0"
    return 1
  }
}

# netns_server I: server I's namespace and its link into br0.
netns_server() {
  local i=$1 pid ok=""
  unshare -n sleep 100000 &
  pid=$!
  netns_holders[$i]=$pid
  for _ in $(seq 100); do
    # Until unshare has made the namespace, the process is still in ours.
    if [ -e "/proc/$pid/ns/net" ] && [ "$(readlink "/proc/$pid/ns/net")" != "$netns_hub_ns" ]; then
      ok=1
      break
    fi
    sleep 0.02
  done
  [ -n "$ok" ] || { echo "FAIL namespace $i was not made"; return 1; }
  ip link add "v$i" type veth peer name "s$i" &&
    ip link set "s$i" netns "$pid" &&
    ip link set "v$i" master br0 &&
    ip link set "v$i" up &&
    nsenter -t "$pid" -n sh -c "
      sysctl -qw net.ipv6.conf.s$i.accept_dad=0 2>/dev/null
      ip link set lo up &&
      ip addr add 10.7.$((i / 100)).$((10 + i % 100))/16 dev s$i &&
      ip addr add fd00:7::$i:1/64 dev s$i nodad &&
      ip link set s$i up" || {
    echo "FAIL cannot link namespace $i into br0"
    return 1
  }
}

# Waits until no address anywhere is tentative (DAD off: at once, but a
# kernel that ignores the sysctl still gets its seconds).
netns_settle() {
  local i
  wait_until 50 sh -c '! ip -6 addr show | grep -q tentative'
  for i in "${!netns_holders[@]}"; do
    wait_until 50 sh -c "! nsenter -t ${netns_holders[$i]} -n ip -6 addr show | grep -q tentative"
    wait_until 50 sh -c "nsenter -t ${netns_holders[$i]} -n ip -6 addr show dev s$i scope link | grep -q fe80"
  done
}

# netns_exec I CMD...: CMD in server I's namespace, in the foreground.
netns_exec() {
  local i=$1
  shift
  nsenter -t "${netns_holders[$i]}" -n "$@"
}

# netns_run I CMD...: CMD in server I's namespace, in the background; its
# pid (nsenter execs it: no fork without --fork) in netns_pids[I].
netns_run() {
  local i=$1
  shift
  nsenter -t "${netns_holders[$i]}" -n "$@" &
  netns_pids[$i]=$!
}

netns_cleanup() {
  local p
  for p in "${netns_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${netns_pids[@]}"; do wait "$p" 2>/dev/null; done
  for p in "${netns_holders[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  netns_pids=()
  netns_holders=()
}
