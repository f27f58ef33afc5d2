/*
 * Accept (RFC 7252 §5.10.4): resources that declare the Content-Formats
 * they produce get other Accepts answered 4.06 by the library, and so does
 * /.well-known/core for anything but application/link-format (40).
 */
#include "context_fixture.h"

#include <string.h>

static int renders;

static int json_get(coap_resource *r, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)r;
  (void)later;
  renders++;
  uint16_t accept = COAP_CT_JSON;
  (void)coap_options_get_accept(&req->opt, &accept);
  coap_options_set_content_format(&resp->opt, accept);
  return coap_message_set_payload_string(resp, accept == COAP_CT_JSON ? "{}"
                                                                      : "\xa0");
}

static const uint16_t json_or_cbor[] = {COAP_CT_JSON, COAP_CT_CBOR};

static const coap_resource_methods formats_methods = {
    .render_get = json_get,
    .render_fetch = json_get,
    .render_post = json_get,
    .content_formats = json_or_cbor,
    .n_content_formats = 2,
};

static const coap_resource_methods any_methods = {.render_get = json_get};

static const coap_resource_vtable formats_vtable = {
    .render = json_get,
    .content_formats = json_or_cbor,
    .n_content_formats = 2,
};

static coap_message *with_accept(fixture *fx, uint8_t code, const char *path,
                                 int accept) {
  coap_message *m = fixture_message(fx, code, path);
  if (accept >= 0)
    cr_assert_eq(coap_options_set_accept(&m->opt, (uint16_t)accept), 0);
  return m;
}

static uint8_t code_of(fixture *fx, coap_message *m) {
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(fx, m, &resp, 5000), 0);
  uint8_t code = resp->code;
  coap_message_free(resp);
  return code;
}

static void start(fixture *fx) {
  fixture_start(fx, NULL);
  renders = 0;
  fixture_add(fx, "formats", &formats_methods, NULL);
  fixture_add(fx, "any", &any_methods, NULL);
  coap_resource *res;
  cr_assert_eq(coap_resource_new(&formats_vtable, NULL, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(fx->site, "vtable", res), 0);
  coap_resource_unref(res);
  cr_assert_eq(coap_wkc_resource_new(fx->site, &res), 0);
  cr_assert_eq(coap_site_add_resource_path(fx->site, ".well-known/core", res),
               0);
  coap_resource_unref(res);
}

/* RFC 7252 §5.10.4: "If the preferred Content-Format cannot be returned,
 * then a 4.06 'Not Acceptable' MUST be sent". */
COAP_TEST(accept, unlisted_format_is_4_06_without_rendering) {
  fixture fx;
  start(&fx);
  cr_expect_eq(
      code_of(&fx, with_accept(&fx, COAP_CODE_GET, "/formats", COAP_CT_XML)),
      COAP_CODE_NOT_ACCEPTABLE);
  cr_expect_eq(
      code_of(&fx, with_accept(&fx, COAP_CODE_FETCH, "/formats", COAP_CT_XML)),
      COAP_CODE_NOT_ACCEPTABLE);
  cr_expect_eq(renders, 0);
  fixture_stop(&fx);
}

COAP_TEST(accept, listed_formats_and_no_accept_render) {
  fixture fx;
  start(&fx);
  cr_expect_eq(
      code_of(&fx, with_accept(&fx, COAP_CODE_GET, "/formats", COAP_CT_JSON)),
      COAP_CODE_CONTENT);
  cr_expect_eq(
      code_of(&fx, with_accept(&fx, COAP_CODE_GET, "/formats", COAP_CT_CBOR)),
      COAP_CODE_CONTENT);
  cr_expect_eq(code_of(&fx, with_accept(&fx, COAP_CODE_GET, "/formats", -1)),
               COAP_CODE_CONTENT);
  cr_expect_eq(renders, 3);
  fixture_stop(&fx);
}

/* The formats are those of representations: a POST's Accept is left to the
 * renderer. */
COAP_TEST(accept, post_is_left_to_the_renderer) {
  fixture fx;
  start(&fx);
  cr_expect_eq(
      code_of(&fx, with_accept(&fx, COAP_CODE_POST, "/formats", COAP_CT_XML)),
      COAP_CODE_CHANGED);
  cr_expect_eq(renders, 1);
  fixture_stop(&fx);
}

COAP_TEST(accept, vtable_resource_declares_formats_too) {
  fixture fx;
  start(&fx);
  cr_expect_eq(
      code_of(&fx, with_accept(&fx, COAP_CODE_GET, "/vtable", COAP_CT_XML)),
      COAP_CODE_NOT_ACCEPTABLE);
  cr_expect_eq(
      code_of(&fx, with_accept(&fx, COAP_CODE_GET, "/vtable", COAP_CT_CBOR)),
      COAP_CODE_CONTENT);
  cr_expect_eq(renders, 1);
  fixture_stop(&fx);
}

COAP_TEST(accept, resource_without_formats_sees_any_accept) {
  fixture fx;
  start(&fx);
  cr_expect_eq(
      code_of(&fx, with_accept(&fx, COAP_CODE_GET, "/any", COAP_CT_XML)),
      COAP_CODE_CONTENT);
  cr_expect_eq(renders, 1);
  fixture_stop(&fx);
}

/* aiocoap's WKCResource: link format only. */
COAP_TEST(accept, well_known_core_is_link_format_only) {
  fixture fx;
  start(&fx);
  const int others[] = {COAP_CT_TEXT_PLAIN, COAP_CT_JSON, COAP_CT_CBOR, 65000};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
    cr_expect_eq(code_of(&fx, with_accept(&fx, COAP_CODE_GET,
                                          "/.well-known/core", others[i])),
                 COAP_CODE_NOT_ACCEPTABLE, "Accept %d", others[i]);
  coap_message *resp = NULL;
  cr_assert_eq(
      fixture_request(&fx,
                      with_accept(&fx, COAP_CODE_GET, "/.well-known/core",
                                  COAP_CT_LINK_FORMAT),
                      &resp, 5000),
      0);
  cr_expect_eq(resp->code, COAP_CODE_CONTENT);
  uint16_t cf = 0;
  cr_assert_eq(coap_options_get_content_format(&resp->opt, &cf), 0);
  cr_expect_eq(cf, COAP_CT_LINK_FORMAT);
  cr_expect_gt(resp->payload_len, 0);
  coap_message_free(resp);
  cr_expect_eq(
      code_of(&fx, with_accept(&fx, COAP_CODE_GET, "/.well-known/core", -1)),
      COAP_CODE_CONTENT);
  fixture_stop(&fx);
}
