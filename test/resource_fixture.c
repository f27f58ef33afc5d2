#include "resource_fixture.h"

#include <string.h>

int render_text(coap_resource *r, coap_message *request, coap_message *response,
                coap_future **later) {
  (void)request;
  (void)later;
  return coap_message_set_payload_string(response, r->user_data);
}

int render_record(coap_resource *r, coap_message *request,
                  coap_message *response, coap_future **later) {
  (void)response;
  (void)later;
  seen *s = r->user_data;
  s->calls++;
  int n =
      coap_options_get_uri_path_string(&request->opt, s->path, sizeof s->path);
  return n < 0 ? n : 0;
}

int render_created(coap_resource *r, coap_message *request,
                   coap_message *response, coap_future **later) {
  (void)r;
  (void)request;
  (void)later;
  response->code = COAP_CODE_CREATED;
  return 0;
}

int render_forbidden(coap_resource *r, coap_message *request,
                     coap_message *response, coap_future **later) {
  (void)r;
  (void)request;
  (void)response;
  (void)later;
  return COAP_EFORBIDDEN;
}

const coap_resource_methods text_get = {.render_get = render_text};
const coap_resource_methods all_methods = {
    .render_get = render_record,
    .render_post = render_record,
    .render_put = render_record,
    .render_delete = render_record,
    .render_fetch = render_record,
    .render_patch = render_record,
    .render_ipatch = render_record,
};

void destroy_record(coap_resource *r) {
  seen *s = r->user_data;
  s->destroyed++;
}

const coap_resource_vtable record_vtable = {
    .render = render_record,
    .destroy = destroy_record,
};

coap_resource *text_resource(const char *text) {
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&text_get, (void *)text, &r), 0);
  return r;
}

coap_resource *record_resource(seen *s, bool path_capable) {
  coap_resource *r;
  cr_assert_eq(coap_resource_new(&record_vtable, s, &r), 0);
  coap_resource_set_path_capable(r, path_capable);
  return r;
}

/* Adds r at path and drops the caller's reference: the site keeps it. */
void add(coap_site *site, const char *path, coap_resource *r) {
  cr_assert_eq(coap_site_add_resource_path(site, path, r), 0);
  coap_resource_unref(r);
}

void request_init(coap_message *req, uint8_t code, const char *path) {
  coap_message_init(req);
  req->code = code;
  cr_assert_eq(coap_options_set_uri_path_string(&req->opt, path), 0);
}

/* Renders a request for path through site, synchronously. */
int render_path(coap_site *site, uint8_t code, const char *path,
                coap_message *response) {
  coap_message req;
  request_init(&req, code, path);
  coap_message_init(response);
  coap_future *later = NULL;
  int r =
      coap_resource_render(coap_site_as_resource(site), &req, response, &later);
  cr_assert_null(later);
  coap_message_clear(&req);
  return r;
}

void expect_payload(const coap_message *m, const char *text) {
  cr_expect_eq(m->payload_len, strlen(text), "payload length %zu, want %zu",
               m->payload_len, strlen(text));
  if (m->payload_len == strlen(text) && m->payload_len > 0)
    cr_expect_arr_eq(m->payload, text, m->payload_len);
}
