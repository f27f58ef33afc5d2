/*
 * The DTLS transport's bounds: a ClientHello flood answered statelessly
 * (RFC 6347 §4.2.1), handshakes and sessions held at their limits, memory
 * per session, the cookie secret's changes, allocation failures, and
 * open and prepare refusing what they cannot use.
 */
#define DTLS_SUITE dtls_limits
#include "dtls_fixture.h"

#include <malloc.h>

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
