/*
 * Conditional requests (RFC 7252 §5.10.8) and ETag validation
 * (§5.10.6.2), evaluated by the library for resources that tell their
 * current ETag, end to end between a server and a client context.
 */
#include "context_fixture.h"

#include <stdio.h>
#include <string.h>

/* A document that may or may not exist; every render is counted. */
typedef struct doc {
  char body[64];
  bool exists;
  int renders;
} doc;

static void doc_set(doc *d, const char *text) {
  snprintf(d->body, sizeof d->body, "%s", text);
  d->exists = true;
}

static int doc_get(coap_resource *r, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)req;
  (void)later;
  doc *d = r->user_data;
  d->renders++;
  if (!d->exists)
    return COAP_ENOT_FOUND;
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  return coap_message_set_payload_string(resp, d->body);
}

static int doc_put(coap_resource *r, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)later;
  doc *d = r->user_data;
  d->renders++;
  resp->code = d->exists ? COAP_CODE_CHANGED : COAP_CODE_CREATED;
  size_t n = req->payload_len < sizeof d->body - 1 ? req->payload_len
                                                   : sizeof d->body - 1;
  memcpy(d->body, req->payload, n);
  d->body[n] = '\0';
  d->exists = true;
  return 0;
}

static int doc_delete(coap_resource *r, coap_message *req, coap_message *resp,
                      coap_future **later) {
  (void)req;
  (void)resp;
  (void)later;
  doc *d = r->user_data;
  d->renders++;
  d->exists = false;
  return 0;
}

static int doc_etag(coap_resource *r, const coap_message *req, uint8_t *etag,
                    size_t *len) {
  (void)req;
  doc *d = r->user_data;
  if (!d->exists)
    return COAP_ENOENT;
  return coap_hashing_etag_compute(d->body, strlen(d->body), etag, len);
}

static const coap_resource_methods doc_methods = {
    .render_get = doc_get,
    .render_fetch = doc_get,
    .render_put = doc_put,
    .render_delete = doc_delete,
    .get_etag = doc_etag,
};

/* The same document without get_etag: today's behaviour. */
static const coap_resource_methods untagged_methods = {
    .render_get = doc_get,
    .render_put = doc_put,
};

static int doc_render(coap_resource *r, coap_message *req, coap_message *resp,
                      coap_future **later) {
  return req->code == COAP_CODE_PUT ? doc_put(r, req, resp, later)
                                    : doc_get(r, req, resp, later);
}

static const coap_resource_vtable doc_vtable = {
    .render = doc_render,
    .get_etag = doc_etag,
};

static void etag_of(const char *text, uint8_t etag[8]) {
  size_t len = 8;
  cr_assert_eq(coap_hashing_etag_compute(text, strlen(text), etag, &len), 0);
  cr_assert_eq(len, 8);
}

static coap_message *request(fixture *fx, uint8_t code) {
  return fixture_message(fx, code, "/doc");
}

static coap_message *put(fixture *fx, const char *text) {
  coap_message *m = request(fx, COAP_CODE_PUT);
  cr_assert_eq(coap_message_set_payload_string(m, text), 0);
  return m;
}

static void add_option(coap_message *m, uint16_t number, const void *value,
                       size_t len) {
  cr_assert_eq(coap_options_add(&m->opt, number, value, len), 0);
}

/* Sends m and returns the response code; the response is freed. */
static uint8_t code_of(fixture *fx, coap_message *m) {
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(fx, m, &resp, 5000), 0);
  uint8_t code = resp->code;
  coap_message_free(resp);
  return code;
}

static void start_doc(fixture *fx, doc *d, const coap_resource_methods *m) {
  fixture_start(fx, NULL);
  memset(d, 0, sizeof *d);
  fixture_add(fx, "doc", m, d);
}

/* RFC 7252 §5.10.8.1: If-Match with the current ETag lets the PUT through. */
COAP_TEST(conditional, if_match_with_the_current_etag_renders) {
  fixture fx;
  doc d;
  start_doc(&fx, &d, &doc_methods);
  doc_set(&d, "v1");
  uint8_t etag[8];
  etag_of("v1", etag);
  coap_message *m = put(&fx, "v2");
  add_option(m, COAP_OPT_IF_MATCH, etag, sizeof etag);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_CHANGED);
  cr_expect_str_eq(d.body, "v2");
  cr_expect_eq(d.renders, 1);
  fixture_stop(&fx);
}

/* RFC 7252 §5.10.8.1, §5.9.2.9: another ETag is 4.12 and changes nothing. */
COAP_TEST(conditional, if_match_with_another_etag_is_4_12_and_does_not_render) {
  fixture fx;
  doc d;
  start_doc(&fx, &d, &doc_methods);
  doc_set(&d, "v1");
  uint8_t stale[8];
  etag_of("v0", stale);
  coap_message *m = put(&fx, "v2");
  add_option(m, COAP_OPT_IF_MATCH, stale, sizeof stale);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_PRECONDITION_FAILED);
  cr_expect_str_eq(d.body, "v1", "nothing changed");
  cr_expect_eq(d.renders, 0);
  fixture_stop(&fx);
}

/* If-Match is repeatable: any one value matching is enough. */
COAP_TEST(conditional, if_match_with_several_values_needs_one_to_match) {
  fixture fx;
  doc d;
  start_doc(&fx, &d, &doc_methods);
  doc_set(&d, "v1");
  uint8_t stale[8], current[8];
  etag_of("v0", stale);
  etag_of("v1", current);
  coap_message *m = put(&fx, "v2");
  add_option(m, COAP_OPT_IF_MATCH, stale, sizeof stale);
  add_option(m, COAP_OPT_IF_MATCH, current, sizeof current);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_CHANGED);
  cr_expect_eq(d.renders, 1);
  fixture_stop(&fx);
}

/* RFC 7252 §5.10.8.1: an empty If-Match matches any existing
 * representation, and fails when there is none. */
COAP_TEST(conditional, empty_if_match_needs_the_resource_to_exist) {
  fixture fx;
  doc d;
  start_doc(&fx, &d, &doc_methods);
  coap_message *m = put(&fx, "new");
  add_option(m, COAP_OPT_IF_MATCH, "", 0);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_PRECONDITION_FAILED);
  cr_expect_not(d.exists, "not created");
  cr_expect_eq(d.renders, 0);

  doc_set(&d, "old");
  m = put(&fx, "new");
  add_option(m, COAP_OPT_IF_MATCH, "", 0);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_CHANGED);
  cr_expect_str_eq(d.body, "new");
  fixture_stop(&fx);
}

/* RFC 7252 §5.10.8.2: If-None-Match fails when the resource exists (so a
 * PUT creates but never overwrites). */
COAP_TEST(conditional, if_none_match_fails_when_the_resource_exists) {
  fixture fx;
  doc d;
  start_doc(&fx, &d, &doc_methods);
  coap_message *m = put(&fx, "first");
  add_option(m, COAP_OPT_IF_NONE_MATCH, "", 0);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_CREATED);
  cr_expect_str_eq(d.body, "first");

  m = put(&fx, "second");
  add_option(m, COAP_OPT_IF_NONE_MATCH, "", 0);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_PRECONDITION_FAILED);
  cr_expect_str_eq(d.body, "first", "not overwritten");
  cr_expect_eq(d.renders, 1);

  m = request(&fx, COAP_CODE_DELETE);
  add_option(m, COAP_OPT_IF_NONE_MATCH, "", 0);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_PRECONDITION_FAILED);
  cr_expect(d.exists, "not deleted");
  fixture_stop(&fx);
}

/* RFC 7252 §5.10.6.2, §5.9.1.3: a GET naming the current ETag is 2.03 Valid
 * with that ETag and no payload. */
COAP_TEST(conditional, get_with_the_current_etag_is_2_03_without_payload) {
  fixture fx;
  doc d;
  start_doc(&fx, &d, &doc_methods);
  doc_set(&d, "v1");
  uint8_t stale[8], current[8];
  etag_of("v0", stale);
  etag_of("v1", current);
  coap_message *m = request(&fx, COAP_CODE_GET);
  add_option(m, COAP_OPT_ETAG, stale, sizeof stale);
  add_option(m, COAP_OPT_ETAG, current, sizeof current);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, m, &resp, 5000), 0);
  cr_expect_eq(resp->code, COAP_CODE_VALID);
  cr_expect_eq(resp->payload_len, 0);
  const uint8_t *etag;
  size_t len;
  cr_assert_eq(coap_options_get_etag(&resp->opt, &etag, &len), 0);
  cr_assert_eq(len, 8);
  cr_expect_arr_eq(etag, current, 8);
  cr_expect_eq(d.renders, 0);
  coap_message_free(resp);
  fixture_stop(&fx);
}

/* RFC 8132 §2.3.1: FETCH is validated as GET is. */
COAP_TEST(conditional, fetch_with_the_current_etag_is_2_03) {
  fixture fx;
  doc d;
  start_doc(&fx, &d, &doc_methods);
  doc_set(&d, "v1");
  uint8_t current[8];
  etag_of("v1", current);
  coap_message *m = request(&fx, COAP_CODE_FETCH);
  add_option(m, COAP_OPT_ETAG, current, sizeof current);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_VALID);
  cr_expect_eq(d.renders, 0);
  fixture_stop(&fx);
}

/* A stale ETag gets the representation, tagged with the current ETag
 * (§5.10.6.1), so the client can revalidate next time. */
COAP_TEST(conditional, get_with_a_stale_etag_gets_2_05_with_the_current_one) {
  fixture fx;
  doc d;
  start_doc(&fx, &d, &doc_methods);
  doc_set(&d, "v1");
  uint8_t stale[8], current[8];
  etag_of("v0", stale);
  etag_of("v1", current);
  coap_message *m = request(&fx, COAP_CODE_GET);
  add_option(m, COAP_OPT_ETAG, stale, sizeof stale);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, m, &resp, 5000), 0);
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  cr_expect_eq(resp->payload_len, 2);
  const uint8_t *etag;
  size_t len;
  cr_assert_eq(coap_options_get_etag(&resp->opt, &etag, &len), 0);
  cr_assert_eq(len, 8);
  cr_expect_arr_eq(etag, current, 8);
  cr_expect_eq(d.renders, 1);
  coap_message_free(resp);
  fixture_stop(&fx);
}

/* The helper agrees with coap_hashing_etag on a response. */
COAP_TEST(conditional, hashing_etag_compute_agrees_with_hashing_etag) {
  const int formats[] = {-1, COAP_CT_TEXT_PLAIN, COAP_CT_JSON, 1000};
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
    coap_message resp;
    coap_message_init(&resp);
    cr_assert_eq(coap_message_set_payload_string(&resp, "body"), 0);
    if (formats[i] >= 0)
      cr_assert_eq(
          coap_options_set_content_format(&resp.opt, (uint16_t)formats[i]), 0);
    cr_assert_eq(coap_hashing_etag(NULL, &resp), 0);
    const uint8_t *want;
    size_t want_len;
    cr_assert_eq(coap_options_get_etag(&resp.opt, &want, &want_len), 0);
    uint8_t got[COAP_ETAG_MAX_LENGTH];
    size_t len = sizeof got;
    cr_assert_eq(coap_hashing_etag_compute("body", 4, got, &len), 0);
    cr_assert_eq(len, want_len);
    cr_expect_arr_eq(got, want, len, "format %d", formats[i]);
    coap_message_clear(&resp);
  }
  uint8_t small[4];
  size_t len = sizeof small;
  cr_expect_eq(coap_hashing_etag_compute("x", 1, small, &len), COAP_ENOSPC);
}

/* A vtable resource declares its ETag the same way. */
COAP_TEST(conditional, vtable_resource_gets_the_same_checks) {
  fixture fx;
  fixture_start(&fx, NULL);
  doc d;
  memset(&d, 0, sizeof d);
  doc_set(&d, "v1");
  coap_resource *res;
  cr_assert_eq(coap_resource_new(&doc_vtable, &d, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(fx.site, "doc", res), 0);
  coap_resource_unref(res);
  coap_message *m = put(&fx, "v2");
  add_option(m, COAP_OPT_IF_NONE_MATCH, "", 0);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_PRECONDITION_FAILED);
  uint8_t current[8];
  etag_of("v1", current);
  m = request(&fx, COAP_CODE_GET);
  add_option(m, COAP_OPT_ETAG, current, sizeof current);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_VALID);
  cr_expect_eq(d.renders, 0);
  fixture_stop(&fx);
}

/* Without get_etag nothing is evaluated: the options reach the renderer. */
COAP_TEST(conditional, resource_without_etag_keeps_todays_behaviour) {
  fixture fx;
  doc d;
  start_doc(&fx, &d, &untagged_methods);
  doc_set(&d, "v1");
  coap_message *m = put(&fx, "v2");
  add_option(m, COAP_OPT_IF_NONE_MATCH, "", 0);
  cr_expect_eq(code_of(&fx, m), COAP_CODE_CHANGED);
  uint8_t current[8];
  etag_of("v2", current);
  m = request(&fx, COAP_CODE_GET);
  add_option(m, COAP_OPT_ETAG, current, sizeof current);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&fx, m, &resp, 5000), 0);
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  cr_expect_not(coap_options_has(&resp->opt, COAP_OPT_ETAG));
  coap_message_free(resp);
  cr_expect_eq(d.renders, 2);
  fixture_stop(&fx);
}

/* A get_etag error answers the request as a render error would. */
static int failing_etag(coap_resource *r, const coap_message *req,
                        uint8_t *etag, size_t *len) {
  (void)r;
  (void)req;
  (void)etag;
  (void)len;
  return COAP_ESERVICE_UNAVAILABLE;
}

COAP_TEST(conditional, get_etag_error_is_the_answer) {
  static const coap_resource_methods m = {.render_get = doc_get,
                                          .get_etag = failing_etag};
  fixture fx;
  doc d;
  start_doc(&fx, &d, &m);
  doc_set(&d, "v1");
  cr_expect_eq(code_of(&fx, request(&fx, COAP_CODE_GET)),
               COAP_CODE_SERVICE_UNAVAILABLE);
  cr_expect_eq(d.renders, 0);
  fixture_stop(&fx);
}

/* Issue 10: the ETag aiocoap's documentation shows for the payload
 * "hello" (the first 8 bytes of its SHA-1), and a request carrying it gets
 * 2.03, exactly as aiocoap's hashing_etag doctest. */
COAP_TEST(conditional, hashing_etag_is_aiocoaps) {
  static const uint8_t hash_of_hello[8] = {0xaa, 0xf4, 0xc6, 0x1d,
                                           0xdc, 0xc5, 0xe8, 0xa2};
  uint8_t etag[8];
  size_t len = sizeof etag;
  cr_assert_eq(coap_hashing_etag_compute("hello", 5, etag, &len), 0);
  cr_assert_arr_eq(etag, hash_of_hello, 8);
  coap_message req, resp;
  coap_message_init(&req);
  coap_message_init(&resp);
  req.code = COAP_CODE_GET;
  cr_assert_eq(coap_options_add(&req.opt, COAP_OPT_ETAG, hash_of_hello, 8), 0);
  resp.code = COAP_CODE_CONTENT;
  cr_assert_eq(coap_message_set_payload_string(&resp, "hello"), 0);
  cr_assert_eq(coap_hashing_etag(&req, &resp), 0);
  cr_assert_eq(resp.code, COAP_CODE_VALID);
  cr_assert_eq(resp.payload_len, 0);
  coap_message_clear(&req);
  coap_message_clear(&resp);
}
