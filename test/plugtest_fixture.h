/*
 * Shared by the plugtest tests (test_plugtest.c: core and link resources,
 * test_plugtest_block.c, test_plugtest_observe.c): the plugtest site
 * (cli/plugtest_*.c, linked in) served by a server context on loopback,
 * the library's client, and a raw socket that sends and reads exactly the
 * messages a test names.
 */
#ifndef AIOCOAP_TEST_PLUGTEST_FIXTURE_H
#define AIOCOAP_TEST_PLUGTEST_FIXTURE_H

#include "observation_fixture.h"

#include "../cli/plugtest.h"

#include <netinet/in.h>
#include <sys/types.h>

typedef struct pt {
  fixture fx;
  plugtest_site *site;
  int fd;
  struct sockaddr_in6 server;
} pt;

/* The raw client's token. */
extern const uint8_t token_a[2];

/* Serves a fresh plugtest site on [::1]:0 with a client context and a
 * raw socket beside it (config, pconfig: NULL for the defaults). */
void pt_start(pt *t, const coap_context_config *config,
              const plugtest_config *pconfig);

/* Shuts both contexts down, frees the site as the program does (from the
 * server's shutdown callback), checks the loop closes. */
void pt_stop(pt *t);

/* Short timers with an exact schedule: ACK_TIMEOUT ms, doubling. */
void fast_config(coap_context_config *c, uint32_t ack_timeout_ms,
                 uint32_t max_retransmit);

/* The plugtest's own timers: observable period, /separate's delay. */
void plug_config(plugtest_config *p, uint32_t period_ms, uint32_t separate_ms);

/* A raw message with token_a and Uri-Path path (may be NULL). */
void raw_init(coap_message *m, int mtype, uint16_t mid, uint8_t code,
              const char *path);

/* Sends m and clears it. */
void raw_send(pt *t, coap_message *m);

/* An empty ACK or RST with mid. */
void raw_empty(pt *t, int mtype, uint16_t mid);

/* Runs the loop until a datagram comes (decoded into m, borrowing buf) or
 * limit_ms of loop time pass; its length, or -1. */
ssize_t raw_recv(pt *t, coap_message *m, uint8_t *buf, size_t cap,
                 uint64_t limit_ms);

/* The one answer to a raw request: within 2 s. */
void raw_answer(pt *t, coap_message *m, uint8_t *buf, size_t cap);

/* path's answer to code (with payload when given); the caller frees it. */
coap_message *ask(pt *t, uint8_t code, const char *path, const char *payload);

/* Assertions that say what they saw. */
void code_is(const coap_message *m, uint8_t code);

void cf_is(const coap_message *m, uint16_t cf);

bool payload_has(const coap_message *m, const char *text);

/* The response's ETag into etag (8 bytes of room); its length. */
size_t etag_of(const coap_message *m, uint8_t *etag);

/* GET /.well-known/core with query ("" or "?rt=..."), as text in out. */
char *wkc(pt *t, const char *query, char *out, size_t cap);

#endif
