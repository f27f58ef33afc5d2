#!/usr/bin/env bash
# subproject.sh SOURCE_ROOT: aiocoap-c as a meson subproject.  A throwaway
# downstream project in a temp dir gets a copy of the source tree in
# subprojects/aiocoap and a plain dependency('aiocoap'); it must configure
# without criterion or clang being looked for, build no tests, benchmarks or
# fuzzers, see only include/ (not lib/), and its program must run.
set -eu
src=$(cd "${1:?usage: subproject.sh SOURCE_ROOT}" && pwd)
. "$(dirname "$0")/lib.sh"

# expect_not NAME PATTERN OUTPUT: OUTPUT must not match PATTERN.
expect_not() {
  checks=$((checks + 1))
  if printf '%s' "$3" | grep -Eq -- "$2"; then
    echo "FAIL $1: /$2/ found in:"
    printf '%s\n' "$3" | grep -E -- "$2" | sed 's/^/     | /'
    failures=$((failures + 1))
  else
    echo "ok   $1"
  fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/downstream/subprojects/aiocoap"

# The files git knows of, committed or not (never build trees); rsync when
# the source is not a git checkout.
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 -I{} sh -c '[ -e "{}" ] && printf "%s\0" "{}"' |
    tar --null -T - -cf -) | tar -C "$tmp/downstream/subprojects/aiocoap" -xf -
else
  rsync -a --exclude 'build*' "$src/" "$tmp/downstream/subprojects/aiocoap/"
fi

cat > "$tmp/downstream/meson.build" <<'MESON'
project('downstream', 'c')
executable('downstream', 'main.c', dependencies : dependency('aiocoap'))
MESON
cat > "$tmp/downstream/main.c" <<'C'
#include <aiocoap/aiocoap.h>

#include <stdio.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("context-internal.h")
#error "the library's private lib/ directory is on the include path"
#endif
#endif

int main(void) {
  uv_loop_t *loop = uv_default_loop();
  coap_context *ctx;
  int rc = coap_context_create_client_context(loop, NULL, &ctx);
  if (rc < 0) {
    fprintf(stderr, "create_client_context: %s\n", coap_strerror(rc));
    return 1;
  }
  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  printf("aiocoap %s (header %s)\n", coap_version_string(),
         AIOCOAP_VERSION_STRING);
  return strcmp(coap_version_string(), AIOCOAP_VERSION_STRING) != 0;
}
C

cd "$tmp/downstream"
# --wrap-mode=forcefallback: a system-wide aiocoap.pc must not be used.
setup=$(meson setup build --wrap-mode=forcefallback 2>&1) || {
  echo "$setup"
  exit 1
}
expect "setup uses the subproject" "Subproject aiocoap finished" "$setup"
expect_not "setup looks for no criterion" "criterion" "$setup"
expect_not "setup looks for no clang" "clang|fuzz" "$setup"
targets=$(ninja -C build -t targets all 2>&1)
# Names start there (test_multicast, bench-dtls, fuzz_server); the
# plugtest server is a tool, not a test.
expect_not "no tests, benchmarks or fuzzers are built" \
  "(^|[/ ])(test_|bench-|fuzz_|multicast-node)" "$targets"
build=$(ninja -C build 2>&1) || {
  echo "$build"
  exit 1
}
out=$(./build/downstream 2>&1) || {
  echo "$out"
  exit 1
}
expect "the downstream program runs" "^aiocoap [0-9]+\.[0-9]+\.[0-9]+ " "$out"
finish
