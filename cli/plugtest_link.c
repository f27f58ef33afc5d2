/*
 * TD_COAP_LINK resources: /link1..3 with resource types and interfaces to
 * filter on, /path (a link-format listing of /path/sub1..3) and
 * /.well-known/core, whose RFC 6690 §4.1 filtering (href and any
 * attribute, '*' as prefix match, rt and if as space-separated lists) and
 * blockwise delivery are the library's (coap_wkc_resource_new).
 */
#include "plugtest.h"

#include <string.h>

static int text_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)res;
  (void)later;
  /* Each answers with its own path, as /path/subN must. */
  char path[256];
  int n =
      coap_options_get_uri_path_string(&req->opt, path + 1, sizeof path - 1);
  if (n < 0)
    n = 0;
  path[0] = '/';
  coap_options_set_content_format(&resp->opt, COAP_CT_TEXT_PLAIN);
  return coap_message_set_payload(resp, path, (size_t)n + 1);
}

/* /path: RFC 6690 link format of what is below it. */
static int path_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)res;
  (void)req;
  (void)later;
  static const char links[] =
      "</path/sub1>;ct=0,</path/sub2>;ct=0,</path/sub3>;ct=0";
  coap_options_set_content_format(&resp->opt, COAP_CT_LINK_FORMAT);
  coap_message_set_payload_borrowed(resp, links, strlen(links));
  return 0;
}

int plugtest_link_add(plugtest_site *s) {
  static const coap_resource_methods text_methods = {.render_get = text_get};
  static const coap_resource_methods path_methods = {.render_get = path_get};
  const coap_link_attributes link1 = {
      .rt = "Type1 Type2", .if_ = "If1", .sz = -1};
  const coap_link_attributes link2 = {
      .rt = "Type2 Type3", .if_ = "If2", .sz = -1};
  const coap_link_attributes link3 = {
      .rt = "Type1 Type3", .if_ = "foo", .sz = -1};
  const coap_link_attributes path = {.ct = "40", .sz = -1};
  const coap_link_attributes sub = {.ct = "0", .sz = -1};
  int rc = plugtest_add(s, "link1", &text_methods, s, &link1, false, NULL);
  if (rc == 0)
    rc = plugtest_add(s, "link2", &text_methods, s, &link2, false, NULL);
  if (rc == 0)
    rc = plugtest_add(s, "link3", &text_methods, s, &link3, false, NULL);
  if (rc == 0)
    rc = plugtest_add(s, "path", &path_methods, s, &path, false, NULL);
  for (int i = 1; rc == 0 && i <= 3; i++) {
    char p[16] = "path/sub0";
    p[8] = (char)('0' + i);
    rc = plugtest_add(s, p, &text_methods, s, &sub, false, NULL);
  }
  coap_resource *wkc = NULL;
  if (rc == 0)
    rc = coap_wkc_resource_new(s->site, &wkc);
  if (rc == 0) {
    const coap_link_attributes wkc_attrs = {.ct = "40", .sz = -1};
    rc = coap_resource_set_link_attributes(wkc, &wkc_attrs);
    if (rc == 0)
      rc = coap_site_add_resource_path(s->site, ".well-known/core", wkc);
    coap_resource_unref(wkc);
  }
  return rc;
}
