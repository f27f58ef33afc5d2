/*
 * aiocoap.credentials: the map, its checks, the three lookups the secure
 * transports make, and the JSON loader in aiocoap's format.
 */
#include "test_common.h"

#include "credentials-internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static coap_credentials *new_map(void) {
  coap_credentials *c = NULL;
  cr_assert_eq(coap_credentials_new(&c), 0);
  cr_assert_neq(c, NULL);
  return c;
}

static coap_credential psk_cred(const char *psk, const char *id) {
  coap_credential cred = {
      .psk = (const uint8_t *)psk,
      .psk_len = psk ? strlen(psk) : 0,
      .client_identity = (const uint8_t *)id,
      .client_identity_len = id ? strlen(id) : 0,
  };
  return cred;
}

static void add_psk(coap_credentials *c, const char *pattern, const char *psk,
                    const char *id) {
  coap_credential cred = psk_cred(psk, id);
  cr_assert_eq(coap_credentials_add(c, pattern, &cred), 0, "%s", pattern);
}

static void assert_bytes(const uint8_t *got, size_t got_len, const char *want) {
  cr_assert_eq(got_len, strlen(want));
  cr_assert(memcmp(got, want, got_len) == 0, "bytes differ from %s", want);
}

/* The PSK of the credential found for uri, or NULL. */
static const char *psk_for(const coap_credentials *c, const char *uri) {
  static char text[64];
  const coap__credential *cred = coap__credentials_for_uri(c, uri);
  if (cred == NULL)
    return NULL;
  cr_assert_lt(cred->psk_len, sizeof(text));
  memcpy(text, cred->psk, cred->psk_len);
  text[cred->psk_len] = '\0';
  return text;
}

COAP_TEST(credentials_map, null_handling) {
  coap_credentials *c = new_map();
  coap_credential cred = psk_cred("k", "id");

  cr_assert_eq(coap_credentials_new(NULL), COAP_EINVAL);
  cr_assert_eq(coap_credentials_ref(NULL), NULL);
  coap_credentials_unref(NULL);
  cr_assert_eq(coap_credentials_count(NULL), 0u);
  cr_assert_eq(coap_credentials_add(NULL, "coaps://h", &cred), COAP_EINVAL);
  cr_assert_eq(coap_credentials_add(c, NULL, &cred), COAP_EINVAL);
  cr_assert_eq(coap_credentials_add(c, "coaps://h", NULL), COAP_EINVAL);
  cr_assert_eq(coap_credentials_remove(NULL, "x"), COAP_EINVAL);
  cr_assert_eq(coap_credentials_remove(c, NULL), COAP_EINVAL);
  cr_assert_eq(coap__credentials_for_uri(NULL, "coaps://h"), NULL);
  cr_assert_eq(coap__credentials_for_uri(c, NULL), NULL);
  cr_assert_eq(coap__credentials_for_identity(NULL, (const uint8_t *)"i", 1),
               NULL);
  cr_assert_eq(coap__credentials_for_identity(c, NULL, 0), NULL);
  cr_assert_eq(coap__credentials_certificate(NULL), NULL);
  cr_assert_eq(coap__credentials_get(NULL, "x"), NULL);
  cr_assert_eq(coap_credentials_load_json(NULL, "{}", NULL, 0), COAP_EINVAL);
  cr_assert_eq(coap_credentials_load_json(c, NULL, NULL, 0), COAP_EINVAL);
  cr_assert_eq(coap_credentials_load_json_file(NULL, "x", NULL, 0),
               COAP_EINVAL);
  cr_assert_eq(coap_credentials_load_json_file(c, NULL, NULL, 0), COAP_EINVAL);
  cr_assert_eq(coap_credentials_count(c), 0u);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, exact_pattern_matches_only_its_uri) {
  coap_credentials *c = new_map();

  add_psk(c, "coaps://h/a", "exact", "id");
  cr_assert_str_eq(psk_for(c, "coaps://h/a"), "exact");
  cr_assert_eq(psk_for(c, "coaps://h/ab"), NULL);
  cr_assert_eq(psk_for(c, "coaps://h/"), NULL);
  cr_assert_eq(psk_for(c, ""), NULL);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, trailing_star_matches_by_prefix) {
  coap_credentials *c = new_map();

  add_psk(c, "coaps://h/*", "host", "id");
  cr_assert_str_eq(psk_for(c, "coaps://h/"), "host");
  cr_assert_str_eq(psk_for(c, "coaps://h/a/b?q"), "host");
  cr_assert_eq(psk_for(c, "coaps://h"), NULL);
  cr_assert_eq(psk_for(c, "coaps://hx/a"), NULL);
  cr_assert_eq(psk_for(c, "coap://h/a"), NULL);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, longest_pattern_wins) {
  coap_credentials *c = new_map();

  /* Added shortest last, so insertion order cannot be what decides. */
  add_psk(c, "coaps://h/a/*", "deep", "id");
  add_psk(c, "coaps://h/*", "host", "id");
  add_psk(c, "coaps://*", "any", "id");
  cr_assert_str_eq(psk_for(c, "coaps://h/a/x"), "deep");
  cr_assert_str_eq(psk_for(c, "coaps://h/b"), "host");
  cr_assert_str_eq(psk_for(c, "coaps://other/"), "any");
  cr_assert_eq(psk_for(c, "coap://h/a/x"), NULL);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, exact_beats_wildcard_with_the_same_text) {
  coap_credentials *c = new_map();

  add_psk(c, "coaps://h/a*", "wild", "id");
  add_psk(c, "coaps://h/a", "exact", "id");
  add_psk(c, "coaps://h/*", "short", "id");
  cr_assert_str_eq(psk_for(c, "coaps://h/a"), "exact");
  cr_assert_str_eq(psk_for(c, "coaps://h/ab"), "wild");
  cr_assert_str_eq(psk_for(c, "coaps://h/b"), "short");
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, labels_never_match_uris) {
  coap_credentials *c = new_map();

  add_psk(c, ":client", "label", "id");
  add_psk(c, ":*", "star", "id");
  cr_assert_eq(psk_for(c, ":client"), NULL);
  cr_assert_eq(psk_for(c, ":x"), NULL);
  cr_assert_eq(psk_for(c, "coaps://h/"), NULL);
  /* ... but they are there, by name. */
  cr_assert_neq(coap__credentials_get(c, ":client"), NULL);
  cr_assert_eq(coap_credentials_count(c), 2u);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, identity_lookup_finds_labels_and_uri_entries) {
  coap_credentials *c = new_map();
  const coap__credential *cred;
  coap_credential ca_only = {.cafile = "ca.pem"};

  cr_assert_eq(coap_credentials_add(c, "coaps://*", &ca_only), 0);
  add_psk(c, ":alice", "alice-key", "alice");
  add_psk(c, "coaps://bob/*", "bob-key", "bob");
  cred = coap__credentials_for_identity(c, (const uint8_t *)"alice", 5);
  cr_assert_neq(cred, NULL);
  assert_bytes(cred->psk, cred->psk_len, "alice-key");
  cred = coap__credentials_for_identity(c, (const uint8_t *)"bob", 3);
  cr_assert_neq(cred, NULL);
  assert_bytes(cred->psk, cred->psk_len, "bob-key");
  /* A prefix or an extension of an identity is another identity. */
  cr_assert_eq(coap__credentials_for_identity(c, (const uint8_t *)"alic", 4),
               NULL);
  cr_assert_eq(coap__credentials_for_identity(c, (const uint8_t *)"alicex", 6),
               NULL);
  cr_assert_eq(coap__credentials_for_identity(c, (const uint8_t *)"", 0), NULL);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, label_psk_without_identity_is_not_found_by_one) {
  coap_credentials *c = new_map();
  coap_credential cred = psk_cred("k", NULL);

  cr_assert_eq(coap_credentials_add(c, ":server", &cred), 0);
  cr_assert_eq(coap__credentials_for_identity(c, (const uint8_t *)"k", 1),
               NULL);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, certificate_lookup_takes_first_with_cert_and_key) {
  coap_credentials *c = new_map();
  coap_credential ca = {.cafile = "ca.pem"};
  coap_credential first = {.certfile = "a.pem", .keyfile = "a.key"};
  coap_credential second = {.certfile = "b.pem", .keyfile = "b.key"};
  const coap__credential *cred;

  cr_assert_eq(coap__credentials_certificate(c), NULL);
  add_psk(c, ":client", "k", "id");
  cr_assert_eq(coap_credentials_add(c, "coaps://*", &ca), 0);
  cr_assert_eq(coap__credentials_certificate(c), NULL);
  cr_assert_eq(coap_credentials_add(c, ":server-certificate", &first), 0);
  cr_assert_eq(coap_credentials_add(c, ":other", &second), 0);
  cred = coap__credentials_certificate(c);
  cr_assert_neq(cred, NULL);
  cr_assert_str_eq(cred->certfile, "a.pem");
  cr_assert_str_eq(cred->keyfile, "a.key");
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, the_server_certificate_label_wins) {
  coap_credentials *c = new_map();
  coap_credential first = {.certfile = "a.pem", .keyfile = "a.key"};
  coap_credential labelled = {.certfile = "s.pem", .keyfile = "s.key"};
  coap_credential ca_only = {.cafile = "ca.pem"};

  cr_assert_eq(coap_credentials_add(c, ":first", &first), 0);
  /* A label without certificate and key does not count. */
  cr_assert_eq(
      coap_credentials_add(c, COAP_CREDENTIALS_SERVER_CERTIFICATE, &ca_only),
      0);
  cr_assert_str_eq(coap__credentials_certificate(c)->certfile, "a.pem");
  cr_assert_eq(
      coap_credentials_add(c, COAP_CREDENTIALS_SERVER_CERTIFICATE, &labelled),
      0);
  cr_assert_str_eq(coap__credentials_certificate(c)->certfile, "s.pem");
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, add_copies_what_it_is_given) {
  coap_credentials *c = new_map();
  char psk[] = "secret";
  char id[] = "me";
  char pattern[] = "coaps://h/*";
  char certfile[] = "c.pem";
  char keyfile[] = "k.pem";
  coap_credential cred = {.psk = (uint8_t *)psk,
                          .psk_len = 6,
                          .client_identity = (uint8_t *)id,
                          .client_identity_len = 2,
                          .certfile = certfile,
                          .keyfile = keyfile,
                          .insecure_no_verify = true};
  const coap__credential *got;

  cr_assert_eq(coap_credentials_add(c, pattern, &cred), 0);
  memset(psk, 'x', 6);
  memset(id, 'x', 2);
  memset(pattern, 'x', sizeof(pattern) - 1);
  memset(certfile, 'x', 5);
  memset(keyfile, 'x', 5);
  got = coap__credentials_for_uri(c, "coaps://h/p");
  cr_assert_neq(got, NULL);
  assert_bytes(got->psk, got->psk_len, "secret");
  assert_bytes(got->client_identity, got->client_identity_len, "me");
  cr_assert_str_eq(got->certfile, "c.pem");
  cr_assert_str_eq(got->keyfile, "k.pem");
  cr_assert_eq(got->cafile, NULL);
  cr_assert(got->insecure_no_verify);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, add_replaces_an_entry_with_the_same_pattern) {
  coap_credentials *c = new_map();
  coap_credential x509 = {.cafile = "ca.pem"};

  add_psk(c, "coaps://h/*", "old", "id");
  add_psk(c, "coaps://other/*", "other", "id");
  add_psk(c, "coaps://h/*", "new", "id");
  cr_assert_eq(coap_credentials_count(c), 2u);
  cr_assert_str_eq(psk_for(c, "coaps://h/x"), "new");
  /* Replacing with another kind drops the old members entirely. */
  cr_assert_eq(coap_credentials_add(c, "coaps://h/*", &x509), 0);
  cr_assert_eq(coap__credentials_for_uri(c, "coaps://h/x")->psk, NULL);
  cr_assert_str_eq(coap__credentials_for_uri(c, "coaps://h/x")->cafile,
                   "ca.pem");
  cr_assert_eq(coap_credentials_count(c), 2u);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, remove_drops_the_entry) {
  coap_credentials *c = new_map();

  add_psk(c, "coaps://a/*", "a", "id");
  add_psk(c, "coaps://b/*", "b", "id");
  add_psk(c, "coaps://c/*", "c", "id");
  cr_assert_eq(coap_credentials_remove(c, "coaps://b/*"), 0);
  cr_assert_eq(coap_credentials_remove(c, "coaps://b/*"), COAP_ENOENT);
  cr_assert_eq(coap_credentials_count(c), 2u);
  cr_assert_eq(psk_for(c, "coaps://b/"), NULL);
  cr_assert_str_eq(psk_for(c, "coaps://a/"), "a");
  cr_assert_str_eq(psk_for(c, "coaps://c/"), "c");
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, references_keep_the_map_alive) {
  coap_credentials *c = new_map();

  add_psk(c, "coaps://h/*", "k", "id");
  cr_assert_eq(coap_credentials_ref(c), c);
  coap_credentials_unref(c);
  /* One reference left: still usable. */
  cr_assert_str_eq(psk_for(c, "coaps://h/"), "k");
  cr_assert_gt(coap_test_live_allocations, 0);
  coap_credentials_unref(c);
  cr_assert_eq(coap_test_live_allocations, 0);
}

COAP_TEST(credentials_map, insecure_no_verify_alone_is_a_credential) {
  coap_credentials *c = new_map();
  coap_credential cred = {.insecure_no_verify = true};

  cr_assert_eq(coap_credentials_add(c, "coaps://*", &cred), 0);
  cr_assert(coap__credentials_for_uri(c, "coaps://h/")->insecure_no_verify);
  coap_credentials_unref(c);
}

static const uint8_t many[600];

COAP_TEST(credentials_map, add_refuses_what_is_not_a_credential) {
  static const struct {
    const char *pattern;
    coap_credential cred;
    const char *reason;
  } bad[] = {
      {"", {.cafile = "ca"}, "empty pattern"},
      {":", {.cafile = "ca"}, "empty label"},
      {"coaps://*/x", {.cafile = "ca"}, "'*'"},
      {"coaps://h/*", {0}, "nothing set"},
      {"coaps://h/*", {.psk = many, .psk_len = 1}, "psk without"},
      {":l",
       {.client_identity = many, .client_identity_len = 1},
       "client-identity without psk"},
      {"coaps://h/*",
       {.psk_len = 1, .client_identity = many, .client_identity_len = 1},
       "length without"},
      {"coaps://h/*",
       {.psk = many, .psk_len = 1, .client_identity_len = 1},
       "length without"},
      {"coaps://h/*", {.certfile = "c"}, "certfile without keyfile"},
      {"coaps://h/*", {.keyfile = "k"}, "keyfile without certfile"},
      {"coaps://h/*", {.cafile = ""}, "empty file name"},
      {"coaps://h/*", {.certfile = "", .keyfile = "k"}, "empty file name"},
      {"coaps://h/*",
       {.psk = many,
        .psk_len = COAP_CREDENTIALS_PSK_MAX + 1,
        .client_identity = many,
        .client_identity_len = 1},
       "COAP_CREDENTIALS_PSK_MAX"},
      {"coaps://h/*",
       {.psk = many,
        .psk_len = 1,
        .client_identity = many,
        .client_identity_len = COAP_CREDENTIALS_IDENTITY_MAX + 1},
       "COAP_CREDENTIALS_IDENTITY_MAX"},
  };
  coap_credentials *c = new_map();

  add_psk(c, "coaps://h/*", "kept", "id");
  for (size_t i = 0; i < COUNT(bad); i++) {
    const char *reason = coap__credential_check(bad[i].pattern, &bad[i].cred);
    cr_assert_neq(reason, NULL, "case %zu", i);
    cr_assert(strstr(reason, bad[i].reason) != NULL, "case %zu: %s", i, reason);
    cr_assert_eq(coap_credentials_add(c, bad[i].pattern, &bad[i].cred),
                 COAP_EINVAL, "case %zu", i);
    cr_assert_eq(coap_credentials_count(c), 1u);
    cr_assert_str_eq(psk_for(c, "coaps://h/"), "kept");
  }
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, key_lengths_at_the_limits_are_taken) {
  coap_credentials *c = new_map();
  coap_credential cred = {.psk = many,
                          .psk_len = COAP_CREDENTIALS_PSK_MAX,
                          .client_identity = many,
                          .client_identity_len = COAP_CREDENTIALS_IDENTITY_MAX};

  cr_assert_eq(coap_credentials_add(c, "coaps://h/*", &cred), 0);
  cr_assert_eq(coap__credentials_for_uri(c, "coaps://h/")->psk_len,
               (size_t)COAP_CREDENTIALS_PSK_MAX);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_map, failed_allocations_leave_the_map_unchanged) {
  coap_credentials *c = new_map();
  coap_credential cred = {.psk = (const uint8_t *)"new",
                          .psk_len = 3,
                          .client_identity = (const uint8_t *)"id",
                          .client_identity_len = 2,
                          .certfile = "c",
                          .keyfile = "k",
                          .cafile = "ca"};
  int rc = COAP_ENOMEM;
  long n;

  add_psk(c, "coaps://h/*", "old", "id");
  for (n = 0; rc == COAP_ENOMEM; n++) {
    coap_test_fail_after = n;
    rc = coap_credentials_add(c, n % 2 ? "coaps://h/*" : "coaps://n/*", &cred);
    coap_test_fail_after = -1;
    if (rc == COAP_ENOMEM) {
      cr_assert_eq(coap_credentials_count(c), 1u);
      cr_assert_str_eq(psk_for(c, "coaps://h/"), "old");
    }
  }
  cr_assert_eq(rc, 0);
  cr_assert_gt(n, 3);
  coap_credentials_unref(c);
}

/* The JSON loader. */

static coap_credentials *load_ok(const char *json) {
  coap_credentials *c = new_map();
  char err[256] = "unset";
  int rc = coap_credentials_load_json(c, json, err, sizeof(err));
  cr_assert_eq(rc, 0, "%s: %s", json, err);
  cr_assert_str_eq(err, "");
  return c;
}

COAP_TEST(credentials_json, reads_aiocoaps_client_format) {
  coap_credentials *c = load_ok(
      "{\"coaps://host/*\": {\"dtls\": {\"psk\": {\"ascii\": \"secret\"},"
      " \"client-identity\": {\"ascii\": \"me\"}}}}");
  const coap__credential *cred = coap__credentials_for_uri(c, "coaps://host/x");

  cr_assert_neq(cred, NULL);
  assert_bytes(cred->psk, cred->psk_len, "secret");
  assert_bytes(cred->client_identity, cred->client_identity_len, "me");
  cr_assert_eq(coap_credentials_count(c), 1u);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, byte_strings_in_every_form) {
  coap_credentials *c =
      load_ok("{\":hex\": {\"dtls\": {\"psk\": {\"hex\": \"73-65:63 72 6574\"},"
              "  \"client-identity\": {\"hex\": \"4D45\"}}},"
              " \":plain\": {\"dtls\": {\"psk\": \"caf\\u00e9\","
              "  \"client-identity\": \"you\"}},"
              " \":zero\": {\"dtls\": {\"psk\": {\"hex\": \"00ff\"},"
              "  \"client-identity\": \"z\"}}}");
  const coap__credential *cred;

  cred = coap__credentials_get(c, ":hex");
  assert_bytes(cred->psk, cred->psk_len, "secret");
  assert_bytes(cred->client_identity, cred->client_identity_len, "ME");
  cred = coap__credentials_get(c, ":plain");
  /* A plain string is its UTF-8 bytes. */
  assert_bytes(cred->psk, cred->psk_len, "caf\xc3\xa9");
  cred = coap__credentials_get(c, ":zero");
  cr_assert_eq(cred->psk_len, 2u);
  cr_assert_eq(cred->psk[0], 0x00);
  cr_assert_eq(cred->psk[1], 0xff);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, x509_entries) {
  coap_credentials *c = load_ok(
      "{\":server-certificate\": {\"x509\": {\"certfile\": \"/etc/s.pem\","
      "  \"keyfile\": \"s.key\"}},"
      " \"coaps://h/*\": {\"x509\": {\"cafile\": \"ca.pem\"}},"
      " \"coaps://lab/*\": {\"x509\": {\"insecure-no-verify\": true}},"
      " \"coaps://off/*\": {\"x509\": {\"cafile\": \"ca.pem\","
      "  \"insecure-no-verify\": false}}}");
  const coap__credential *cred = coap__credentials_certificate(c);

  cr_assert_neq(cred, NULL);
  cr_assert_str_eq(cred->certfile, "/etc/s.pem");
  /* load_json has no file: a relative name stays as written. */
  cr_assert_str_eq(cred->keyfile, "s.key");
  cred = coap__credentials_for_uri(c, "coaps://h/");
  cr_assert_str_eq(cred->cafile, "ca.pem");
  cr_assert(!cred->insecure_no_verify);
  cr_assert(coap__credentials_for_uri(c, "coaps://lab/")->insecure_no_verify);
  cr_assert(!coap__credentials_for_uri(c, "coaps://off/")->insecure_no_verify);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, string_values_copy_a_label) {
  coap_credentials *c = load_ok(
      "{\"coaps://a/*\": \":b\", \":b\": \":k\","
      " \":k\": {\"dtls\": {\"psk\": \"key\", \"client-identity\": \"id\"}}}");

  cr_assert_str_eq(psk_for(c, "coaps://a/x"), "key");
  cr_assert_eq(coap_credentials_count(c), 3u);
  /* A later load can name a label the map already has. */
  cr_assert_eq(
      coap_credentials_load_json(c, "{\"coaps://z/*\": \":k\"}", NULL, 0), 0);
  cr_assert_str_eq(psk_for(c, "coaps://z/"), "key");
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, null_removes_and_later_loads_replace) {
  coap_credentials *c = load_ok(
      "{\"coaps://a/*\": {\"dtls\": {\"psk\": \"a\", \"client-identity\": "
      "\"i\"}},"
      " \"coaps://b/*\": {\"dtls\": {\"psk\": \"b\", \"client-identity\": "
      "\"i\"}}}");

  cr_assert_eq(coap_credentials_load_json(
                   c,
                   "{\"coaps://a/*\": null, \"coaps://nothere/*\": null,"
                   " \"coaps://b/*\": {\"dtls\": {\"psk\": \"B\", "
                   "\"client-identity\": \"i\"}}}",
                   NULL, 0),
               0);
  cr_assert_eq(coap_credentials_count(c), 1u);
  cr_assert_eq(psk_for(c, "coaps://a/"), NULL);
  cr_assert_str_eq(psk_for(c, "coaps://b/"), "B");
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, empty_object_loads_nothing) {
  coap_credentials *c = load_ok(" { } ");
  cr_assert_eq(coap_credentials_count(c), 0u);
  coap_credentials_unref(c);
}

#define DTLS_OK "{\"dtls\": {\"psk\": \"k\", \"client-identity\": \"i\"}}"

COAP_TEST(credentials_json, every_malformed_entry_is_refused_with_a_reason) {
  static const struct {
    const char *json;
    const char *reason;
  } bad[] = {
      {"", "line 1"},
      {"{\"coaps://h/*\": ", "line 1"},
      {"[]", "top level is not an object"},
      /* jansson itself wants an object or an array at the top. */
      {"\"coaps://h/*\"", "line 1 column 13"},
      {"{\"coaps://x/*\": 5}", "coaps://x/*: an object, a label or null"},
      {"{\"coaps://x/*\": true}", "coaps://x/*: an object, a label or null"},
      {"{\"coaps://x/*\": {}}", "coaps://x/*: exactly one key"},
      {"{\"coaps://x/*\": {\"dtls\": {}, \"x509\": {}}}",
       "coaps://x/*: exactly one key"},
      {"{\"coaps://x/*\": {\"oscore\": {\"contextfile\": \"d\"}}}",
       "coaps://x/*: oscore: unknown or unsupported credential type"},
      {"{\"coaps://x/*\": {\"tlscert\": {\"certfile\": \"c\"}}}",
       "coaps://x/*: tlscert: unknown"},
      {"{\"coaps://x/*\": {\"dtls\": 1}}", "coaps://x/*: dtls: an object"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": \"k\", \"client-identity\": "
       "\"i\", \"hint\": \"h\"}}}",
       "coaps://x/*: dtls.hint: unknown key"},
      {"{\"coaps://x/*\": {\"dtls\": {\"client-identity\": \"i\"}}}",
       "coaps://x/*: dtls.psk: missing"},
      {"{\":l\": {\"dtls\": {\"psk\": \"k\"}}}",
       ":l: dtls.client-identity: missing"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": {\"hex\": \"abc\"}, "
       "\"client-identity\": \"i\"}}}",
       "coaps://x/*: dtls.psk.hex: odd number of hex digits"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": {\"hex\": \"zz\"}, "
       "\"client-identity\": \"i\"}}}",
       "coaps://x/*: dtls.psk.hex: hex digits expected"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": {\"ascii\": \"caf\\u00e9\"}, "
       "\"client-identity\": \"i\"}}}",
       "coaps://x/*: dtls.psk.ascii: not ASCII"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": {\"ascii\": \"a\", \"hex\": "
       "\"61\"}, \"client-identity\": \"i\"}}}",
       "coaps://x/*: dtls.psk: an object with one key"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": {\"base64\": \"YQ==\"}, "
       "\"client-identity\": \"i\"}}}",
       "coaps://x/*: dtls.psk: an object with one key"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": {\"ascii\": 1}, "
       "\"client-identity\": \"i\"}}}",
       "coaps://x/*: dtls.psk.ascii: a string expected"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": 7, \"client-identity\": "
       "\"i\"}}}",
       "coaps://x/*: dtls.psk: a string expected"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": \"\", \"client-identity\": "
       "\"i\"}}}",
       "coaps://x/*: dtls.psk: empty"},
      {"{\"coaps://x/*\": {\"dtls\": {\"psk\": {\"hex\": \" - \"}, "
       "\"client-identity\": \"i\"}}}",
       "coaps://x/*: dtls.psk: empty"},
      {"{\"coaps://x/*\": {\"x509\": {}}}",
       "coaps://x/*: x509: a non-empty object"},
      {"{\"coaps://x/*\": {\"x509\": {\"cert\": \"c\"}}}",
       "coaps://x/*: x509.cert: unknown key"},
      {"{\"coaps://x/*\": {\"x509\": {\"certfile\": \"c\"}}}",
       "coaps://x/*: certfile without keyfile"},
      {"{\"coaps://x/*\": {\"x509\": {\"keyfile\": \"k\"}}}",
       "coaps://x/*: keyfile without certfile"},
      {"{\"coaps://x/*\": {\"x509\": {\"cafile\": 3}}}",
       "coaps://x/*: x509.cafile: a file name expected"},
      {"{\"coaps://x/*\": {\"x509\": {\"cafile\": \"\"}}}",
       "coaps://x/*: x509.cafile: a file name expected"},
      {"{\"coaps://x/*\": {\"x509\": {\"insecure-no-verify\": \"yes\"}}}",
       "coaps://x/*: x509.insecure-no-verify: true or false"},
      {"{\"coaps://x/*\": \"k\"}", "coaps://x/*: a reference names a label"},
      {"{\"coaps://x/*\": \":nope\"}", "coaps://x/*: :nope: no such label"},
      {"{\":a\": \":b\", \":b\": \":a\"}", "cycle"},
      {"{\":a\": \":a\"}", ":a: :a: the references form a cycle"},
      {"{\":gone\": null, \"coaps://x/*\": \":gone\"}", "no such label"},
      {"{\":half\": {\"dtls\": {\"psk\": \"k\", \"client-identity\": "
       "\"i\"}}, \":half\": " DTLS_OK "}",
       "duplicate"},
      {"{\"\": " DTLS_OK "}", "\"\": empty pattern"},
      {"{\":\": " DTLS_OK "}", ":: empty label"},
      {"{\"coaps://*/x\": " DTLS_OK "}", "coaps://*/x: '*' is only allowed"},
      /* One good entry before the bad one: nothing of it is added. */
      {"{\"coaps://good/*\": " DTLS_OK ", \"coaps://bad/*\": {\"dtls\": 0}}",
       "coaps://bad/*: dtls"},
  };
  coap_credentials *c = load_ok("{\"coaps://kept/*\": {\"dtls\": {\"psk\": "
                                "\"kept\", \"client-identity\": \"i\"}}}");

  for (size_t i = 0; i < COUNT(bad); i++) {
    char err[256] = "unset";
    int rc = coap_credentials_load_json(c, bad[i].json, err, sizeof(err));
    cr_assert_eq(rc, COAP_ECREDENTIALS, "case %zu: %s", i, bad[i].json);
    cr_assert(strstr(err, bad[i].reason) != NULL, "case %zu: got \"%s\"", i,
              err);
    cr_assert_eq(coap_credentials_count(c), 1u, "case %zu", i);
    cr_assert_str_eq(psk_for(c, "coaps://kept/"), "kept");
    /* Without a buffer the code alone comes back. */
    cr_assert_eq(coap_credentials_load_json(c, bad[i].json, NULL, 0),
                 COAP_ECREDENTIALS);
  }
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, psk_lengths_at_the_limit) {
  /* COAP_CREDENTIALS_PSK_MAX bytes as hex, then one more. */
  size_t n = 2 * COAP_CREDENTIALS_PSK_MAX + 2;
  char *json = malloc(n + 128);
  char hex[2 * COAP_CREDENTIALS_PSK_MAX + 3];
  coap_credentials *c = new_map();
  char err[256];

  memset(hex, 'a', n);
  hex[n - 2] = '\0';
  snprintf(json, n + 128,
           "{\"coaps://h/*\": {\"dtls\": {\"psk\": {\"hex\": \"%s\"}, "
           "\"client-identity\": \"i\"}}}",
           hex);
  cr_assert_eq(coap_credentials_load_json(c, json, err, sizeof(err)), 0, "%s",
               err);
  cr_assert_eq(coap__credentials_for_uri(c, "coaps://h/")->psk_len,
               (size_t)COAP_CREDENTIALS_PSK_MAX);
  hex[n - 2] = 'a';
  hex[n] = '\0';
  snprintf(json, n + 128,
           "{\"coaps://h/*\": {\"dtls\": {\"psk\": {\"hex\": \"%s\"}, "
           "\"client-identity\": \"i\"}}}",
           hex);
  cr_assert_eq(coap_credentials_load_json(c, json, err, sizeof(err)),
               COAP_ECREDENTIALS);
  cr_assert(strstr(err, "coaps://h/*: psk longer than") != NULL, "%s", err);
  free(json);
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, error_text_is_truncated_to_its_buffer) {
  coap_credentials *c = new_map();
  char err[8];

  memset(err, 'x', sizeof(err));
  cr_assert_eq(coap_credentials_load_json(c, "[]", err, sizeof(err)),
               COAP_ECREDENTIALS);
  cr_assert_eq(strlen(err), sizeof(err) - 1);
  cr_assert_eq(coap_credentials_load_json(c, "[]", err, 0), COAP_ECREDENTIALS);
  coap_credentials_unref(c);
}

/* A JSON object padded with spaces to len bytes. */
static char *padded_json(size_t len) {
  const char *body = "{\":k\": " DTLS_OK "}";
  char *text = malloc(len + 1);
  memset(text, ' ', len);
  memcpy(text, body, strlen(body));
  text[len] = '\0';
  return text;
}

COAP_TEST(credentials_json, text_at_the_size_limit) {
  coap_credentials *c = new_map();
  char *text = padded_json(COAP_CREDENTIALS_JSON_MAX);
  char err[128];

  cr_assert_eq(coap_credentials_load_json(c, text, err, sizeof(err)), 0, "%s",
               err);
  free(text);
  text = padded_json(COAP_CREDENTIALS_JSON_MAX + 1);
  cr_assert_eq(coap_credentials_load_json(c, text, err, sizeof(err)),
               COAP_ECREDENTIALS);
  cr_assert(strstr(err, "COAP_CREDENTIALS_JSON_MAX") != NULL, "%s", err);
  free(text);
  coap_credentials_unref(c);
}

/* Writes text to dir/name; dir must exist. */
static void write_file(const char *path, const char *text, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_neq(f, NULL, "%s", path);
  cr_assert_eq(fwrite(text, 1, len, f), len);
  cr_assert_eq(fclose(f), 0);
}

static char tmpdir[64];

static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/coap-creds-XXXXXX");
  cr_assert_neq(mkdtemp(tmpdir), NULL);
}

static void remove_tmpdir(const char *name) {
  char path[128];
  snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
  unlink(path);
  rmdir(tmpdir);
}

COAP_TEST(credentials_json, file_names_are_relative_to_the_files_directory) {
  const char *text =
      "{\":server-certificate\": {\"x509\": {\"certfile\": \"s.pem\","
      " \"keyfile\": \"/abs/s.key\", \"cafile\": \"sub/ca.pem\"}}}";
  coap_credentials *c = new_map();
  char path[128];
  char want[160];
  char err[256];
  const coap__credential *cred;

  make_tmpdir();
  snprintf(path, sizeof(path), "%s/creds.json", tmpdir);
  write_file(path, text, strlen(text));
  cr_assert_eq(coap_credentials_load_json_file(c, path, err, sizeof(err)), 0,
               "%s", err);
  cred = coap__credentials_certificate(c);
  snprintf(want, sizeof(want), "%s/s.pem", tmpdir);
  cr_assert_str_eq(cred->certfile, want);
  cr_assert_str_eq(cred->keyfile, "/abs/s.key");
  snprintf(want, sizeof(want), "%s/sub/ca.pem", tmpdir);
  cr_assert_str_eq(cred->cafile, want);
  remove_tmpdir("creds.json");
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, file_in_the_working_directory_keeps_names) {
  const char *text = "{\"coaps://*\": {\"x509\": {\"cafile\": \"ca.pem\"}}}";
  coap_credentials *c = new_map();
  char old[512];
  char err[256];

  make_tmpdir();
  cr_assert_neq(getcwd(old, sizeof(old)), NULL);
  cr_assert_eq(chdir(tmpdir), 0);
  write_file("creds.json", text, strlen(text));
  cr_assert_eq(
      coap_credentials_load_json_file(c, "creds.json", err, sizeof(err)), 0,
      "%s", err);
  cr_assert_str_eq(coap__credentials_for_uri(c, "coaps://h/")->cafile,
                   "ca.pem");
  cr_assert_eq(chdir(old), 0);
  remove_tmpdir("creds.json");
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, file_errors) {
  coap_credentials *c = new_map();
  char path[128];
  char err[256];
  char *text;

  cr_assert_eq(coap_credentials_load_json_file(c, "/nonexistent/creds.json",
                                               err, sizeof(err)),
               COAP_ENOENT);
  cr_assert_str_eq(err, strerror(ENOENT));
  /* A directory opens but does not read. */
  cr_assert_eq(coap_credentials_load_json_file(c, "/", err, sizeof(err)),
               -EISDIR);
  cr_assert_str_eq(err, strerror(EISDIR));
  make_tmpdir();
  snprintf(path, sizeof(path), "%s/big.json", tmpdir);
  text = padded_json(COAP_CREDENTIALS_JSON_MAX);
  write_file(path, text, COAP_CREDENTIALS_JSON_MAX);
  cr_assert_eq(coap_credentials_load_json_file(c, path, err, sizeof(err)), 0,
               "%s", err);
  cr_assert_eq(coap_credentials_count(c), 1u);
  free(text);
  text = padded_json(COAP_CREDENTIALS_JSON_MAX + 1);
  write_file(path, text, COAP_CREDENTIALS_JSON_MAX + 1);
  cr_assert_eq(coap_credentials_load_json_file(c, path, err, sizeof(err)),
               COAP_ECREDENTIALS);
  cr_assert(strstr(err, "COAP_CREDENTIALS_JSON_MAX") != NULL, "%s", err);
  free(text);
  write_file(path, "{\"x\": 1,", 8);
  cr_assert_eq(coap_credentials_load_json_file(c, path, err, sizeof(err)),
               COAP_ECREDENTIALS);
  cr_assert(strstr(err, "line 1") != NULL, "%s", err);
  cr_assert_eq(coap_credentials_count(c), 1u);
  remove_tmpdir("big.json");
  coap_credentials_unref(c);
}

COAP_TEST(credentials_json, failed_allocations_leave_the_map_unchanged) {
  const char *json =
      "{\"coaps://h/*\": {\"dtls\": {\"psk\": {\"hex\": \"6e6577\"},"
      " \"client-identity\": \"i\"}},"
      " \"coaps://n/*\": \":k\", \"coaps://old/*\": null,"
      " \":k\": {\"x509\": {\"certfile\": \"c\", \"keyfile\": \"k\"}}}";
  coap_credentials *c = new_map();
  int rc = COAP_ENOMEM;
  long n;

  add_psk(c, "coaps://h/*", "old", "id");
  add_psk(c, "coaps://old/*", "o", "id");
  for (n = 0; rc == COAP_ENOMEM; n++) {
    coap_test_fail_after = n;
    rc = coap_credentials_load_json(c, json, NULL, 0);
    coap_test_fail_after = -1;
    if (rc == COAP_ENOMEM) {
      cr_assert_eq(coap_credentials_count(c), 2u);
      cr_assert_str_eq(psk_for(c, "coaps://h/"), "old");
      cr_assert_str_eq(psk_for(c, "coaps://old/"), "o");
    }
  }
  cr_assert_eq(rc, 0);
  cr_assert_gt(n, 5);
  cr_assert_str_eq(psk_for(c, "coaps://h/"), "new");
  cr_assert_eq(psk_for(c, "coaps://old/"), NULL);
  cr_assert_str_eq(coap__credentials_for_uri(c, "coaps://n/")->certfile, "c");
  coap_credentials_unref(c);
}

/*
 * Zeroing: an allocator that, at every free, looks for the secret in the
 * block it is handed.  Only the library's own allocations pass through it
 * (jansson's do not), which is exactly what the promise covers.
 */
#define SECRET "S3CRET-KEY-never-left-behind"

typedef struct {
  size_t size;
  max_align_t align;
} scan_header;

static int secrets_found;
static long scan_live;

static void *scan_malloc(size_t size) {
  scan_header *h = malloc(sizeof(*h) + size);
  if (h == NULL)
    return NULL;
  h->size = size;
  scan_live++;
  return h + 1;
}

static void scan_block(const scan_header *h) {
  const char *p = (const char *)(h + 1);
  size_t n = strlen(SECRET);
  for (size_t i = 0; i + n <= h->size; i++)
    if (memcmp(p + i, SECRET, n) == 0)
      secrets_found++;
}

static void scan_free(void *ptr) {
  scan_header *h;
  if (ptr == NULL)
    return;
  h = (scan_header *)ptr - 1;
  scan_block(h);
  scan_live--;
  free(h);
}

static void *scan_calloc(size_t count, size_t size) {
  void *p;
  if (size != 0 && count > SIZE_MAX / size)
    return NULL;
  p = scan_malloc(count * size);
  if (p != NULL)
    memset(p, 0, count * size);
  return p;
}

static void *scan_realloc(void *ptr, size_t size) {
  scan_header *h;
  scan_header *n;
  if (ptr == NULL)
    return scan_malloc(size);
  h = (scan_header *)ptr - 1;
  /* The old block goes away here too: scan it before realloc may. */
  scan_block(h);
  n = realloc(h, sizeof(*n) + size);
  if (n == NULL)
    return NULL;
  n->size = size;
  return n + 1;
}

static void install_scanner(void) {
  secrets_found = 0;
  scan_live = 0;
  cr_assert_eq(
      coap_replace_allocator(scan_malloc, scan_realloc, scan_calloc, scan_free),
      0);
}

Test(credentials_zeroing, keys_are_zeroed_on_replace_remove_and_free) {
  coap_credentials *c;
  coap_credential cred = psk_cred(SECRET, SECRET);

  install_scanner();
  cr_assert_eq(coap_credentials_new(&c), 0);
  for (int i = 0; i < 4; i++) {
    char pattern[32];
    snprintf(pattern, sizeof(pattern), "coaps://h%d/*", i);
    cr_assert_eq(coap_credentials_add(c, pattern, &cred), 0);
  }
  /* Replace one, remove one, free the rest with the map. */
  cr_assert_eq(coap_credentials_add(c, "coaps://h0/*", &cred), 0);
  cr_assert_eq(coap_credentials_remove(c, "coaps://h1/*"), 0);
  cr_assert_eq(secrets_found, 0);
  coap_credentials_unref(c);
  cr_assert_eq(secrets_found, 0);
  cr_assert_eq(scan_live, 0);
}

Test(credentials_zeroing, the_json_loader_leaves_no_key_behind) {
  char path[128];
  char hex[2 * sizeof(SECRET)];
  char json[512];
  coap_credentials *c;

  install_scanner();
  for (size_t i = 0; i < strlen(SECRET); i++)
    snprintf(hex + 2 * i, 3, "%02x", (unsigned char)SECRET[i]);
  snprintf(json, sizeof(json),
           "{\":a\": {\"dtls\": {\"psk\": {\"ascii\": \"%s\"},"
           " \"client-identity\": \"%s\"}},"
           " \":h\": {\"dtls\": {\"psk\": {\"hex\": \"%s\"},"
           " \"client-identity\": \"x\"}},"
           " \"coaps://r/*\": \":a\"}",
           SECRET, SECRET, hex);
  cr_assert_eq(coap_credentials_new(&c), 0);
  cr_assert_eq(coap_credentials_load_json(c, json, NULL, 0), 0);
  /* A failed load (the bad entry last) frees its staged copies. */
  snprintf(json, sizeof(json),
           "{\":b\": {\"dtls\": {\"psk\": \"%s\", \"client-identity\": "
           "\"i\"}}, \":c\": {\"dtls\": {\"psk\": {\"hex\": \"%sx\"},"
           " \"client-identity\": \"i\"}}}",
           SECRET, hex);
  cr_assert_eq(coap_credentials_load_json(c, json, NULL, 0), COAP_ECREDENTIALS);
  /* From a file: the text read into our buffer is the key too. */
  strcpy(path, "/tmp/coap-creds-XXXXXX");
  cr_assert_neq(mkdtemp(path), NULL);
  strcat(path, "/c.json");
  {
    FILE *f = fopen(path, "wb");
    cr_assert_neq(f, NULL);
    /* Over 4096 bytes, so the read buffer grows and its first copy is
     * freed mid-read. */
    fprintf(f,
            "{\":f\": {\"dtls\": {\"psk\": \"%s\", \"client-identity\": "
            "\"i\"}}",
            SECRET);
    for (int i = 0; i < 300; i++)
      fprintf(f,
              ", \":p%d\": {\"dtls\": {\"psk\": \"%s\", "
              "\"client-identity\": \"i\"}}",
              i, SECRET);
    fprintf(f, "}");
    cr_assert_eq(fclose(f), 0);
  }
  cr_assert_eq(coap_credentials_load_json_file(c, path, NULL, 0), 0);
  cr_assert_eq(coap_credentials_count(c), 3u + 301u);
  cr_assert_eq(coap_credentials_load_json(c, "{\":a\": null}", NULL, 0), 0);
  coap_credentials_unref(c);
  unlink(path);
  *strrchr(path, '/') = '\0';
  rmdir(path);
  cr_assert_eq(secrets_found, 0);
  cr_assert_eq(scan_live, 0);
}
