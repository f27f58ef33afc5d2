/*
 * The DTLS transport (lib/transports/dtls.c) on its own: two transports on
 * 127.0.0.1 in one loop, a listening one and a client-only one, driven
 * through the transport callbacks with no context.  Certificates are made
 * at test time (dtls_test_pki.c).  Every wait is bounded by a uv_timer
 * that fails the test.
 */
#include "test_common.h"

#include "dtls_test_pki.h"
#include "transports/dtls.h"

#include <arpa/inet.h>
#include <malloc.h>
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

static void on_recv(void *user_data, const uint8_t *data, size_t len,
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

static void on_error(void *user_data, const coap_remote *remote, int err,
                     const char *detail, bool fatal) {
  peer *p = user_data;
  (void)remote;
  p->errors++;
  p->last_err = err;
  snprintf(p->last_detail, sizeof p->last_detail, "%s",
           detail != NULL ? detail : "");
  p->last_fatal = fatal;
}

static void on_batch_done(void *user_data) {
  (void)user_data;
}

static const coap__transport_callbacks callbacks = {on_recv, on_error,
                                                    on_batch_done};

static void on_closed(void *user_data) {
  ((peer *)user_data)->closed++;
}

static void on_safety(uv_timer_t *timer) {
  (void)timer;
  timed_out = true;
  uv_stop(&loop);
}

static void setup(void) {
  coap_test_init();
  cr_assert_eq(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &safety);
  uv_unref((uv_handle_t *)&safety);
  timed_out = false;
  memset(&server, 0, sizeof server);
  memset(clients, 0, sizeof clients);
  cr_assert(dtls_test_pki_make(&pki), "test certificates");
}

static void close_peer(peer *p) {
  if (p->t == NULL)
    return;
  p->t->ops->close(p->t, on_closed);
  p->t = NULL;
  p->close_asked = true;
}

static void teardown(void) {
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

#define DTLS_TEST(name, ...)                                                   \
  static void dtls_##name##_body(void);                                        \
  Test(dtls_transport, name, .init = setup, ##__VA_ARGS__) {                   \
    dtls_##name##_body();                                                      \
    teardown();                                                                \
  }                                                                            \
  static void dtls_##name##_body(void)

static coap__dtls_stats stats_of(const peer *p);

/* Runs the loop until done(arg), failing after ms. */
static void run_until(bool (*done)(const void *arg), const void *arg,
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

static bool has_received(const void *arg) {
  return ((const peer *)arg)->received > 0;
}
static bool has_error(const void *arg) {
  return ((const peer *)arg)->errors > 0;
}

static struct sockaddr_in6 loopback(uint16_t port) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  cr_assert_eq(inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr), 1);
  return a;
}

static coap_remote remote_of(const peer *p) {
  coap_remote r;
  memset(&r, 0, sizeof r);
  r.addr = p->addr;
  return r;
}

static void open_peer(peer *p, const coap__dtls_config *config) {
  struct sockaddr_in6 bind = loopback(0);
  char err[256];
  int rc = coap__dtls_open(&loop, &bind, config, &callbacks, p, &p->t, err,
                           sizeof err);
  cr_assert_eq(rc, 0, "coap__dtls_open: %s (%s)", coap_strerror(rc), err);
  cr_assert_eq(p->t->ops->local_address(p->t, &p->addr), 0);
}

/* Server credentials: the client's PSK under aiocoap's ":client" label,
 * and the server certificate (with ca, client certificates required). */
static coap_credentials *server_credentials(bool psk, bool cert,
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

static void open_server_with(bool psk, bool cert, const char *ca,
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

static void open_client_with(peer *p, void (*tweak)(coap__dtls_config *)) {
  coap__dtls_config config;
  coap__dtls_config_default(&config);
  if (tweak != NULL)
    tweak(&config);
  open_peer(p, &config);
}

/* The credential a client's map would hold (borrowed strings). */
static coap__credential psk_cred(const char *key, const char *identity) {
  coap__credential c = {0};
  c.psk = (uint8_t *)key;
  c.psk_len = strlen(key);
  c.client_identity = (uint8_t *)identity;
  c.client_identity_len = strlen(identity);
  return c;
}

static coap__credential cert_cred(const char *ca, const char *certfile,
                                  const char *keyfile) {
  coap__credential c = {0};
  c.cafile = (char *)ca;
  c.certfile = (char *)certfile;
  c.keyfile = (char *)keyfile;
  return c;
}

static coap__dtls_stats stats_of(const peer *p) {
  coap__dtls_stats s;
  coap__dtls_get_stats(p->t, &s);
  return s;
}

static bool handshakes_done(const void *arg) {
  const peer *p = arg;
  return p->t != NULL && stats_of(p).handshakes_done > 0;
}

static double ms_since(uint64_t start_ns) {
  return (double)(uv_hrtime() - start_ns) / 1e6;
}

/* Sends msg from the client (queued while handshaking) and waits for the
 * server to have it, then answers and waits for the client to have that. */
static void exchange_both_ways(peer *c, const char *msg) {
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

DTLS_TEST(psk_handshake_and_data_both_ways) {
  /* A server with both PSK entries and a certificate accepts either. */
  open_server_with(true, true, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  uint64_t start = uv_hrtime();
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "127.0.0.1"),
               0);
  run_until(handshakes_done, &client, 20000, "the PSK handshake");
  fprintf(stderr, "figure: PSK handshake on loopback %.2f ms\n",
          ms_since(start));
  /* RFC 7252 §9.1.3.1: the mandatory suite, at OpenSSL's default
   * security level. */
  cr_assert_str_eq(coap__dtls_cipher(client.t, &to_server), "PSK-AES128-CCM8");
  exchange_both_ways(&client, "hello over dtls");
  char identity[64];
  cr_assert_eq(coap__dtls_peer_identity(server.t, &server.last_remote, identity,
                                        sizeof identity),
               (int)strlen((const char *)IDENTITY));
  cr_assert_str_eq(identity, (const char *)IDENTITY);
  coap__dtls_stats ss = stats_of(&server);
  cr_assert_eq(ss.sessions, 1);
  cr_assert_eq(ss.handshaking, 0);
  cr_assert_eq(ss.handshakes_done, 1);
  cr_assert_eq(ss.cookies_sent, 1, "RFC 6347 §4.2.1: one cookie exchange");
  cr_assert_eq(client.errors, 0);
  cr_assert_eq(server.errors, 0);
}

DTLS_TEST(message_queued_during_handshake_goes_after_it) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  /* Still handshaking: these are held, in order, and go once it is done. */
  cr_assert_eq(
      client.t->ops->send(client.t, &to_server, (const uint8_t *)"one", 3), 0);
  cr_assert_eq(
      client.t->ops->send(client.t, &to_server, (const uint8_t *)"two", 3), 0);
  run_until(has_received, &server, 20000, "the queued messages");
  timed_out = false;
  uv_timer_start(&safety, on_safety, 20000, 0);
  while (server.received < 2 && !timed_out)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&safety);
  cr_assert_eq(server.received, 2);
  cr_assert_eq(memcmp(server.last, "two", 3), 0);
}

DTLS_TEST(pending_messages_bounded_while_handshaking) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  uint8_t msg[100] = {0x40};
  int ok = 0, rc = 0;
  for (int i = 0; i < 100 && rc == 0; i++)
    if ((rc = client.t->ops->send(client.t, &to_server, msg, sizeof msg)) == 0)
      ok++;
  cr_assert_eq(rc, COAP_ELIMIT);
  cr_assert_eq(ok, 16, "COAP__DTLS_PENDING_MAX messages are held");
}

DTLS_TEST(pending_bytes_bounded_while_handshaking) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  /* 1232 bytes: the most a record takes at the assumed MTU (1280 less
   * the IPv6 and UDP headers); 13 of them fit in COAP__DTLS_PENDING_BYTES
   * (16384), the 14th does not. */
  static uint8_t msg[1232];
  for (int i = 0; i < 13; i++)
    cr_assert_eq(client.t->ops->send(client.t, &to_server, msg, sizeof msg), 0);
  cr_assert_eq(client.t->ops->send(client.t, &to_server, msg, sizeof msg),
               COAP_ELIMIT);
  cr_assert_eq(client.t->ops->send(client.t, &to_server, msg, sizeof msg + 0),
               COAP_ELIMIT);
  static uint8_t too_big[1233];
  cr_assert_eq(
      client.t->ops->send(client.t, &to_server, too_big, sizeof too_big),
      COAP_EMSGSIZE);
  /* All 13 arrive once the handshake is done. */
  timed_out = false;
  uv_timer_start(&safety, on_safety, 20000, 0);
  while (server.received < 13 && !timed_out)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&safety);
  cr_assert_eq(server.received, 13);
  cr_assert_eq(server.last_len, sizeof msg);
}

DTLS_TEST(client_certificate_from_untrusted_ca_fails) {
  open_server_with(false, true, pki.ca, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = cert_cred(pki.ca, pki.other_cert, pki.other_key);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "127.0.0.1"),
               0);
  run_until(has_error, &server, 20000, "the server's refusal");
  cr_assert_eq(server.last_err, COAP_ECERTIFICATE, "%s", server.last_detail);
  cr_assert(server.last_detail[0] != '\0');
  run_until(has_error, &client, 20000, "the client's failure");
  cr_assert_eq(client.last_err, COAP_EALERT, "%s", client.last_detail);
  fprintf(stderr,
          "note: untrusted client certificate: server \"%s\", client \"%s\"\n",
          server.last_detail, client.last_detail);
}

DTLS_TEST(certificate_handshake_verifies_server_ip) {
  open_server_with(false, true, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = cert_cred(pki.ca, NULL, NULL);
  uint64_t start = uv_hrtime();
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "127.0.0.1"),
               0);
  run_until(handshakes_done, &client, 20000, "the certificate handshake");
  fprintf(stderr, "figure: ECDSA P-256 certificate handshake %.2f ms\n",
          ms_since(start));
  /* RFC 7252 §9.1.3.2's mandatory suite. */
  cr_assert_str_eq(coap__dtls_cipher(client.t, &to_server),
                   "ECDHE-ECDSA-AES128-CCM8");
  exchange_both_ways(&client, "hello with certificates");
  char identity[128];
  cr_assert_gt(
      coap__dtls_peer_identity(client.t, &to_server, identity, sizeof identity),
      0);
  cr_assert(strstr(identity, "CN=server") != NULL, "%s", identity);
  cr_assert_eq(client.errors, 0);
}

DTLS_TEST(certificate_handshake_verifies_server_name) {
  open_server_with(true, true, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = cert_cred(pki.ca, NULL, NULL);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "localhost"),
               0);
  run_until(handshakes_done, &client, 20000, "the certificate handshake");
  exchange_both_ways(&client, "by name");
}

DTLS_TEST(certificate_wrong_name_fails) {
  open_server_with(false, true, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = cert_cred(pki.ca, NULL, NULL);
  cr_assert_eq(
      client.t->ops->prepare(client.t, &to_server, &cred, "coap.example"), 0);
  cr_assert_eq(
      client.t->ops->send(client.t, &to_server, (const uint8_t *)"x", 1), 0);
  run_until(has_error, &client, 20000, "the certificate failure");
  cr_assert_eq(client.last_err, COAP_ECERTIFICATE, "%s", client.last_detail);
  cr_assert(client.last_fatal);
  cr_assert(strstr(client.last_detail, "mismatch") != NULL, "detail: %s",
            client.last_detail);
  cr_assert_eq(stats_of(&client).sessions, 0);
  cr_assert_eq(stats_of(&client).handshakes_failed, 1);
  /* Nothing sent in the clear, nothing more held. */
  cr_assert_eq(
      client.t->ops->send(client.t, &to_server, (const uint8_t *)"x", 1),
      COAP_ECREDENTIALS);
  cr_assert_eq(server.received, 0);
}

DTLS_TEST(certificate_from_untrusted_ca_fails) {
  open_server_with(false, true, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  /* Trusting only a CA that did not sign the server's certificate. */
  coap__credential cred = cert_cred(pki.other_cert, NULL, NULL);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "127.0.0.1"),
               0);
  run_until(has_error, &client, 20000, "the certificate failure");
  cr_assert_eq(client.last_err, COAP_ECERTIFICATE, "%s", client.last_detail);
  cr_assert(strstr(client.last_detail, "local issuer") != NULL, "detail: %s",
            client.last_detail);
}

DTLS_TEST(insecure_no_verify_skips_the_check) {
  open_server_with(false, true, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = {0};
  cred.insecure_no_verify = true;
  cr_assert_eq(
      client.t->ops->prepare(client.t, &to_server, &cred, "coap.example"), 0);
  run_until(handshakes_done, &client, 20000, "the unchecked handshake");
}

DTLS_TEST(client_certificate_required_and_given) {
  open_server_with(false, true, pki.ca, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = cert_cred(pki.ca, pki.client_cert, pki.client_key);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "127.0.0.1"),
               0);
  run_until(handshakes_done, &server, 20000, "the mutual handshake");
  exchange_both_ways(&client, "mutual");
  char identity[128];
  cr_assert_gt(coap__dtls_peer_identity(server.t, &server.last_remote, identity,
                                        sizeof identity),
               0);
  cr_assert(strstr(identity, "CN=client") != NULL, "%s", identity);
}

DTLS_TEST(client_certificate_required_and_missing) {
  open_server_with(false, true, pki.ca, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = cert_cred(pki.ca, NULL, NULL);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "127.0.0.1"),
               0);
  run_until(has_error, &server, 20000, "the server's refusal");
  cr_assert_eq(server.last_err, COAP_EHANDSHAKE, "%s", server.last_detail);
  run_until(has_error, &client, 20000, "the client's failure");
  cr_assert_eq(client.last_err, COAP_EALERT, "%s", client.last_detail);
  cr_assert(client.last_detail[0] != '\0');
  cr_assert_eq(stats_of(&server).sessions, 0);
}

static void short_handshake(coap__dtls_config *c) {
  c->handshake_timeout_ms = 3000;
}

/* RFC 6347 §4.1.2.7: a DTLS record that fails authentication is dropped
 * silently, so a Finished made with the wrong key draws no alert (unlike
 * TLS, RFC 5246 §7.4.9): each side retransmits until its handshake
 * timeout, and both report COAP_EHANDSHAKE. */
DTLS_TEST(wrong_psk_fails_the_handshake) {
  open_server_with(true, false, NULL, short_handshake);
  open_client_with(&client, short_handshake);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred("not-the-key", (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  cr_assert_eq(
      client.t->ops->send(client.t, &to_server, (const uint8_t *)"x", 1), 0);
  run_until(has_error, &client, 8000, "the handshake failure");
  cr_assert_eq(client.last_err, COAP_EHANDSHAKE, "%s", client.last_detail);
  cr_assert_str_eq(client.last_detail, "handshake timed out");
  cr_assert(client.last_fatal);
  run_until(has_error, &server, 8000, "the server's failure");
  cr_assert_eq(server.last_err, COAP_EHANDSHAKE, "%s", server.last_detail);
  cr_assert_eq(stats_of(&server).sessions, 0);
  cr_assert_eq(stats_of(&server).handshakes_failed, 1);
  cr_assert_eq(server.received, 0, "nothing decrypted under a wrong key");
}

DTLS_TEST(unknown_identity_fails_with_the_alert) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, "nobody");
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  run_until(has_error, &client, 20000, "the handshake failure");
  /* RFC 4279 §2: unknown_psk_identity. */
  cr_assert_eq(client.last_err, COAP_EALERT, "%s", client.last_detail);
  cr_assert(strstr(client.last_detail, "unknown PSK identity") != NULL,
            "detail: %s", client.last_detail);
  run_until(has_error, &server, 20000, "the server's failure");
  cr_assert_eq(server.last_err, COAP_EHANDSHAKE);
}

static void short_idle(coap__dtls_config *c) {
  c->idle_timeout_ms = 200;
}

DTLS_TEST(idle_session_closes_then_prepare_handshakes_again) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, short_idle);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  run_until(handshakes_done, &client, 20000, "the handshake");
  exchange_both_ways(&client, "before idle");
  run_until(has_error, &client, 2000, "the idle close");
  cr_assert_eq(client.last_err, COAP_ESESSION_CLOSED);
  cr_assert_str_eq(client.last_detail, "idle timeout");
  cr_assert_eq(stats_of(&client).idle_closed, 1);
  cr_assert_eq(stats_of(&client).sessions, 0);
  /* Its close_notify (RFC 5246 §7.2.1) ends the server's side too. */
  run_until(has_error, &server, 2000, "the server's end of the session");
  cr_assert_eq(server.last_err, COAP_ESESSION_CLOSED);
  cr_assert_str_eq(server.last_detail, "close notify");
  cr_assert_eq(stats_of(&server).sessions, 0);
  cr_assert_eq(
      client.t->ops->send(client.t, &to_server, (const uint8_t *)"x", 1),
      COAP_ECREDENTIALS);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  exchange_both_ways(&client, "after idle");
  cr_assert_eq(stats_of(&client).handshakes_done, 2);
  cr_assert_eq(stats_of(&server).handshakes_done, 2);
}

static bool drop_all(void *data, const coap_remote *remote,
                     const uint8_t *bytes, size_t len) {
  (void)data, (void)remote, (void)bytes, (void)len;
  return false;
}

DTLS_TEST(new_client_hello_replaces_the_old_session) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  exchange_both_ways(&client, "first session");
  /* The client forgets without the server hearing it (a reboot). */
  coap__udp6_set_send_filter(coap__dtls_udp6(client.t), drop_all, NULL);
  client.t->ops->forget(client.t, &to_server);
  client.t->ops->flush(client.t);
  coap__udp6_set_send_filter(coap__dtls_udp6(client.t), NULL, NULL);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  exchange_both_ways(&client, "second session");
  /* RFC 6347 §4.2.8: the old one ended once the new one's cookie came
   * back. */
  cr_assert_eq(server.errors, 1);
  cr_assert_eq(server.last_err, COAP_ESESSION_CLOSED);
  cr_assert_str_eq(server.last_detail, "peer started a new handshake");
  coap__dtls_stats ss = stats_of(&server);
  cr_assert_eq(ss.sessions, 1);
  cr_assert_eq(ss.handshakes_done, 2);
  cr_assert_eq(ss.cookies_sent, 2);
}

DTLS_TEST(forget_sends_close_notify) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  exchange_both_ways(&client, "then forget");
  client.t->ops->forget(client.t, &to_server);
  client.t->ops->flush(client.t);
  run_until(has_error, &server, 2000, "the close_notify");
  cr_assert_str_eq(server.last_detail, "close notify");
  cr_assert_eq(client.errors, 0, "forget is asked for, not reported");
  cr_assert_eq(stats_of(&client).sessions, 0);
}

/* Deterministic loss: a 64-bit LCG (Knuth's MMIX constants). */
typedef struct lossy {
  uint64_t state;
  int dropped;
  int passed;
} lossy;

static bool drop_30_percent(void *data, const coap_remote *remote,
                            const uint8_t *bytes, size_t len) {
  lossy *l = data;
  (void)remote, (void)bytes, (void)len;
  l->state =
      l->state * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
  bool pass = (l->state >> 33) % 100 >= 30;
  if (pass)
    l->passed++;
  else
    l->dropped++;
  return pass;
}

static bool both_done(const void *arg) {
  (void)arg;
  return stats_of(&server).handshakes_done > 0 &&
         stats_of(&client).handshakes_done > 0;
}

DTLS_TEST(handshake_completes_with_30_percent_loss, .timeout = 120) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  /* Seeds whose first draws drop 3 of 8 and 2 of 8. */
  static lossy to_server = {UINT64_C(10), 0, 0};
  static lossy to_client = {UINT64_C(24), 0, 0};
  coap__udp6_set_send_filter(coap__dtls_udp6(client.t), drop_30_percent,
                             &to_server);
  coap__udp6_set_send_filter(coap__dtls_udp6(server.t), drop_30_percent,
                             &to_client);
  coap_remote remote = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  uint64_t start = uv_hrtime();
  cr_assert_eq(client.t->ops->prepare(client.t, &remote, &cred, "x"), 0);
  run_until(both_done, NULL, 60000, "the handshake through loss");
  fprintf(stderr,
          "figure: PSK handshake with 30%% loss %.0f ms, %d+%d datagrams "
          "dropped, %d+%d passed\n",
          ms_since(start), to_server.dropped, to_client.dropped,
          to_server.passed, to_client.passed);
  cr_assert_gt(to_server.dropped + to_client.dropped, 0, "the loss happened");
  coap__udp6_set_send_filter(coap__dtls_udp6(client.t), NULL, NULL);
  coap__udp6_set_send_filter(coap__dtls_udp6(server.t), NULL, NULL);
  exchange_both_ways(&client, "after the loss");
}

/* The client's first ClientHello, caught at its socket. */
typedef struct capture {
  uint8_t data[2048];
  size_t len;
} capture;

static bool catch_first(void *data, const coap_remote *remote,
                        const uint8_t *bytes, size_t len) {
  capture *c = data;
  (void)remote;
  if (c->len == 0 && len <= sizeof c->data) {
    memcpy(c->data, bytes, len);
    c->len = len;
  }
  return false;
}

static size_t heap_in_use(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

DTLS_TEST(client_hello_flood_allocates_nothing_per_hello, .timeout = 120) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  static capture hello;
  coap__udp6_set_send_filter(coap__dtls_udp6(client.t), catch_first, &hello);
  coap_remote remote = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &remote, &cred, "x"), 0);
  cr_assert_gt(hello.len, 13);
  cr_assert_eq(hello.data[0], 22, "a handshake record");
  /* Warm up OpenSSL's lazily made state before measuring. */
  struct sockaddr_in6 from = loopback(1);
  coap__dtls_inject(server.t, hello.data, hello.len, &from);
  coap__udp6_set_send_filter(coap__dtls_udp6(server.t), drop_all, NULL);
  size_t before = heap_in_use();
  long ours_before = coap_test_live_allocations;
  uint64_t start = uv_hrtime();
  enum { FLOOD = 10000 };
  for (uint32_t i = 0; i < FLOOD; i++) {
    from.sin6_port = htons((uint16_t)(1024 + i % 60000));
    from.sin6_addr.s6_addr[12] = (uint8_t)(10 + i / 60000);
    from.sin6_addr.s6_addr[13] = (uint8_t)(i >> 16);
    from.sin6_addr.s6_addr[14] = (uint8_t)(i >> 8);
    from.sin6_addr.s6_addr[15] = (uint8_t)i;
    coap__dtls_inject(server.t, hello.data, hello.len, &from);
  }
  double elapsed = ms_since(start);
  size_t after = heap_in_use();
  coap__dtls_stats ss = stats_of(&server);
  fprintf(stderr,
          "figure: ClientHello flood of %d: %.1f us per hello, heap %zd "
          "bytes after vs before\n",
          FLOOD, elapsed * 1000 / FLOOD, (ssize_t)(after - before));
  cr_assert_eq(ss.cookies_sent, FLOOD + 1, "each answered statelessly");
  cr_assert_eq(ss.sessions, 0, "RFC 6347 §4.2.1: nothing before the cookie");
  cr_assert_eq(ss.handshaking, 0);
  cr_assert_eq(coap_test_live_allocations, ours_before,
               "no allocation of ours per hello");
  cr_assert_lt((ssize_t)(after - before), 64 * 1024,
               "memory bounded: %zd bytes", (ssize_t)(after - before));
}

static void four_handshakes(coap__dtls_config *c) {
  c->max_handshakes = 4;
}

typedef struct watch {
  int n;
  uint64_t peak;
} watch;

static bool all_done(const void *arg) {
  watch *w = (watch *)arg;
  coap__dtls_stats ss = stats_of(&server);
  if (ss.handshaking > w->peak)
    w->peak = ss.handshaking;
  for (int i = 0; i < w->n; i++)
    if (!handshakes_done(&clients[i]))
      return false;
  return true;
}

DTLS_TEST(handshakes_bounded_at_max_handshakes, .timeout = 120) {
  open_server_with(true, false, NULL, four_handshakes);
  enum { N = 10 };
  coap_remote remote = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  for (int i = 0; i < N; i++)
    open_client_with(&clients[i], NULL);
  for (int i = 0; i < N; i++)
    cr_assert_eq(clients[i].t->ops->prepare(clients[i].t, &remote, &cred, "x"),
                 0);
  static watch w = {N, 0};
  run_until(all_done, &w, 30000, "every handshake, in turns");
  coap__dtls_stats ss = stats_of(&server);
  fprintf(stderr,
          "note: %d clients, max_handshakes 4: peak %llu handshaking, %llu "
          "hellos dropped\n",
          N, (unsigned long long)w.peak, (unsigned long long)ss.hellos_dropped);
  cr_assert_leq(w.peak, 4);
  cr_assert_gt(ss.hellos_dropped, 0, "the ones beyond were dropped");
  cr_assert_eq(ss.sessions, N, "and came back with retransmissions");
}

static void three_sessions(coap__dtls_config *c) {
  c->max_sessions = 3;
}

static bool three_done(const void *arg) {
  (void)arg;
  return stats_of(&server).handshakes_done >= 3 &&
         stats_of(&server).hellos_dropped >= 1;
}

DTLS_TEST(sessions_bounded_at_max_sessions, .timeout = 60) {
  open_server_with(true, false, NULL, three_sessions);
  coap_remote remote = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  for (int i = 0; i < 4; i++)
    open_client_with(&clients[i], NULL);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(clients[i].t->ops->prepare(clients[i].t, &remote, &cred, "x"),
                 0);
    run_until(handshakes_done, &clients[i], 20000, "a handshake");
  }
  cr_assert_eq(clients[3].t->ops->prepare(clients[3].t, &remote, &cred, "x"),
               0);
  run_until(three_done, NULL, 20000, "the fourth refused");
  cr_assert_eq(stats_of(&server).sessions, 3, "exactly max_sessions");
  cr_assert_eq(stats_of(&clients[3]).handshakes_done, 0);
  /* One goes, and the fourth's retransmitted hello gets in. */
  clients[0].t->ops->forget(clients[0].t, &remote);
  run_until(handshakes_done, &clients[3], 10000, "the fourth, later");
  cr_assert_eq(stats_of(&server).sessions, 3);
}

static void one_session(coap__dtls_config *c) {
  c->max_sessions = 1;
}

DTLS_TEST(client_sessions_bounded_at_max_sessions) {
  open_client_with(&client, one_session);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  coap_remote a = remote_of(&client);
  a.addr = loopback(9);
  coap_remote b = a;
  b.addr = loopback(10);
  cr_assert_eq(client.t->ops->prepare(client.t, &a, &cred, "x"), 0);
  cr_assert_eq(client.t->ops->prepare(client.t, &a, &cred, "x"), 0,
               "the same peer again is the same session");
  cr_assert_eq(client.t->ops->prepare(client.t, &b, &cred, "x"), COAP_ELIMIT);
  cr_assert_eq(stats_of(&client).sessions, 1);
}

DTLS_TEST(no_credentials_no_session) {
  open_client_with(&client, NULL);
  coap_remote a = remote_of(&client);
  a.addr = loopback(9);
  cr_assert_eq(client.t->ops->send(client.t, &a, (const uint8_t *)"x", 1),
               COAP_ECREDENTIALS, "never in the clear");
  cr_assert_eq(client.t->ops->prepare(client.t, &a, NULL, "x"),
               COAP_ECREDENTIALS);
  coap__credential empty = {0};
  cr_assert_eq(client.t->ops->prepare(client.t, &a, &empty, "x"),
               COAP_ECREDENTIALS);
  coap__credential no_identity = psk_cred("key", "");
  cr_assert_eq(client.t->ops->prepare(client.t, &a, &no_identity, "x"),
               COAP_ECREDENTIALS);
  coap__credential missing = cert_cred("/nonexistent/ca.pem", NULL, NULL);
  cr_assert_eq(client.t->ops->prepare(client.t, &a, &missing, "127.0.0.1"),
               COAP_ECREDENTIALS);
  cr_assert_eq(stats_of(&client).sessions, 0);
}

DTLS_TEST(listen_needs_server_credentials) {
  coap__dtls_config config;
  coap__dtls_config_default(&config);
  config.listen = true;
  struct sockaddr_in6 bind = loopback(0);
  char err[128];
  coap__transport *t = NULL;
  cr_assert_eq(coap__dtls_open(&loop, &bind, &config, &callbacks, &server, &t,
                               err, sizeof err),
               COAP_ECREDENTIALS);
  cr_assert(strstr(err, "credentials") != NULL, "%s", err);
  coap_credentials *c;
  cr_assert_eq(coap_credentials_new(&c), 0);
  coap_credential bad = {0};
  bad.certfile = "/nonexistent/cert.pem";
  bad.keyfile = "/nonexistent/key.pem";
  cr_assert_eq(coap_credentials_add(c, "coaps://*", &bad), 0);
  config.server_credentials = c;
  cr_assert_eq(coap__dtls_open(&loop, &bind, &config, &callbacks, &server, &t,
                               err, sizeof err),
               COAP_ECREDENTIALS);
  cr_assert(strstr(err, "/nonexistent/cert.pem") != NULL, "%s", err);
  coap_credentials_unref(c);
}

DTLS_TEST(garbage_datagrams_are_dropped) {
  open_server_with(true, false, NULL, NULL);
  struct sockaddr_in6 from = loopback(7);
  static const uint8_t short_record[] = {22, 0xfe, 0xfd, 0, 0};
  coap__dtls_inject(server.t, short_record, sizeof short_record, &from);
  uint8_t junk[300];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (uint8_t)(i * 7);
  coap__dtls_inject(server.t, junk, sizeof junk, &from);
  coap__dtls_inject(server.t, NULL, 0, &from);
  /* A ClientHello header with a length running past the datagram. */
  uint8_t hello[40] = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1};
  coap__dtls_inject(server.t, hello, sizeof hello, &from);
  coap__dtls_stats ss = stats_of(&server);
  cr_assert_eq(ss.sessions, 0);
  cr_assert_geq(ss.records_dropped, 2);
  cr_assert_eq(server.received, 0);
  cr_assert_eq(server.errors, 0);
}

static uint64_t pair_bytes;

DTLS_TEST(memory_per_session, .timeout = 60) {
  open_server_with(true, false, NULL, NULL);
  enum { N = PEERS_MAX };
  for (int i = 0; i < N; i++)
    open_client_with(&clients[i], NULL);
  coap_remote remote = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  /* One first, so that OpenSSL's lazily made state is not counted. */
  cr_assert_eq(clients[0].t->ops->prepare(clients[0].t, &remote, &cred, "x"),
               0);
  run_until(handshakes_done, &clients[0], 20000, "the first handshake");
  exchange_both_ways(&clients[0], "warm");
  size_t before = heap_in_use();
  for (int i = 1; i < N; i++) {
    cr_assert_eq(clients[i].t->ops->prepare(clients[i].t, &remote, &cred, "x"),
                 0);
    run_until(handshakes_done, &clients[i], 20000, "a handshake");
    exchange_both_ways(&clients[i], "hello");
  }
  size_t after = heap_in_use();
  pair_bytes = (after - before) / (N - 1);
  fprintf(stderr,
          "figure: %llu bytes of heap per established PSK session pair "
          "(client and server side, mallinfo2)\n",
          (unsigned long long)pair_bytes);
  cr_assert_lt(pair_bytes, 256 * 1024);
  cr_assert_eq(stats_of(&server).sessions, N);
}

static bool settled(const void *arg) {
  (void)arg;
  return client.errors > 0 || server.errors > 0 ||
         (client.t != NULL && server.t != NULL && server.received > 0);
}

/* nghttp2's failmalloc idea: the Nth allocation of ours fails, for every
 * N along opening both ends, a handshake and a message; nothing crashes
 * and nothing leaks. */
DTLS_TEST(allocation_failures_never_leak, .timeout = 120) {
  int completed = 0;
  for (long n = 0; n < 40; n++) {
    memset(&server, 0, sizeof server);
    memset(&client, 0, sizeof client);
    coap_credentials *creds = server_credentials(true, false, NULL);
    coap_test_fail_after = n;
    coap__dtls_config config;
    coap__dtls_config_default(&config);
    config.listen = true;
    config.server_credentials = creds;
    struct sockaddr_in6 bind = loopback(0);
    int rc = coap__dtls_open(&loop, &bind, &config, &callbacks, &server,
                             &server.t, NULL, 0);
    cr_assert(rc == 0 || rc == COAP_ENOMEM, "%s", coap_err_name(rc));
    coap__dtls_config_default(&config);
    int rc2 = coap__dtls_open(&loop, &bind, &config, &callbacks, &client,
                              &client.t, NULL, 0);
    cr_assert(rc2 == 0 || rc2 == COAP_ENOMEM, "%s", coap_err_name(rc2));
    if (rc < 0)
      server.t = NULL;
    if (rc2 < 0)
      client.t = NULL;
    if (server.t != NULL && client.t != NULL) {
      cr_assert_eq(server.t->ops->local_address(server.t, &server.addr), 0);
      coap_remote to_server = remote_of(&server);
      coap__credential cred =
          psk_cred((const char *)PSK, (const char *)IDENTITY);
      rc = client.t->ops->prepare(client.t, &to_server, &cred, "x");
      cr_assert(rc == 0 || rc == COAP_ENOMEM, "%s", coap_err_name(rc));
      if (rc == 0) {
        rc = client.t->ops->send(client.t, &to_server, (const uint8_t *)"m", 1);
        /* COAP_ECREDENTIALS: the session already ended (its timer could
         * not be scheduled), which the loop reports. */
        cr_assert(rc == 0 || rc == COAP_ENOMEM || rc == COAP_ECREDENTIALS, "%s",
                  coap_err_name(rc));
        timed_out = false;
        uv_timer_start(&safety, on_safety, 3000, 0);
        while (!settled(NULL) && !timed_out)
          uv_run(&loop, UV_RUN_ONCE);
        uv_timer_stop(&safety);
        if (server.received > 0)
          completed++;
      }
    }
    coap_test_fail_after = -1;
    coap_credentials_unref(creds);
    close_peer(&server);
    close_peer(&client);
    for (int i = 0; i < 100 && uv_loop_alive(&loop); i++)
      uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert_eq(coap_test_live_allocations, 0,
                 "leak when allocation %ld fails", n);
  }
  cr_assert_gt(completed, 0, "some runs got through");
  cr_assert_lt(completed, 40, "and the early ones met a failure");
}

/* What an off-path attacker can send in a peer's name: an empty
 * datagram, a short one, a record of junk in epoch 1, and a fresh
 * ClientHello without a cookie.  None ends the session (RFC 6347
 * §4.1.2.7: bad records are dropped; §4.2.8: a new ClientHello replaces
 * a session only once its cookie came back). */
DTLS_TEST(spoofed_datagrams_leave_the_session) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  open_client_with(&clients[1], NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  exchange_both_ways(&client, "established");
  static capture hello;
  coap__udp6_set_send_filter(coap__dtls_udp6(clients[1].t), catch_first,
                             &hello);
  cr_assert_eq(clients[1].t->ops->prepare(clients[1].t, &to_server, &cred, "x"),
               0);
  cr_assert_gt(hello.len, 13);
  coap__dtls_inject(server.t, NULL, 0, &client.addr);
  coap__dtls_inject(server.t, (const uint8_t *)"\x17\xfe\xfd", 3, &client.addr);
  uint8_t junk[64] = {23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 51};
  coap__dtls_inject(server.t, junk, sizeof junk, &client.addr);
  coap__dtls_inject(server.t, hello.data, hello.len, &client.addr);
  cr_assert_eq(server.errors, 0);
  cr_assert_eq(stats_of(&server).sessions, 1);
  exchange_both_ways(&client, "still established");
  cr_assert_eq(server.errors, 0);
  cr_assert_eq(stats_of(&server).handshakes_done, 1);
}

DTLS_TEST(server_closes_an_idle_session) {
  open_server_with(true, false, NULL, short_idle);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  exchange_both_ways(&client, "then silence");
  uint64_t start = uv_now(&loop);
  run_until(has_error, &server, 20000, "the server's idle close");
  cr_assert_geq(uv_now(&loop) - start, 150, "not before idle_timeout_ms");
  cr_assert_eq(server.last_err, COAP_ESESSION_CLOSED);
  cr_assert_str_eq(server.last_detail, "idle timeout");
  cr_assert_eq(stats_of(&server).idle_closed, 1);
  run_until(has_error, &client, 20000, "the client hearing of it");
  cr_assert_str_eq(client.last_detail, "close notify");
  cr_assert_eq(stats_of(&client).sessions, 0);
}

/* Catches the client's second datagram (its ClientHello with the
 * cookie) and drops it; the others pass. */
typedef struct second {
  int seen;
  capture c;
} second;

static bool catch_second(void *data, const coap_remote *remote,
                         const uint8_t *bytes, size_t len) {
  second *s = data;
  (void)remote;
  if (++s->seen != 2)
    return true;
  if (len <= sizeof s->c.data) {
    memcpy(s->c.data, bytes, len);
    s->c.len = len;
  }
  return false;
}

static void hold_back_cookie_hello(second *held) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  coap__udp6_set_send_filter(coap__dtls_udp6(client.t), catch_second, held);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  timed_out = false;
  uv_timer_start(&safety, on_safety, 20000, 0);
  while (held->c.len == 0 && !timed_out)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&safety);
  cr_assert_gt(held->c.len, 13, "the ClientHello with the cookie");
  cr_assert_eq(stats_of(&server).cookies_sent, 1);
}

/* RFC 6347 §4.2.1: the secret changes; a cookie made under the one
 * before still verifies. */
DTLS_TEST(cookie_from_before_a_secret_change_verifies) {
  static second held;
  hold_back_cookie_hello(&held);
  coap__dtls_test_rotate_cookie_secret(server.t);
  coap__dtls_inject(server.t, held.c.data, held.c.len, &client.addr);
  cr_assert_eq(stats_of(&server).sessions, 1);
  cr_assert_eq(stats_of(&server).cookies_sent, 1);
  run_until(handshakes_done, &client, 20000, "the handshake");
}

/* Two changes later it no longer does: the server asks again (a fresh
 * HelloVerifyRequest) and keeps nothing.  (An OpenSSL client answers no
 * second HelloVerifyRequest and retries the old cookie until its
 * handshake times out: why the previous secret stays valid.) */
DTLS_TEST(cookie_from_two_secrets_ago_is_refused) {
  static second held;
  hold_back_cookie_hello(&held);
  coap__dtls_test_rotate_cookie_secret(server.t);
  coap__dtls_test_rotate_cookie_secret(server.t);
  coap__dtls_inject(server.t, held.c.data, held.c.len, &client.addr);
  cr_assert_eq(stats_of(&server).sessions, 0);
  cr_assert_eq(stats_of(&server).cookies_sent, 2);
  cr_assert_eq(stats_of(&server).handshaking, 0);
}
