#!/usr/bin/env bash
# aiocoap-proxy's command line: help, version, and usage errors (exit 2,
# a message on stderr naming the problem).
# Usage: proxy_usage.sh PATH/TO/aiocoap-proxy
set -u
here=$(dirname "$0")
. "$here/lib.sh"
proxy=$1

# usage_error NAME PATTERN ARGS...: exit 2, nothing on stdout, PATTERN on
# stderr's first line.
usage_error() {
  local name=$1 pattern=$2
  shift 2
  local out err status
  err=$(mktemp)
  out=$("$proxy" "$@" 2>"$err")
  status=$?
  expect "$name: exit 2" '^2$' "$status"
  expect_empty "$name: nothing on stdout" "$out"
  expect "$name: says why" "$pattern" "$(head -n 1 "$err")"
  rm -f "$err"
}

out=$("$proxy" --help 2>/dev/null)
expect "--help exits 0" '^0$' "$?"
expect "--help prints the usage on stdout" '^usage: aiocoap-proxy \(--forward \| --reverse\)' "$out"
expect "--help names every rule" '--subdomainbased NAME:DEST' "$out"
out=$("$proxy" --version 2>/dev/null)
expect "--version exits 0" '^0$' "$?"
expect "--version prints the library version" '^aiocoap-proxy \(aiocoap-c\) [0-9]+\.[0-9]+\.[0-9]+$' "$out"

usage_error "no mode" 'one of --forward and --reverse' --bind '[::1]:0'
usage_error "unknown flag" 'unknown argument --frobnicate' --forward --frobnicate
usage_error "--bind without value" '--bind needs a value' --forward --bind
usage_error "--namebased without colon" '--namebased needs NAME:DEST' --reverse --namebased foo
usage_error "--namebased with empty DEST" '--namebased needs NAME:DEST' --reverse --namebased foo:
usage_error "--pathbased without colon" '--pathbased needs PATH:DEST' --reverse --pathbased foo
usage_error "--subdomainbased with '!'" "'!' makes no sense" --reverse --subdomainbased 'ex:!h'
usage_error "--unconditional with '!'" "'!' makes no sense" --reverse --unconditional '!h'
usage_error "a DEST with a bad port" 'not a destination' --reverse --unconditional 'h:99999'
usage_error "a DEST with another scheme" 'not a destination' --reverse --unconditional 'coaps://h'
usage_error "a DEST with a path" 'not a destination' --reverse --namebased 'n:h/x'
usage_error "a --bind without port" '--bind needs HOST:PORT' --forward --bind nonsense
usage_error "a --bind with a bad port" '--bind needs HOST:PORT' --forward --bind '[::1]:70000'

finish
