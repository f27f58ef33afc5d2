/*
 * Test harness for the message layer: a client and a server coap__mm wired
 * together by a "wire" that logs every datagram and, in automatic mode,
 * delivers it through a lossy shim (seeded: drop, duplicate, delay and so
 * reorder) on a fake clock.  In manual mode the test delivers logged
 * datagrams itself.  Nothing sleeps and nothing prints.
 *
 * Requests carry a 4-byte token holding the request number, which indexes
 * the per-request counters of both nodes.
 */
#ifndef AIOCOAP_TEST_MM_HARNESS_H
#define AIOCOAP_TEST_MM_HARNESS_H

#include "test_common.h"

#include "messagemanager.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_EX = 1200, LOG_DATA = 128 };

enum { RESPOND_NOW, RESPOND_NEVER, RESPOND_LATER, RESPOND_MIXED };

typedef struct logged {
  uint64_t at;
  coap_remote to;
  size_t len;
  uint8_t data[LOG_DATA];
} logged;

/* What one owner (a request on the client, a separate response on the
 * server) saw. */
typedef struct exchange {
  bool issued, done;
  unsigned events[6];
  uint64_t event_at[6];
  int last_err;
  unsigned responses;
} exchange;

typedef struct deferred {
  coap__mm_incoming in;
  uint32_t id;
  uint64_t due;
} deferred;

typedef struct harness harness;

typedef struct node {
  harness *h;
  coap__mm *mm;
  coap_remote self;
  bool keep_log;
  logged *log;
  size_t log_len, log_cap;
  exchange ex[MAX_EX];
  unsigned requests[MAX_EX]; /* request callbacks per token */
  unsigned requests_total, unmatched_responses;
  unsigned validations; /* validated callbacks */
  int respond_mode;
  uint64_t respond_delay;
  deferred pending[MAX_EX];
  size_t n_pending;
  coap__mm_incoming last_in;
  int last_request_mtype;
  int last_respond_result;
  char trace[256]; /* event and callback order, one letter each */
  size_t trace_len;
} node;

typedef struct packet {
  struct packet *next;
  uint64_t at, seq;
  node *to;
  coap_remote from;
  size_t len;
  uint8_t data[];
} packet;

struct harness {
  node client, server;
  uint64_t now;
  bool automatic;
  unsigned drop_pct, dup_pct;
  uint64_t max_delay;
  uint64_t rng, seq;
  packet *queue;
};

/* One harness per test process (criterion forks a worker per test). */
static harness H;

static uint64_t harness_random(harness *h) {
  /* xorshift64* */
  h->rng ^= h->rng >> 12;
  h->rng ^= h->rng << 25;
  h->rng ^= h->rng >> 27;
  return h->rng * 0x2545f4914f6cdd1du;
}

static coap_remote make_remote(uint16_t port) {
  coap_remote r;
  memset(&r, 0, sizeof r);
  r.addr.sin6_family = AF_INET6;
  r.addr.sin6_addr = in6addr_loopback;
  r.addr.sin6_port = htons(port);
  return r;
}

static coap__mm_config test_config(void) {
  coap__mm_config c;
  memset(&c, 0, sizeof c);
  coap_transmission_parameters_default(&c.transmission);
  c.transmission.ack_random_factor = 1.0;
  c.dedup_entries = 256;
  c.max_outgoing = 2048;
  c.empty_ack_delay_ms = 100;
  c.max_datagram_size = 1152;
  c.mid_tracking = true;
  c.mid_peers = 16;
  c.nstart_non = true;
  return c;
}

static void put_token(coap_message *msg, uint32_t id) {
  const uint8_t token[4] = {(uint8_t)(id >> 24), (uint8_t)(id >> 16),
                            (uint8_t)(id >> 8), (uint8_t)id};
  coap_message_set_token(msg, token, sizeof token);
}

static uint32_t token_id(const coap_message *msg) {
  if (msg->token_len != 4)
    return MAX_EX - 1;
  uint32_t id = (uint32_t)msg->token[0] << 24 | (uint32_t)msg->token[1] << 16 |
                (uint32_t)msg->token[2] << 8 | msg->token[3];
  return id < MAX_EX ? id : MAX_EX - 1;
}

static void trace(node *n, char c) {
  if (n->trace_len + 1 < sizeof n->trace)
    n->trace[n->trace_len++] = c;
}

static node *node_at(harness *h, const coap_remote *remote) {
  if (coap_remote_equal(remote, &h->server.self))
    return &h->server;
  if (coap_remote_equal(remote, &h->client.self))
    return &h->client;
  return NULL;
}

static void enqueue(harness *h, node *from, node *to, const uint8_t *data,
                    size_t len, uint64_t at) {
  packet *p = malloc(sizeof *p + len);
  cr_assert_not_null(p);
  p->at = at;
  p->seq = h->seq++;
  p->to = to;
  p->from = from->self;
  p->len = len;
  memcpy(p->data, data, len);
  packet **link = &h->queue;
  while (*link != NULL && (*link)->at <= at)
    link = &(*link)->next;
  p->next = *link;
  *link = p;
}

/* The lossy shim: each copy may be lost; some datagrams are duplicated;
 * random delays reorder them. */
static void shim(harness *h, node *from, node *to, const uint8_t *data,
                 size_t len) {
  int copies = harness_random(h) % 100 < h->dup_pct ? 2 : 1;
  for (int i = 0; i < copies; i++) {
    if (harness_random(h) % 100 < h->drop_pct)
      continue;
    uint64_t delay = h->max_delay ? 1 + harness_random(h) % h->max_delay : 0;
    enqueue(h, from, to, data, len, h->now + delay);
  }
}

static void on_send(void *user_data, const coap_remote *remote,
                    const uint8_t *data, size_t len) {
  node *n = user_data;
  harness *h = n->h;
  if (n->keep_log) {
    if (n->log_len == n->log_cap) {
      n->log_cap = n->log_cap ? n->log_cap * 2 : 64;
      n->log = realloc(n->log, n->log_cap * sizeof *n->log);
      cr_assert_not_null(n->log);
    }
    logged *l = &n->log[n->log_len++];
    l->at = h->now;
    l->to = *remote;
    l->len = len;
    memcpy(l->data, data, len < LOG_DATA ? len : LOG_DATA);
  }
  node *to = node_at(h, remote);
  if (h->automatic && to != NULL)
    shim(h, n, to, data, len);
}

static int node_respond(node *n, coap__mm_incoming in, uint32_t id) {
  coap_message resp;
  coap_message_init(&resp);
  resp.code = COAP_CODE_CONTENT;
  put_token(&resp, id);
  static const char body[] = "hello";
  coap_message_set_payload_borrowed(&resp, body, sizeof body - 1);
  int r = coap__mm_respond(n->mm, in, &resp, &n->ex[id], n->h->now);
  n->ex[id].issued = true;
  coap_message_clear(&resp);
  return r;
}

static void on_request(void *user_data, coap_message *msg,
                       coap__mm_incoming in) {
  node *n = user_data;
  uint32_t id = token_id(msg);
  n->requests[id]++;
  n->requests_total++;
  n->last_in = in;
  n->last_request_mtype = msg->mtype;
  trace(n, 'q');
  bool later = n->respond_mode == RESPOND_LATER ||
               (n->respond_mode == RESPOND_MIXED && id % 4 == 0);
  if (n->respond_mode == RESPOND_NEVER)
    return;
  if (later) {
    deferred *d = &n->pending[n->n_pending++];
    d->in = in;
    d->id = id;
    d->due = n->h->now + n->respond_delay;
    return;
  }
  n->last_respond_result = node_respond(n, in, id);
}

/* A response is wanted while its request is outstanding; the layer has then
 * done its part, so the request's retransmission stops (as the token layer
 * above it will do). */
static bool on_response(void *user_data, coap_message *msg) {
  node *n = user_data;
  uint32_t id = token_id(msg);
  exchange *ex = &n->ex[id];
  trace(n, 'r');
  if (!ex->issued || ex->done) {
    n->unmatched_responses++;
    return false;
  }
  ex->responses++;
  ex->done = true;
  coap__mm_cancel(n->mm, ex);
  return true;
}

static void on_event(void *user_data, void *owner, coap__mm_event event,
                     int err) {
  node *n = user_data;
  exchange *ex = owner;
  ex->events[event]++;
  ex->event_at[event] = n->h->now;
  ex->last_err = err;
  trace(n, "SXAKTF"[event]);
}

static void on_validated(void *user_data, const coap_remote *remote) {
  node *n = user_data;
  (void)remote;
  n->validations++;
}

static const coap__mm_callbacks test_callbacks = {
    on_send, on_request, on_response, on_event, on_validated};

static void node_init(harness *h, node *n, uint16_t port,
                      const coap__mm_config *config, uint64_t seed) {
  n->h = h;
  n->self = make_remote(port);
  n->keep_log = true;
  n->respond_delay = 300;
  cr_assert_eq(coap__mm_new(config, &test_callbacks, n, seed, &n->mm), 0);
}

static void harness_init(harness *h, const coap__mm_config *client,
                         const coap__mm_config *server) {
  memset(h, 0, sizeof *h);
  h->rng = 0x853c49e6748fea9bu;
  node_init(h, &h->client, 40000, client, 1);
  node_init(h, &h->server, 5683, server, 2);
}

static void harness_fini(harness *h) {
  coap__mm_free(h->client.mm);
  coap__mm_free(h->server.mm);
  free(h->client.log);
  free(h->server.log);
  while (h->queue != NULL) {
    packet *p = h->queue;
    h->queue = p->next;
    free(p);
  }
}

/* Sends request id from the client to the server. */
static int client_request(harness *h, uint32_t id, int mtype) {
  coap_message msg;
  coap_message_init(&msg);
  msg.mtype = mtype;
  msg.code = COAP_CODE_GET;
  put_token(&msg, id);
  coap_options_add_string(&msg.opt, COAP_OPT_URI_PATH, "test");
  msg.remote = h->server.self;
  h->client.ex[id].issued = true;
  int r = coap__mm_send(h->client.mm, &msg, &h->client.ex[id], h->now);
  coap_message_clear(&msg);
  return r;
}

/* Manual mode: hands datagram i of from's log to its destination. */
static void deliver(harness *h, node *from, size_t i) {
  cr_assert_lt(i, from->log_len);
  const logged *l = &from->log[i];
  node *to = node_at(h, &l->to);
  cr_assert_not_null(to);
  coap__mm_recv(to->mm, l->data, l->len, &from->self, h->now);
}

/* Feeds raw bytes to n as if from the other node. */
static void inject(harness *h, node *n, const uint8_t *data, size_t len) {
  node *from = n == &h->server ? &h->client : &h->server;
  coap__mm_recv(n->mm, data, len, &from->self, h->now);
}

static int log_type(const node *n, size_t i) {
  return (n->log[i].data[0] >> 4) & 3;
}
static uint8_t log_code(const node *n, size_t i) {
  return n->log[i].data[1];
}
static uint16_t log_mid(const node *n, size_t i) {
  return (uint16_t)(n->log[i].data[2] << 8 | n->log[i].data[3]);
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}

static uint64_t next_event(const harness *h) {
  uint64_t t = h->queue != NULL ? h->queue->at : UINT64_MAX;
  t = min_u64(t, coap__mm_next_deadline(h->client.mm));
  t = min_u64(t, coap__mm_next_deadline(h->server.mm));
  const node *nodes[] = {&h->client, &h->server};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < nodes[k]->n_pending; i++)
      t = min_u64(t, nodes[k]->pending[i].due);
  return t;
}

static void fire_deferred(harness *h, node *n) {
  for (size_t i = 0; i < n->n_pending;) {
    if (n->pending[i].due > h->now) {
      i++;
      continue;
    }
    deferred d = n->pending[i];
    n->pending[i] = n->pending[--n->n_pending];
    n->last_respond_result = node_respond(n, d.in, d.id);
  }
}

/* Runs one due thing (a datagram, or the nodes' timers) if one is due by
 * limit; false when nothing is. */
static bool step(harness *h, uint64_t limit) {
  uint64_t t = next_event(h);
  if (t > limit || t == UINT64_MAX)
    return false;
  if (t > h->now)
    h->now = t;
  packet *p = h->queue;
  if (p != NULL && p->at <= h->now) {
    h->queue = p->next;
    coap__mm_recv(p->to->mm, p->data, p->len, &p->from, h->now);
    free(p);
    return true;
  }
  coap__mm_tick(h->client.mm, h->now);
  coap__mm_tick(h->server.mm, h->now);
  fire_deferred(h, &h->client);
  fire_deferred(h, &h->server);
  return true;
}

/* Runs everything due up to limit, then sets the clock to limit. */
static void run_until(harness *h, uint64_t limit) {
  long guard = 0;
  while (step(h, limit))
    cr_assert_lt(++guard, 20000000L, "the layer keeps itself busy");
  if (limit != UINT64_MAX && h->now < limit)
    h->now = limit;
}

static void run_until_done(harness *h, const exchange *ex) {
  long guard = 0;
  while (!ex->done && step(h, UINT64_MAX))
    cr_assert_lt(++guard, 20000000L);
}

#endif
