/*
 * bench-codec: what coap_message_encode and coap_message_decode cost per
 * message, for a small request and a small response.  A program that prints
 * figures, not a test (STYLE.md, Tests).
 *
 * Usage: bench-codec [iterations]
 * Without an argument each case runs for about a second.
 */
#include <aiocoap/aiocoap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Results feed this so the compiler cannot drop the work. */
static volatile uint64_t sink;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct bench_case {
  const char *name;
  coap_message msg;
  coap_message decoded;
  uint8_t wire[256];
  size_t wire_len;
} bench_case;

static int build_get(bench_case *c) {
  static const char *const path[] = {"sensors", "temp", "1"};
  coap_message *m = &c->msg;
  m->mtype = COAP_TYPE_CON;
  m->code = COAP_CODE_GET;
  m->mid = 0x1234;
  int r = coap_message_set_token(m, "\x01\x02\x03\x04", 4);
  if (r == 0)
    r = coap_options_set_uri_path(&m->opt, path, 3);
  return r;
}

static int build_content(bench_case *c) {
  uint8_t payload[64];
  memset(payload, 'x', sizeof payload);
  coap_message *m = &c->msg;
  m->mtype = COAP_TYPE_ACK;
  m->code = COAP_CODE_CONTENT;
  m->mid = 0x1234;
  int r = coap_options_set_content_format(&m->opt, COAP_CT_TEXT_PLAIN);
  if (r == 0)
    r = coap_message_set_payload(m, payload, sizeof payload);
  return r;
}

/* Runs body `batch` times per clock reading until the budget is spent (or
 * exactly `iterations` times when given); returns ns per message. */
typedef uint64_t (*bench_body)(bench_case *c, uint64_t i);

static double run(bench_case *c, bench_body body, uint64_t iterations) {
  const uint64_t batch = 4096;
  const uint64_t budget_ns = 1000000000u;
  uint64_t done = 0;
  uint64_t acc = 0;
  uint64_t start = now_ns();
  uint64_t elapsed;
  do {
    uint64_t n =
        iterations > 0 && iterations - done < batch ? iterations - done : batch;
    for (uint64_t i = 0; i < n; i++)
      acc += body(c, done + i);
    done += n;
    elapsed = now_ns() - start;
  } while (iterations > 0 ? done < iterations : elapsed < budget_ns);
  sink += acc;
  return done > 0 ? (double)elapsed / (double)done : 0.0;
}

static uint64_t encode_once(bench_case *c, uint64_t i) {
  c->msg.mid = (int32_t)(i & 0xffff);
  int n = coap_message_encode(&c->msg, c->wire, sizeof c->wire);
  return (uint64_t)n + c->wire[3];
}

static uint64_t decode_once(bench_case *c, uint64_t i) {
  (void)i;
  coap_message *d = &c->decoded;
  if (coap_message_decode(d, c->wire, c->wire_len) != 0)
    return 0;
  return coap_options_count(&d->opt) + d->payload_len + (uint64_t)d->mid;
}

static void report(const char *what, const char *name, double ns) {
  printf("%s %s: %.1f ns/msg (%.1f M msg/s)\n", what, name, ns,
         ns > 0 ? 1e3 / ns : 0.0);
}

int main(int argc, char **argv) {
  uint64_t iterations = 0;
  if (argc > 1) {
    char *end;
    iterations = strtoull(argv[1], &end, 10);
    if (*end != '\0' || iterations == 0) {
      fprintf(stderr, "usage: %s [iterations]\n", argv[0]);
      return 2;
    }
  }
  static bench_case cases[2] = {{.name = "GET/3 segments"},
                                {.name = "2.05 ACK/64 B payload"}};
  int (*const build[2])(bench_case *) = {build_get, build_content};
  for (size_t i = 0; i < 2; i++) {
    bench_case *c = &cases[i];
    coap_message_init(&c->msg);
    coap_message_init(&c->decoded);
    int r = build[i](c);
    if (r == 0)
      r = coap_message_encode(&c->msg, c->wire, sizeof c->wire);
    if (r < 0) {
      fprintf(stderr, "%s: %s\n", c->name, coap_strerror(r));
      return 1;
    }
    c->wire_len = (size_t)r;
    printf("%s: %zu bytes on the wire\n", c->name, c->wire_len);
  }
  for (size_t i = 0; i < 2; i++) {
    report("encode", cases[i].name, run(&cases[i], encode_once, iterations));
    report("decode", cases[i].name, run(&cases[i], decode_once, iterations));
  }
  for (size_t i = 0; i < 2; i++) {
    coap_message_clear(&cases[i].msg);
    coap_message_clear(&cases[i].decoded);
  }
  return 0;
}
