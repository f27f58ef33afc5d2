/*
 * The DTLS tests' fixture (test_dtls_transport.c, test_dtls_limits.c):
 * two or more transports of ours on 127.0.0.1 in one loop, a listening
 * one and client-only ones, driven through the transport callbacks with
 * no context; certificates made at test time (dtls_test_pki.c).  Every
 * wait is bounded by a uv_timer that fails the test.  Header-only, with
 * static state: each test executable includes it once.
 */
#ifndef AIOCOAP_DTLS_FIXTURE_H
#define AIOCOAP_DTLS_FIXTURE_H

#include "test_common.h"

#include "dtls_test_pki.h"
#include "transports/dtls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

static uv_loop_t loop;
static uv_timer_t safety;
static bool timed_out;
static dtls_test_pki pki;

#define PEERS_MAX 16

typedef struct peer {
  coap__transport *t;
  struct sockaddr_in6 addr;
  int received;
  uint8_t last[2048];
  size_t last_len;
  coap_remote last_remote;
  int errors;
  int last_err;
  char last_detail[256];
  bool last_fatal;
  int closed;
  bool close_asked;
  bool echo;
} peer;

/* File scope: closed callbacks may fire after a body has returned. */
static peer server, clients[PEERS_MAX];
#define client clients[0]

static const uint8_t PSK[] = "secret-key-0123";
static const uint8_t IDENTITY[] = "client1";

static inline void on_recv(void *user_data, const uint8_t *data, size_t len,
                           const coap_remote *remote) {
  peer *p = user_data;
  p->received++;
  cr_assert_leq(len, sizeof p->last);
  memcpy(p->last, data, len);
  p->last_len = len;
  p->last_remote = *remote;
  cr_assert_eq(remote->endpoint, p->t, "a remote names its transport");
  if (p->echo)
    cr_assert_eq(p->t->ops->send(p->t, remote, data, len), 0);
}

static inline void on_error(void *user_data, const coap_remote *remote, int err,
                            const char *detail, bool fatal) {
  peer *p = user_data;
  (void)remote;
  p->errors++;
  p->last_err = err;
  snprintf(p->last_detail, sizeof p->last_detail, "%s",
           detail != NULL ? detail : "");
  p->last_fatal = fatal;
}

static inline void on_batch_done(void *user_data) {
  (void)user_data;
}

static const coap__transport_callbacks callbacks = {on_recv, on_error,
                                                    on_batch_done};

static inline void on_closed(void *user_data) {
  ((peer *)user_data)->closed++;
}

static inline void on_safety(uv_timer_t *timer) {
  (void)timer;
  timed_out = true;
  uv_stop(&loop);
}

static inline void setup(void) {
  coap_test_init();
  cr_assert_eq(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &safety);
  uv_unref((uv_handle_t *)&safety);
  timed_out = false;
  memset(&server, 0, sizeof server);
  memset(clients, 0, sizeof clients);
  cr_assert(dtls_test_pki_make(&pki), "test certificates");
}

static inline void close_peer(peer *p) {
  if (p->t == NULL)
    return;
  p->t->ops->close(p->t, on_closed);
  p->t = NULL;
  p->close_asked = true;
}

static inline void teardown(void) {
  close_peer(&server);
  for (int i = 0; i < PEERS_MAX; i++)
    close_peer(&clients[i]);
  uv_close((uv_handle_t *)&safety, NULL);
  int rc = uv_loop_close(&loop);
  for (int i = 0; rc == UV_EBUSY && i < 100; i++) {
    uv_run(&loop, UV_RUN_NOWAIT);
    rc = uv_loop_close(&loop);
  }
  dtls_test_pki_remove(&pki);
  cr_assert_eq(rc, 0, "handles left on the loop");
  cr_assert_eq(server.closed, server.close_asked ? 1 : 0,
               "closed fires once, after the handles are closed");
  for (int i = 0; i < PEERS_MAX; i++)
    cr_assert_eq(clients[i].closed, clients[i].close_asked ? 1 : 0);
  coap_test_check_leaks();
}

/* A test of suite DTLS_SUITE (defined by the file before including this
 * one), with teardown and its leak check at the end of the body:
 * criterion ignores failed assertions in .fini hooks. */
#define DTLS_TEST(name, ...) DTLS_TEST_(DTLS_SUITE, name, ##__VA_ARGS__)
#define DTLS_TEST_(suite, name, ...) DTLS_TEST__(suite, name, ##__VA_ARGS__)
#define DTLS_TEST__(suite, name, ...)                                          \
  static void suite##_##name##_body(void);                                     \
  Test(suite, name, .init = setup, ##__VA_ARGS__) {                            \
    suite##_##name##_body();                                                   \
    teardown();                                                                \
  }                                                                            \
  static void suite##_##name##_body(void)

static inline coap__dtls_stats stats_of(const peer *p);

/* Runs the loop until done(arg), failing after ms. */
static inline void run_until(bool (*done)(const void *arg), const void *arg,
                             uint64_t ms, const char *what) {
  timed_out = false;
  uv_timer_start(&safety, on_safety, ms, 0);
  while (!done(arg) && !timed_out)
    if (uv_run(&loop, UV_RUN_ONCE) == 0 && !done(arg))
      break;
  uv_timer_stop(&safety);
  if (timed_out && server.t != NULL && clients[0].t != NULL) {
    coap__dtls_stats a = stats_of(&server), b = stats_of(&clients[0]);
    coap_test_note(
        "server: %llu sessions, %llu handshaking, %llu done, "
        "%llu cookies; client: %llu sessions, %llu done, "
        "%d errors (%s)",
        (unsigned long long)a.sessions, (unsigned long long)a.handshaking,
        (unsigned long long)a.handshakes_done,
        (unsigned long long)a.cookies_sent, (unsigned long long)b.sessions,
        (unsigned long long)b.handshakes_done, clients[0].errors,
        clients[0].last_detail);
  }
  cr_assert_not(timed_out, "timed out waiting for %s", what);
  cr_assert(done(arg), "the loop ran dry waiting for %s", what);
}

static inline bool has_received(const void *arg) {
  return ((const peer *)arg)->received > 0;
}
static inline bool has_error(const void *arg) {
  return ((const peer *)arg)->errors > 0;
}

static inline struct sockaddr_in6 loopback(uint16_t port) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  cr_assert_eq(inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr), 1);
  return a;
}

static inline coap_remote remote_of(const peer *p) {
  coap_remote r;
  memset(&r, 0, sizeof r);
  r.addr = p->addr;
  return r;
}

static inline void open_peer(peer *p, const coap__dtls_config *config) {
  struct sockaddr_in6 bind = loopback(0);
  char err[256];
  int rc = coap__dtls_open(&loop, &bind, config, &callbacks, p, &p->t, err,
                           sizeof err);
  cr_assert_eq(rc, 0, "coap__dtls_open: %s (%s)", coap_strerror(rc), err);
  cr_assert_eq(p->t->ops->local_address(p->t, &p->addr), 0);
}

/* Server credentials: the client's PSK under aiocoap's ":client" label,
 * and the server certificate (with ca, client certificates required). */
static inline coap_credentials *server_credentials(bool psk, bool cert,
                                                   const char *ca) {
  coap_credentials *c;
  cr_assert_eq(coap_credentials_new(&c), 0);
  if (psk) {
    coap_credential e = {0};
    e.psk = PSK;
    e.psk_len = sizeof PSK - 1;
    e.client_identity = IDENTITY;
    e.client_identity_len = sizeof IDENTITY - 1;
    cr_assert_eq(coap_credentials_add(c, ":client", &e), 0);
  }
  if (cert) {
    coap_credential e = {0};
    e.certfile = pki.server_cert;
    e.keyfile = pki.server_key;
    e.cafile = ca;
    cr_assert_eq(coap_credentials_add(c, "coaps://*", &e), 0);
  }
  return c;
}

static inline void open_server_with(bool psk, bool cert, const char *ca,
                                    void (*tweak)(coap__dtls_config *)) {
  coap__dtls_config config;
  coap__dtls_config_default(&config);
  config.listen = true;
  config.psk_hint = "aiocoap";
  config.server_credentials = server_credentials(psk, cert, ca);
  if (tweak != NULL)
    tweak(&config);
  open_peer(&server, &config);
  coap_credentials_unref(config.server_credentials);
}

static inline void open_client_with(peer *p,
                                    void (*tweak)(coap__dtls_config *)) {
  coap__dtls_config config;
  coap__dtls_config_default(&config);
  if (tweak != NULL)
    tweak(&config);
  open_peer(p, &config);
}

/* The credential a client's map would hold (borrowed strings). */
static inline coap__credential psk_cred(const char *key, const char *identity) {
  coap__credential c = {0};
  c.psk = (uint8_t *)key;
  c.psk_len = strlen(key);
  c.client_identity = (uint8_t *)identity;
  c.client_identity_len = strlen(identity);
  return c;
}

static inline coap__credential cert_cred(const char *ca, const char *certfile,
                                         const char *keyfile) {
  coap__credential c = {0};
  c.cafile = (char *)ca;
  c.certfile = (char *)certfile;
  c.keyfile = (char *)keyfile;
  return c;
}

static inline coap__dtls_stats stats_of(const peer *p) {
  coap__dtls_stats s;
  coap__dtls_get_stats(p->t, &s);
  return s;
}

static inline bool handshakes_done(const void *arg) {
  const peer *p = arg;
  return p->t != NULL && stats_of(p).handshakes_done > 0;
}

static inline double ms_since(uint64_t start_ns) {
  return (double)(uv_hrtime() - start_ns) / 1e6;
}

/* Sends msg from the client (queued while handshaking) and waits for the
 * server to have it, then answers and waits for the client to have that. */
static inline void exchange_both_ways(peer *c, const char *msg) {
  coap_remote to_server = remote_of(&server);
  int before = server.received;
  cr_assert_eq(
      c->t->ops->send(c->t, &to_server, (const uint8_t *)msg, strlen(msg)), 0);
  c->t->ops->flush(c->t);
  timed_out = false;
  uv_timer_start(&safety, on_safety, 20000, 0);
  while (server.received == before && !timed_out)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&safety);
  cr_assert_eq(server.received, before + 1, "the server got the message");
  cr_assert_eq(server.last_len, strlen(msg));
  cr_assert_eq(memcmp(server.last, msg, strlen(msg)), 0);
  cr_assert_eq(server.last_remote.addr.sin6_port, c->addr.sin6_port);
  int got = c->received;
  static const char answer[] = "answer";
  cr_assert_eq(server.t->ops->send(server.t, &server.last_remote,
                                   (const uint8_t *)answer, strlen(answer)),
               0);
  server.t->ops->flush(server.t);
  timed_out = false;
  uv_timer_start(&safety, on_safety, 20000, 0);
  while (c->received == got && !timed_out)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&safety);
  cr_assert_eq(c->received, got + 1, "the client got the answer");
  cr_assert_eq(c->last_len, strlen(answer));
  cr_assert_eq(memcmp(c->last, answer, strlen(answer)), 0);
}

static inline bool drop_all(void *data, const coap_remote *remote,
                            const uint8_t *bytes, size_t len) {
  (void)data, (void)remote, (void)bytes, (void)len;
  return false;
}

/* The client's first ClientHello, caught at its socket. */
typedef struct capture {
  uint8_t data[2048];
  size_t len;
} capture;

static inline bool catch_first(void *data, const coap_remote *remote,
                               const uint8_t *bytes, size_t len) {
  capture *c = data;
  (void)remote;
  if (c->len == 0 && len <= sizeof c->data) {
    memcpy(c->data, bytes, len);
    c->len = len;
  }
  return false;
}

#endif
