/*
 * coaps end to end (RFC 7252 §9.1): a server context with a DTLS endpoint
 * and a client context, on one loop over loopback, with PSK credentials
 * as aiocoap configures them.
 */
#include "blockwise_fixture.h"
#include "observation_fixture.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "secretPSK"
#define IDENTITY "client_Identity"

static char seen_identity[64];

static int who_get(coap_resource *res, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)res;
  (void)later;
  seen_identity[0] = '\0';
  coap_remote_peer_identity(&req->remote, seen_identity, sizeof seen_identity);
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  return coap_message_set_payload_string(resp,
                                         coap_remote_scheme(&req->remote));
}

static const coap_resource_methods who = {.render_get = who_get};

static void log_to_stderr(coap_log_level level, const char *message,
                          void *user_data) {
  (void)level;
  fprintf(stderr, "%s: %s\n", (const char *)user_data, message);
}

static void add_psk(coap_credentials *c, const char *pattern, const char *key,
                    const char *identity) {
  coap_credential cred = {
      .psk = (const uint8_t *)key,
      .psk_len = strlen(key),
      .client_identity = (const uint8_t *)identity,
      .client_identity_len = strlen(identity),
  };
  int rc = coap_credentials_add(c, pattern, &cred);
  cr_assert_eq(rc, 0);
}

/* A coap fixture whose server also has a coaps endpoint that knows
 * IDENTITY with KEY, and whose client holds client_key for every coaps URI;
 * fx->base becomes the coaps endpoint's. */
static void start_dtls(fixture *fx, blob *b, coap_context_config *sc,
                       coap_context_config *cc, const char *client_key) {
  coap_credentials *server_creds, *client_creds;
  cr_assert_eq(coap_credentials_new(&server_creds), 0);
  cr_assert_eq(coap_credentials_new(&client_creds), 0);
  add_psk(server_creds, ":client", KEY, IDENTITY);
  if (client_key != NULL)
    add_psk(client_creds, "coaps://*", client_key, IDENTITY);
  sc->server_credentials = server_creds;
  cc->client_credentials = client_creds;
  start_pair(fx, sc, cc);
  /* The contexts hold references of their own. */
  coap_credentials_unref(server_creds);
  coap_credentials_unref(client_creds);
  char err[160] = "";
  int rc = coap_context_bind(fx->server, "coaps://[::1]:0", err, sizeof err);
  cr_assert_eq(rc, 0, "bind: %s", err);
  struct sockaddr_in6 addr;
  rc = coap_context_endpoint_address(fx->server, "coaps", 0, &addr);
  cr_assert_eq(rc, 0);
  snprintf(fx->base, sizeof fx->base, "coaps://[::1]:%u",
           ntohs(addr.sin6_port));
  fixture_add(fx, "who", &who, NULL);
  if (b != NULL) {
    coap_resource *res;
    cr_assert_eq(coap_resource_new_methods(&blob_methods, b, &res), 0);
    cr_assert_eq(coap_site_add_resource_path(fx->site, "blob", res), 0);
    coap_resource_unref(res);
  }
}

/* Sends msg and waits for it to end; its error, the response in *resp,
 * and the request's error detail copied into detail. */
static int request_detail(fixture *fx, coap_message *msg, coap_message **resp,
                          char *detail, size_t cap) {
  coap_request *req = NULL;
  int rc = coap_context_request(fx->client, msg, NULL, &req);
  if (rc < 0)
    return rc;
  coap_future *f = coap_request_response(req);
  bool ok = wait_future(fx, f, 20000);
  cr_assert(ok, "the request ended");
  rc = coap_future_error(f);
  if (rc == 0 && resp != NULL)
    *resp = coap_future_take_result(f);
  const char *d = coap_request_error_detail(req);
  if (detail != NULL)
    snprintf(detail, cap, "%s", d != NULL ? d : "");
  coap_request_unref(req);
  return rc;
}

Test(dtls, psk_get) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  start_dtls(&fx, NULL, &sc, &cc, KEY);
  coap_message *resp = NULL;
  int rc = request_detail(&fx, fixture_message(&fx, COAP_CODE_GET, "/who"),
                          &resp, NULL, 0);
  cr_assert_eq(rc, 0);
  payload_is(resp, "coaps");
  cr_assert_str_eq(coap_remote_scheme(&resp->remote), "coaps");
  char uri[128];
  cr_assert_gt(coap_message_get_request_uri(resp, uri, sizeof uri), 0);
  cr_assert(strncmp(uri, "coaps://", 8) == 0, "uri %s", uri);
  coap_message_free(resp);
  cr_assert_str_eq(seen_identity, IDENTITY);
  /* The second request rides the same session. */
  rc = request_detail(&fx, fixture_message(&fx, COAP_CODE_GET, "/who"), &resp,
                      NULL, 0);
  cr_assert_eq(rc, 0);
  coap_message_free(resp);
  fixture_stop(&fx);
}

Test(dtls, wrong_key_fails_the_request_with_the_alert) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  /* A DTLS server drops a record it cannot decrypt without a word (RFC
   * 6347 §4.1.2.7), so a client with the wrong PSK learns of it when its
   * handshake times out. */
  cc.dtls_handshake_timeout_ms = 3000;
  start_dtls(&fx, NULL, &sc, &cc, "not-the-key");
  char detail[160];
  int rc = request_detail(&fx, fixture_message(&fx, COAP_CODE_GET, "/who"),
                          NULL, detail, sizeof detail);
  cr_assert(rc == COAP_EALERT || rc == COAP_EHANDSHAKE, "rc %d (%s)", rc,
            coap_err_name(rc));
  cr_assert_neq(detail[0], '\0', "a reason is given");
  coap_test_note("wrong key: %s: %s", coap_strerror(rc), detail);
  fixture_stop(&fx);
}

Test(dtls, no_credentials_never_goes_in_the_clear) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  start_dtls(&fx, NULL, &sc, &cc, NULL);
  char detail[160];
  int rc = request_detail(&fx, fixture_message(&fx, COAP_CODE_GET, "/who"),
                          NULL, detail, sizeof detail);
  cr_assert_eq(rc, COAP_ECREDENTIALS);
  cr_assert(strstr(detail, fx.base) != NULL, "detail names the URI: %s",
            detail);
  coap_context_stats st;
  coap_context_get_stats(fx.server, &st);
  cr_assert_eq(st.datagrams_received, 0, "nothing reached the server");
  fixture_stop(&fx);
}

Test(dtls, block2_of_256_kib_over_one_session) {
  fixture fx;
  blob b = {0};
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  start_dtls(&fx, &b, &sc, &cc, KEY);
  blob_set(&b, 256 * 1024);
  coap_message *resp = NULL;
  int rc = request_detail(&fx, fixture_message(&fx, COAP_CODE_GET, "/blob"),
                          &resp, NULL, 0);
  cr_assert_eq(rc, 0);
  payload_is_pattern(resp, 256 * 1024);
  coap_message_free(resp);
  stop(&fx, &b);
}

Test(dtls, observe_over_dtls) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  reset_resource_state();
  if (getenv("DTLS_TEST_LOG") != NULL) {
    sc.log = cc.log = log_to_stderr;
    sc.log_level = cc.log_level = COAP_LOG_DEBUG;
    sc.log_user_data = "server";
    cc.log_user_data = "client";
  }
  start_dtls(&fx, NULL, &sc, &cc, KEY);
  coap_resource *res = add_observable(&fx, "obs");
  set_state("one");
  coap_observation *obs = NULL;
  coap_request *req = observe(&fx, "/obs", &obs);
  payload_is(first_response(req), "one");
  cr_assert_str_eq(coap_remote_scheme(&first_response(req)->remote), "coaps");
  wait_observers(&fx, 1, 2000);
  for (int i = 0; i < 3; i++) {
    char text[16];
    snprintf(text, sizeof text, "n%d", i);
    set_state(text);
    cr_assert_eq(coap_observable_resource_updated_state(res, NULL), 1);
    coap_future *f = next_notification(&fx, obs, 5000);
    cr_assert_eq(coap_future_error(f), 0);
    payload_is(coap_future_result(f), text);
    coap_future_unref(f);
  }
  coap_observation_cancel(obs);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}

Test(dtls, idle_session_closes_and_the_next_request_handshakes_again) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.dtls_idle_timeout_ms = 300;
  start_dtls(&fx, NULL, &sc, &cc, KEY);
  coap_message *resp = NULL;
  int rc = request_detail(&fx, fixture_message(&fx, COAP_CODE_GET, "/who"),
                          &resp, NULL, 0);
  cr_assert_eq(rc, 0);
  coap_message_free(resp);
  run_for(&fx, 800); /* the server closes the session (close_notify) */
  rc = request_detail(&fx, fixture_message(&fx, COAP_CODE_GET, "/who"), &resp,
                      NULL, 0);
  cr_assert_eq(rc, 0);
  payload_is(resp, "coaps");
  coap_message_free(resp);
  fixture_stop(&fx);
}

Test(dtls, observation_ends_with_its_session) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.dtls_idle_timeout_ms = 400;
  reset_resource_state();
  start_dtls(&fx, NULL, &sc, &cc, KEY);
  add_observable(&fx, "obs");
  set_state("one");
  coap_observation *obs = NULL;
  coap_request *req = observe(&fx, "/obs", &obs);
  wait_observers(&fx, 1, 2000);
  /* Nothing changes: the session goes idle, the server closes it, and
   * both sides let the observation go. */
  coap_future *f = next_notification(&fx, obs, 5000);
  cr_assert(coap_future_done(f));
  int err = coap_future_error(f);
  cr_assert(err == COAP_ESESSION_CLOSED || err == COAP_EALERT,
            "err %d (%s)", err, coap_err_name(err));
  coap_future_unref(f);
  wait_observers(&fx, 0, 2000);
  coap_observation_unref(obs);
  coap_request_unref(req);
  fixture_stop(&fx);
}

/* The application's PSK lookup: "cb-user" gets "cb-key", IDENTITY is
 * refused although the server credentials know it, anything else is left
 * to the credentials. */
static int lookup_calls;

static int psk_lookup(const uint8_t *identity, size_t len, uint8_t *key,
                      size_t cap, void *user_data) {
  cr_assert_eq(user_data, &lookup_calls);
  lookup_calls++;
  cr_assert_eq(identity[len], '\0', "NUL-terminated");
  if (len == 7 && memcmp(identity, "cb-user", 7) == 0 && cap >= 6) {
    memcpy(key, "cb-key", 6);
    return 6;
  }
  if (len == strlen(IDENTITY) && memcmp(identity, IDENTITY, len) == 0)
    return COAP_EFORBIDDEN;
  return 0;
}

Test(dtls, psk_chosen_by_the_application) {
  fixture fx;
  coap_context_config sc, cc;
  config_for_test(&sc);
  config_for_test(&cc);
  sc.dtls_psk_lookup = psk_lookup;
  sc.dtls_psk_lookup_data = &lookup_calls;
  cc.dtls_handshake_timeout_ms = 3000;
  lookup_calls = 0;
  /* The client's map holds IDENTITY (refused by the lookup) for every
   * coaps URI, and cb-user for the one used second. */
  start_dtls(&fx, NULL, &sc, &cc, KEY);
  char detail[160];
  int rc = request_detail(&fx, fixture_message(&fx, COAP_CODE_GET, "/who"),
                          NULL, detail, sizeof detail);
  cr_assert(rc == COAP_EALERT || rc == COAP_EHANDSHAKE, "refused: rc %d (%s)",
            rc, coap_err_name(rc));
  coap_test_note("refused identity: %s: %s", coap_strerror(rc), detail);
  cr_assert_geq(lookup_calls, 1);
  char pattern[96];
  snprintf(pattern, sizeof pattern, "%s/who", fx.base);
  add_psk(coap_context_client_credentials(fx.client), pattern, "cb-key",
          "cb-user");
  coap_message *resp = NULL;
  rc = request_detail(&fx, fixture_message(&fx, COAP_CODE_GET, "/who"), &resp,
                      NULL, 0);
  cr_assert_eq(rc, 0);
  payload_is(resp, "coaps");
  coap_message_free(resp);
  cr_assert_str_eq(seen_identity, "cb-user");
  fixture_stop(&fx);
}

Test(dtls, a_lookup_alone_lets_a_server_bind) {
  fixture fx;
  coap_context_config sc;
  config_for_test(&sc);
  sc.dtls_psk_lookup = psk_lookup;
  sc.dtls_psk_lookup_data = &lookup_calls;
  start_pair(&fx, &sc, NULL);
  char err[160] = "";
  int rc = coap_context_bind(fx.server, "coaps://[::1]:0", err, sizeof err);
  cr_assert_eq(rc, 0, "bind: %s", err);
  fixture_stop(&fx);
}
