/*
 * TD_COAP_CORE resources: /test, /seg1/seg2/seg3, /query, /location-query,
 * /multi-format, /validate and /create1.  Piggybacking, NON answers to NON
 * requests and the response cache for duplicate CONs are the library's
 * (RFC 7252 §5.2, §4.5); these answer by method.
 */
#include "plugtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct plugtest_core {
  plugtest_body test; /* /test: what the last PUT stored */
  bool test_put;
  plugtest_body validate;
  uint32_t validate_version; /* /validate's ETag: moves on with every PUT */
  plugtest_body create1;
  bool create1_exists;
};

static const char test_default[] = "This is the plugtest server's /test "
                                   "resource.";

static plugtest_core *core_of(coap_resource *res) {
  return ((plugtest_site *)res->user_data)->core;
}

static int text_answer(coap_message *resp, const char *text) {
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  coap_message_set_payload_borrowed(resp, text, strlen(text));
  return 0;
}

/* /test */

static int test_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)req;
  (void)later;
  plugtest_core *c = core_of(res);
  if (c->test_put) {
    plugtest_body_answer(&c->test, resp);
    return 0;
  }
  return text_answer(resp, test_default);
}

/* TD_COAP_CORE_02/06: 2.01 with a Location-Path; nothing is created, so
 * that the test can run again and again. */
static int test_post(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  resp->code = COAP_CODE_CREATED;
  return coap_options_set_location_path_string(&resp->opt,
                                               "location1/location2/location3");
}

static int test_put(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)later;
  plugtest_core *c = core_of(res);
  int rc = plugtest_body_set(&c->test, req);
  if (rc < 0)
    return rc;
  c->test_put = true;
  resp->code = COAP_CODE_CHANGED;
  return 0;
}

/* 2.02, and GET goes back to the default text (the resource stays). */
static int test_delete(coap_resource *res, coap_message *req,
                       coap_message *resp, coap_future **later) {
  (void)req;
  (void)later;
  plugtest_core *c = core_of(res);
  plugtest_body_clear(&c->test);
  c->test_put = false;
  resp->code = COAP_CODE_DELETED;
  return 0;
}

/* /seg1/seg2/seg3 */

static int seg_get(coap_resource *res, coap_message *req, coap_message *resp,
                   coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  return text_answer(resp, "This is /seg1/seg2/seg3.");
}

/* /query: the Uri-Query options, joined with '&' (at most what one
 * datagram carries, so the answer fits where the request did). */
static int query_get(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)res;
  (void)later;
  size_t len = 0;
  for (size_t i = 0; i < coap_options_count(&req->opt); i++) {
    const coap_option *o = coap_options_at(&req->opt, i);
    if (o->number == COAP_OPT_URI_QUERY)
      len += o->len + 1;
  }
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  if (len == 0)
    return 0;
  /* One byte more than the text: the join writes a terminating NUL. */
  uint8_t *p = coap_message_reserve_payload(resp, len);
  if (p == NULL)
    return COAP_ENOMEM;
  int n = coap_options_get_uri_query_string(&req->opt, (char *)p, len);
  if (n < 0)
    return n;
  coap_message_set_payload_borrowed(resp, p, (size_t)n);
  return 0;
}

/* /location-query: TD_COAP_CORE_08. */
static int location_query_post(coap_resource *res, coap_message *req,
                               coap_message *resp, coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  resp->code = COAP_CODE_CREATED;
  int rc = coap_options_add_location_query(&resp->opt, "first=1");
  if (rc == 0)
    rc = coap_options_add_location_query(&resp->opt, "second=2");
  return rc;
}

/* /multi-format: text or XML by Accept; the library answers 4.06 to any
 * other Accept (content_formats, RFC 7252 §5.10.4). */
static const uint16_t multi_formats[] = {COAP_CT_TEXT_PLAIN, COAP_CT_XML};

static int multi_format_get(coap_resource *res, coap_message *req,
                            coap_message *resp, coap_future **later) {
  (void)res;
  (void)later;
  uint16_t accept;
  if (coap_options_get_accept(&req->opt, &accept) == 0 &&
      accept == COAP_CT_XML) {
    static const char xml[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<plugtest resource=\"multi-format\">"
                              "text or XML</plugtest>";
    coap_options_set_content_format(&resp->opt, COAP_CT_XML);
    coap_message_set_payload_borrowed(resp, xml, strlen(xml));
    return 0;
  }
  return text_answer(resp, "/multi-format as text or XML");
}

/* /validate: its ETag is a version counter; the library answers 2.03 to a
 * GET naming it and 4.12 to an If-Match naming another (§5.10.6.2,
 * §5.10.8.1), before render. */
static int validate_etag(coap_resource *res, const coap_message *req,
                         uint8_t *etag, size_t *len) {
  (void)req;
  const plugtest_core *c = core_of(res);
  memcpy(etag, &c->validate_version, sizeof c->validate_version);
  *len = sizeof c->validate_version;
  return 0;
}

static int validate_get(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)req;
  (void)later;
  plugtest_core *c = core_of(res);
  plugtest_body_answer(&c->validate, resp);
  return 0;
}

static int validate_put(coap_resource *res, coap_message *req,
                        coap_message *resp, coap_future **later) {
  (void)later;
  plugtest_core *c = core_of(res);
  int rc = plugtest_body_set(&c->validate, req);
  if (rc < 0)
    return rc;
  c->validate_version++;
  resp->code = COAP_CODE_CHANGED;
  uint8_t etag[4];
  memcpy(etag, &c->validate_version, sizeof etag);
  return coap_options_set_etag(&resp->opt, etag, sizeof etag);
}

/* /create1: absent (COAP_ENOENT) until a PUT; the library answers 4.12 to
 * If-None-Match while it exists (§5.10.8.2). */
static int create1_etag(coap_resource *res, const coap_message *req,
                        uint8_t *etag, size_t *len) {
  (void)req;
  const plugtest_core *c = core_of(res);
  if (!c->create1_exists)
    return COAP_ENOENT;
  etag[0] = 1;
  *len = 1;
  return 0;
}

static int create1_get(coap_resource *res, coap_message *req,
                       coap_message *resp, coap_future **later) {
  (void)req;
  (void)later;
  plugtest_core *c = core_of(res);
  if (!c->create1_exists)
    return COAP_ENOT_FOUND;
  plugtest_body_answer(&c->create1, resp);
  return 0;
}

static int create1_put(coap_resource *res, coap_message *req,
                       coap_message *resp, coap_future **later) {
  (void)later;
  plugtest_core *c = core_of(res);
  int rc = plugtest_body_set(&c->create1, req);
  if (rc < 0)
    return rc;
  resp->code = c->create1_exists ? COAP_CODE_CHANGED : COAP_CODE_CREATED;
  c->create1_exists = true;
  return 0;
}

static int create1_delete(coap_resource *res, coap_message *req,
                          coap_message *resp, coap_future **later) {
  (void)req;
  (void)later;
  plugtest_core *c = core_of(res);
  plugtest_body_clear(&c->create1);
  c->create1_exists = false;
  resp->code = COAP_CODE_DELETED;
  return 0;
}

int plugtest_core_add(plugtest_site *s) {
  s->core = calloc(1, sizeof *s->core);
  if (s->core == NULL)
    return COAP_ENOMEM;
  static const char validate_default[] = "/validate: GET me with my ETag";
  coap_message init;
  coap_message_init(&init);
  coap_message_set_payload_borrowed(&init, validate_default,
                                    strlen(validate_default));
  int rc = plugtest_body_set(&s->core->validate, &init);
  coap_message_clear(&init);
  if (rc < 0)
    return rc;
  s->core->validate_version = 1;

  static const coap_resource_methods test_methods = {.render_get = test_get,
                                                     .render_post = test_post,
                                                     .render_put = test_put,
                                                     .render_delete =
                                                         test_delete};
  static const coap_resource_methods seg_methods = {.render_get = seg_get};
  static const coap_resource_methods query_methods = {.render_get = query_get};
  static const coap_resource_methods location_query_methods = {
      .render_post = location_query_post};
  static const coap_resource_methods multi_format_methods = {
      .render_get = multi_format_get,
      .content_formats = multi_formats,
      .n_content_formats = 2};
  static const coap_resource_methods validate_methods = {
      .render_get = validate_get,
      .render_put = validate_put,
      .get_etag = validate_etag};
  static const coap_resource_methods create1_methods = {
      .render_get = create1_get,
      .render_put = create1_put,
      .render_delete = create1_delete,
      .get_etag = create1_etag};
  const coap_link_attributes text = {.ct = "0", .sz = -1};
  const coap_link_attributes plain = {.sz = -1};
  const coap_link_attributes multi = {.ct = "0 41", .sz = -1};
  struct {
    const char *path;
    const coap_resource_methods *methods;
    const coap_link_attributes *attrs;
  } table[] = {
      {"test", &test_methods, &text},
      {"seg1/seg2/seg3", &seg_methods, &plain},
      {"query", &query_methods, &plain},
      {"location-query", &location_query_methods, &plain},
      {"multi-format", &multi_format_methods, &multi},
      {"validate", &validate_methods, &plain},
      {"create1", &create1_methods, &plain},
  };
  for (size_t i = 0; rc == 0 && i < sizeof table / sizeof table[0]; i++)
    rc = plugtest_add(s, table[i].path, table[i].methods, s, table[i].attrs,
                      false, NULL);
  return rc;
}

void plugtest_core_free(plugtest_site *s) {
  if (s->core == NULL)
    return;
  plugtest_body_clear(&s->core->test);
  plugtest_body_clear(&s->core->validate);
  plugtest_body_clear(&s->core->create1);
  free(s->core);
  s->core = NULL;
}
