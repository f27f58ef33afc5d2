#include "blockwise_fixture.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

uint8_t pattern_byte(size_t i) {
  return (uint8_t)(i * 7 + (i >> 8) + (i >> 16));
}

uint8_t *pattern(size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  cr_assert_not_null(p);
  for (size_t i = 0; i < len; i++)
    p[i] = pattern_byte(i);
  return p;
}

void blob_set(blob *b, size_t len) {
  free(b->data);
  b->data = pattern(len);
  b->len = len;
}

static int blob_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)req;
  (void)later;
  blob *b = res->user_data;
  b->renders++;
  coap_options_set_content_format(&resp->opt, COAP_CT_OCTET_STREAM);
  coap_message_set_payload_borrowed(resp, b->data, b->len);
  return 0;
}

static int blob_put(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)later;
  blob *b = res->user_data;
  b->renders++;
  free(b->data);
  b->data = malloc(req->payload_len ? req->payload_len : 1);
  cr_assert_not_null(b->data);
  memcpy(b->data, req->payload, req->payload_len);
  b->len = req->payload_len;
  resp->code = COAP_CODE_CHANGED;
  return 0;
}

static int blob_post(coap_resource *res, coap_message *req, coap_message *resp,
                     coap_future **later) {
  (void)later;
  blob *b = res->user_data;
  b->renders++;
  resp->code = COAP_CODE_CHANGED;
  return coap_message_set_payload(resp, req->payload, req->payload_len);
}

const coap_resource_methods blob_methods = {
    .render_get = blob_get, .render_put = blob_put, .render_post = blob_post};

void config_for_test(coap_context_config *c) {
  coap_context_config_default(c);
  c->max_body_size = 2u << 20;
}

void start_pair(fixture *fx, const coap_context_config *server,
                const coap_context_config *client) {
  memset(fx, 0, sizeof *fx);
  cr_assert_eq(uv_loop_init(&fx->loop), 0);
  cr_assert_eq(coap_site_new(&fx->site), 0);
  cr_assert_eq(coap_context_create_server_context(
                   &fx->loop, fx->site, "[::1]:0", server, &fx->server),
               0);
  cr_assert_eq(
      coap_context_create_client_context(&fx->loop, client, &fx->client), 0);
  struct sockaddr_in6 addr;
  cr_assert_eq(coap_context_local_address(fx->server, &addr), 0);
  fx->port = ntohs(addr.sin6_port);
  snprintf(fx->base, sizeof fx->base, "coap://[::1]:%u", fx->port);
}

void start(fixture *fx, blob *b) {
  coap_context_config c;
  config_for_test(&c);
  start_pair(fx, &c, &c);
  memset(b, 0, sizeof *b);
  fixture_add(fx, "blob", &blob_methods, b);
}

void stop(fixture *fx, blob *b) {
  fixture_stop(fx);
  free(b->data);
}

uint64_t requests_handled(const fixture *fx) {
  coap_context_stats s;
  coap_context_get_stats(fx->server, &s);
  return s.requests_handled;
}

void payload_is_pattern(const coap_message *m, size_t len) {
  cr_assert_eq(m->payload_len, len, "payload of %zu bytes, not %zu",
               m->payload_len, len);
  for (size_t i = 0; i < len; i++)
    if (m->payload[i] != pattern_byte(i))
      cr_assert_fail("byte %zu differs", i);
}

int request_within(fixture *fx, coap_message *msg,
                   const coap_request_params *params, coap_message **resp,
                   uint64_t limit_ms) {
  return fixture_request_params(fx, msg, params, resp, limit_ms);
}

int request_with(fixture *fx, coap_message *msg,
                 const coap_request_params *params, coap_message **resp) {
  int rc = request_within(fx, msg, params, resp, 20000);
  cr_assert_neq(rc, COAP_EAGAIN, "the request finished");
  return rc;
}

int raw_request(fixture *fx, coap_message *msg, coap_message **resp) {
  coap_request_params params;
  coap_request_params_default(&params);
  params.handle_blockwise = false;
  return request_with(fx, msg, &params, resp);
}
