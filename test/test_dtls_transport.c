/*
 * The DTLS transport (lib/transports/dtls.c) on its own: handshakes with
 * PSK and certificates, data both ways, every way a session fails or
 * ends, loss during the handshake, and what a spoofer can send.
 */
#define DTLS_SUITE dtls_transport
#include "dtls_fixture.h"
#include "transports/dtls-internal.h"

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
  for (int i = 0; i < 1000 && rc == 0; i++)
    if ((rc = client.t->ops->send(client.t, &to_server, msg, sizeof msg)) == 0)
      ok++;
  cr_assert_eq(rc, COAP_ELIMIT);
  cr_assert_eq(ok, COAP__DTLS_PENDING_MAX, "that many messages are held");
}

DTLS_TEST(pending_bytes_bounded_while_handshaking) {
  open_server_with(true, false, NULL, NULL);
  open_client_with(&client, NULL);
  coap_remote to_server = remote_of(&server);
  coap__credential cred = psk_cred((const char *)PSK, (const char *)IDENTITY);
  cr_assert_eq(client.t->ops->prepare(client.t, &to_server, &cred, "x"), 0);
  /* 1232 bytes: the most a record takes at the assumed MTU (1280 less
   * the IPv6 and UDP headers); COAP__DTLS_PENDING_BYTES / 1232 of them
   * fit, the next does not. */
  static uint8_t msg[1232];
  const int fit = COAP__DTLS_PENDING_BYTES / (int)sizeof msg;
  _Static_assert(COAP__DTLS_PENDING_BYTES / 1232 < COAP__DTLS_PENDING_MAX,
                 "the byte limit is the one reached here");
  for (int i = 0; i < fit; i++)
    cr_assert_eq(client.t->ops->send(client.t, &to_server, msg, sizeof msg), 0);
  cr_assert_eq(client.t->ops->send(client.t, &to_server, msg, sizeof msg),
               COAP_ELIMIT);
  cr_assert_eq(client.t->ops->send(client.t, &to_server, msg, sizeof msg + 0),
               COAP_ELIMIT);
  static uint8_t too_big[1233];
  cr_assert_eq(
      client.t->ops->send(client.t, &to_server, too_big, sizeof too_big),
      COAP_EMSGSIZE);
  /* All of them arrive once the handshake is done. */
  timed_out = false;
  uv_timer_start(&safety, on_safety, 20000, 0);
  while (server.received < fit && !timed_out)
    uv_run(&loop, UV_RUN_ONCE);
  uv_timer_stop(&safety);
  cr_assert_eq(server.received, fit);
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
