/*
 * RFC 6690 link format, /.well-known/core filtering (§4.1) and hashing
 * ETags.
 */
#include "resource_fixture.h"

#include <stdio.h>
#include <string.h>

static void set_attrs(coap_resource *r, coap_link_attributes attrs) {
  cr_assert_eq(coap_resource_set_link_attributes(r, &attrs), 0);
}

/*
 * The example site of the link-format tests:
 *   /.well-known/core  the WKC resource (ct=40)
 *   /hidden            not listed
 *   /other/block       ct="0 40", if="sensor", sz=2048
 *   /sub/...           a nested site, listed through its contents only
 *   /time              ct=0, rt="ex.time core.s", title, obs
 */
static coap_site *example_site(void) {
  coap_site *site, *sub;
  cr_assert_eq(coap_site_new(&site), 0);
  cr_assert_eq(coap_site_new(&sub), 0);

  coap_resource *r = text_resource("12:00");
  set_attrs(r, (coap_link_attributes){.ct = "0",
                                      .rt = "ex.time core.s",
                                      .title = "Current time",
                                      .sz = -1,
                                      .obs = true});
  add(site, "time", r);

  r = text_resource("block");
  set_attrs(r,
            (coap_link_attributes){.ct = "0 40", .if_ = "sensor", .sz = 2048});
  add(site, "other/block", r);

  r = text_resource("secret");
  set_attrs(r, (coap_link_attributes){.sz = -1, .hidden = true});
  add(site, "hidden", r);

  r = text_resource("x");
  set_attrs(r, (coap_link_attributes){.rt = "core.sub", .sz = -1});
  add(sub, "x", r);
  add(site, "sub", coap_resource_ref(coap_site_as_resource(sub)));
  coap_site_unref(sub);

  cr_assert_eq(coap_wkc_resource_new(site, &r), 0);
  add(site, ".well-known/core", r);
  return site;
}

#define EXAMPLE_LINKS                                                          \
  "</.well-known/core>;ct=40,"                                                 \
  "</other/block>;ct=\"0 40\";if=\"sensor\";sz=2048,"                          \
  "</sub/x>;rt=\"core.sub\","                                                  \
  "</time>;ct=0;rt=\"ex.time core.s\";title=\"Current time\";obs"

COAP_TEST(linkformat, lists_every_visible_resource_in_path_order) {
  coap_site *site = example_site();
  char buf[512];
  int n = coap_site_link_format(site, NULL, buf, sizeof buf);
  cr_assert_eq(n, (int)strlen(EXAMPLE_LINKS), "got %d: %s", n, buf);
  cr_expect_str_eq(buf, EXAMPLE_LINKS);
  coap_site_unref(site);
}

COAP_TEST(linkformat, buffer_too_small_is_enospc) {
  coap_site *site = example_site();
  size_t len = strlen(EXAMPLE_LINKS);
  char buf[512];
  /* The NUL needs a byte too. */
  cr_expect_eq(coap_site_link_format(site, NULL, buf, len), COAP_ENOSPC);
  cr_expect_eq(coap_site_link_format(site, NULL, NULL, 0), COAP_ENOSPC);
  cr_expect_eq(coap_site_link_format(site, NULL, buf, len + 1), (int)len);
  coap_site_unref(site);
}

COAP_TEST(linkformat, empty_site_gives_empty_text) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  char buf[4] = "xyz";
  cr_expect_eq(coap_site_link_format(site, NULL, buf, sizeof buf), 0);
  cr_expect_str_eq(buf, "");
  coap_site_unref(site);
}

COAP_TEST(linkformat, root_is_slash_and_segments_are_percent_encoded) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_resource *r = text_resource("root");
  set_attrs(r, (coap_link_attributes){.title = "say \"hi\" \\o/", .sz = -1});
  add(site, "", r);
  const char *path[] = {"a b", "c/d", "\xc3\xa4"};
  r = text_resource("odd");
  cr_assert_eq(coap_site_add_resource(site, path, 3, r), 0);
  coap_resource_unref(r);
  char buf[256];
  cr_assert_gt(coap_site_link_format(site, NULL, buf, sizeof buf), 0);
  /* RFC 3986 §2.1 in the path, RFC 2616 §2.2 quoted-pair in the title. */
  cr_expect_str_eq(buf, "</>;title=\"say \\\"hi\\\" \\\\o/\","
                        "</a%20b/c%2Fd/%C3%A4>");
  coap_site_unref(site);
}

COAP_TEST(linkformat, nested_site_inside_itself_is_listed_once) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "x", text_resource("x"));
  add(site, "loop", coap_resource_ref(coap_site_as_resource(site)));
  char buf[64];
  cr_expect_eq(coap_site_link_format(site, NULL, buf, sizeof buf), 4);
  cr_expect_str_eq(buf, "</x>");
  /* Break the cycle so the site can go. */
  const char *loop[] = {"loop"};
  cr_assert_eq(coap_site_remove_resource(site, loop, 1), 0);
  coap_site_unref(site);
}

/* GETs /.well-known/core with the given Uri-Query items ("" for none). */
static void get_wkc(coap_site *site, const char *query, coap_message *resp) {
  coap_message req;
  request_init(&req, COAP_CODE_GET, ".well-known/core");
  cr_assert_eq(coap_options_set_uri_query_string(&req.opt, query), 0);
  coap_message_init(resp);
  coap_future *later;
  cr_assert_eq(
      coap_resource_render(coap_site_as_resource(site), &req, resp, &later), 0);
  cr_assert_null(later);
  coap_message_clear(&req);
}

static void expect_filtered(coap_site *site, const char *query,
                            const char *links) {
  coap_message resp;
  get_wkc(site, query, &resp);
  cr_expect_eq(resp.code, COAP_CODE_CONTENT);
  uint16_t cf = 0;
  cr_expect_eq(coap_options_get_content_format(&resp.opt, &cf), 0);
  cr_expect_eq(cf, 40, "RFC 6690 §7.2: application/link-format");
  cr_expect_eq(resp.payload_len, strlen(links), "query %s: got %.*s", query,
               (int)resp.payload_len, (const char *)resp.payload);
  if (resp.payload_len == strlen(links) && resp.payload_len > 0)
    cr_expect_arr_eq(resp.payload, links, resp.payload_len, "query %s", query);
  coap_message_clear(&resp);
}

COAP_TEST(wkc, get_without_query_lists_everything) {
  coap_site *site = example_site();
  expect_filtered(site, "", EXAMPLE_LINKS);
  coap_site_unref(site);
}

COAP_TEST(wkc, href_filter_matches_the_path) {
  coap_site *site = example_site();
  expect_filtered(site, "href=/time",
                  "</time>;ct=0;rt=\"ex.time core.s\";title=\"Current "
                  "time\";obs");
  /* RFC 6690 §4.1: a trailing '*' matches by prefix. */
  expect_filtered(site, "href=/other*",
                  "</other/block>;ct=\"0 40\";if=\"sensor\";sz=2048");
  expect_filtered(site, "href=/sub/x", "</sub/x>;rt=\"core.sub\"");
  expect_filtered(site, "href=/other", "");
  coap_site_unref(site);
}

COAP_TEST(wkc, rt_filter_matches_any_of_the_values) {
  coap_site *site = example_site();
  expect_filtered(site, "rt=core.s",
                  "</time>;ct=0;rt=\"ex.time core.s\";title=\"Current "
                  "time\";obs");
  expect_filtered(site, "rt=core*",
                  "</sub/x>;rt=\"core.sub\","
                  "</time>;ct=0;rt=\"ex.time core.s\";title=\"Current "
                  "time\";obs");
  expect_filtered(site, "rt=core", "");
  coap_site_unref(site);
}

COAP_TEST(wkc, ct_and_if_filters) {
  coap_site *site = example_site();
  expect_filtered(site, "ct=40",
                  "</.well-known/core>;ct=40,"
                  "</other/block>;ct=\"0 40\";if=\"sensor\";sz=2048");
  expect_filtered(site, "if=sensor",
                  "</other/block>;ct=\"0 40\";if=\"sensor\";sz=2048");
  expect_filtered(site, "ct=4", "");
  coap_site_unref(site);
}

COAP_TEST(wkc, title_sz_and_obs_filters) {
  coap_site *site = example_site();
  const char *time_link =
      "</time>;ct=0;rt=\"ex.time core.s\";title=\"Current time\";obs";
  expect_filtered(site, "title=Current time", time_link);
  expect_filtered(site, "title=Cur*", time_link);
  expect_filtered(site, "sz=2048",
                  "</other/block>;ct=\"0 40\";if=\"sensor\";sz=2048");
  expect_filtered(site, "obs", time_link);
  coap_site_unref(site);
}

COAP_TEST(wkc, several_filters_must_all_match) {
  coap_site *site = example_site();
  expect_filtered(site, "rt=core*&obs",
                  "</time>;ct=0;rt=\"ex.time core.s\";title=\"Current "
                  "time\";obs");
  expect_filtered(site, "rt=core*&href=/sub*", "</sub/x>;rt=\"core.sub\"");
  expect_filtered(site, "rt=core.s&if=sensor", "");
  coap_site_unref(site);
}

COAP_TEST(wkc, no_match_gives_empty_payload) {
  coap_site *site = example_site();
  expect_filtered(site, "rt=nothing", "");
  expect_filtered(site, "href=/nowhere", "");
  /* An attribute no link carries matches nothing. */
  expect_filtered(site, "foo=bar", "");
  expect_filtered(site, "hidden", "");
  coap_site_unref(site);
}

COAP_TEST(wkc, other_methods_are_not_allowed) {
  coap_site *site = example_site();
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_POST, ".well-known/core", &resp),
               COAP_EMETHOD_NOT_ALLOWED);
  coap_site_unref(site);
}

COAP_TEST(wkc, thousand_resources_exceed_small_buffers) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  for (int i = 0; i < 1000; i++) {
    char path[32];
    snprintf(path, sizeof path, "sensors/s%04d", i);
    coap_resource *r = text_resource("v");
    set_attrs(r, (coap_link_attributes){.rt = "ex.sensor", .sz = -1});
    add(site, path, r);
  }
  coap_resource *wkc;
  cr_assert_eq(coap_wkc_resource_new(site, &wkc), 0);
  add(site, ".well-known/core", wkc);

  char small[1024];
  cr_expect_eq(coap_site_link_format(site, NULL, small, sizeof small),
               COAP_ENOSPC);
  /* Each link is "</sensors/sNNNN>;rt=\"ex.sensor\"" (31 bytes) plus a
   * comma, after "</.well-known/core>;ct=40,". */
  size_t want = strlen("</.well-known/core>;ct=40,") + 1000 * 32 - 1;
  char *big = malloc(want + 1);
  cr_assert_eq(coap_site_link_format(site, NULL, big, want + 1), (int)want);
  cr_expect_eq(memcmp(big + want - 31, "</sensors/s0999>;rt=\"ex.sensor\"", 31),
               0);

  coap_message resp;
  get_wkc(site, "", &resp);
  cr_expect_eq(resp.payload_len, want);
  cr_expect_eq(memcmp(resp.payload, big, want), 0);
  coap_message_clear(&resp);
  free(big);

  get_wkc(site, "href=/sensors/s0500", &resp);
  expect_payload(&resp, "</sensors/s0500>;rt=\"ex.sensor\"");
  coap_message_clear(&resp);
  coap_site_unref(site);
}

static void etag_of(const coap_message *m, uint8_t out[8]) {
  const uint8_t *v;
  size_t len;
  cr_assert_eq(coap_options_get_etag(&m->opt, &v, &len), 0);
  cr_assert_eq(len, 8);
  memcpy(out, v, 8);
}

static void content_response(coap_message *resp, const char *text,
                             uint16_t cf) {
  coap_message_init(resp);
  resp->code = COAP_CODE_CONTENT;
  cr_assert_eq(coap_message_set_payload_string(resp, text), 0);
  cr_assert_eq(coap_options_set_content_format(&resp->opt, cf), 0);
}

COAP_TEST(hashing_etag, sets_an_8_byte_etag_from_the_representation) {
  coap_message req, a, b, c, d;
  request_init(&req, COAP_CODE_GET, "x");
  content_response(&a, "hello", 0);
  content_response(&b, "hello", 0);
  content_response(&c, "hellp", 0);
  content_response(&d, "hello", 50);
  cr_assert_eq(coap_hashing_etag(&req, &a), 0);
  cr_assert_eq(coap_hashing_etag(&req, &b), 0);
  cr_assert_eq(coap_hashing_etag(&req, &c), 0);
  cr_assert_eq(coap_hashing_etag(&req, &d), 0);
  uint8_t ea[8], eb[8], ec[8], ed[8];
  etag_of(&a, ea);
  etag_of(&b, eb);
  etag_of(&c, ec);
  etag_of(&d, ed);
  cr_expect_arr_eq(ea, eb, 8, "same representation, same ETag");
  cr_expect_arr_neq(ea, ec, 8, "other payload, other ETag");
  /* aiocoap's hashing_etag hashes the payload alone (issue 10: ported
   * servers keep their ETags). */
  cr_expect_arr_eq(ea, ed, 8, "the payload alone makes the ETag");
  cr_expect_eq(a.code, COAP_CODE_CONTENT);
  expect_payload(&a, "hello");
  coap_message_clear(&a);
  coap_message_clear(&b);
  coap_message_clear(&c);
  coap_message_clear(&d);
}

COAP_TEST(hashing_etag, matching_request_etag_gives_2_03_without_payload) {
  coap_message first, req, resp;
  content_response(&first, "hello", 0);
  cr_assert_eq(coap_hashing_etag(NULL, &first), 0);
  uint8_t etag[8];
  etag_of(&first, etag);

  /* RFC 7252 §5.10.6.2: the client lists the ETags it holds, any order. */
  request_init(&req, COAP_CODE_GET, "x");
  cr_assert_eq(coap_options_add_etag(&req.opt, "\x01\x02", 2), 0);
  cr_assert_eq(coap_options_add_etag(&req.opt, etag, 8), 0);
  content_response(&resp, "hello", 0);
  cr_assert_eq(coap_hashing_etag(&req, &resp), 0);
  cr_expect_eq(resp.code, COAP_CODE_VALID);
  cr_expect_eq(resp.payload_len, 0);
  uint8_t kept[8];
  etag_of(&resp, kept);
  cr_expect_arr_eq(kept, etag, 8, "RFC 7252 §5.9.1.3: 2.03 carries the ETag");
  coap_message_clear(&resp);
  coap_message_clear(&req);
  coap_message_clear(&first);
}

COAP_TEST(hashing_etag, different_request_etag_gives_full_2_05) {
  coap_message req, resp;
  request_init(&req, COAP_CODE_GET, "x");
  cr_assert_eq(coap_options_add_etag(&req.opt, "abcdefgh", 8), 0);
  content_response(&resp, "hello", 0);
  cr_assert_eq(coap_hashing_etag(&req, &resp), 0);
  cr_expect_eq(resp.code, COAP_CODE_CONTENT);
  expect_payload(&resp, "hello");
  uint8_t etag[8];
  etag_of(&resp, etag);
  coap_message_clear(&resp);
  coap_message_clear(&req);
}

COAP_TEST(hashing_etag, leaves_other_codes_alone) {
  coap_message req, resp;
  request_init(&req, COAP_CODE_GET, "x");
  coap_message_init(&resp);
  resp.code = COAP_CODE_NOT_FOUND;
  cr_assert_eq(coap_hashing_etag(&req, &resp), 0);
  cr_expect_not(coap_options_has(&resp.opt, COAP_OPT_ETAG));
  /* An unset code still becomes 2.05 for a GET, so it is tagged. */
  resp.code = 0;
  cr_assert_eq(coap_hashing_etag(&req, &resp), 0);
  cr_expect(coap_options_has(&resp.opt, COAP_OPT_ETAG));
  coap_message_clear(&resp);
}

static int render_hashed(coap_resource *r, coap_message *request,
                         coap_message *response, coap_future **later) {
  int rc = render_text(r, request, response, later);
  return rc < 0 ? rc : coap_hashing_etag(request, response);
}

COAP_TEST(hashing_etag, revalidation_through_a_site) {
  static const coap_resource_methods m = {.render_get = render_hashed};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&m, "state", &r), 0);
  add(site, "state", r);
  coap_message resp;
  cr_assert_eq(render_path(site, COAP_CODE_GET, "state", &resp), 0);
  uint8_t etag[8];
  etag_of(&resp, etag);
  coap_message_clear(&resp);

  coap_message req;
  request_init(&req, COAP_CODE_GET, "state");
  cr_assert_eq(coap_options_add_etag(&req.opt, etag, 8), 0);
  coap_message_init(&resp);
  coap_future *later;
  cr_assert_eq(
      coap_resource_render(coap_site_as_resource(site), &req, &resp, &later),
      0);
  cr_expect_eq(resp.code, COAP_CODE_VALID);
  cr_expect_eq(resp.payload_len, 0);
  coap_message_clear(&resp);
  coap_message_clear(&req);
  coap_site_unref(site);
}

/* Issue 10: a zero-initialised coap_link_attributes means "none" (no
 * sz=0), and an observable resource is listed with ;obs without being
 * told, as aiocoap lists it. */
static int zero_get(coap_resource *res, coap_message *req, coap_message *resp,
                    coap_future **later) {
  (void)res;
  (void)req;
  (void)resp;
  (void)later;
  return 0;
}

COAP_TEST(linkformat, zero_attributes_and_observable_resources) {
  static const coap_resource_methods m = {.render_get = zero_get};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_resource *plain, *observed;
  cr_assert_eq(coap_resource_new_methods(&m, NULL, &plain), 0);
  coap_link_attributes zero;
  memset(&zero, 0, sizeof zero);
  cr_assert_eq(coap_resource_set_link_attributes(plain, &zero), 0);
  cr_assert_eq(coap_site_add_resource_path(site, "plain", plain), 0);
  cr_assert_eq(coap_observable_resource_new_methods(&m, NULL, NULL, &observed),
               0);
  cr_assert_eq(coap_site_add_resource_path(site, "observed", observed), 0);
  char buf[256];
  cr_assert_gt(coap_site_link_format(site, NULL, buf, sizeof buf), 0);
  cr_assert_str_eq(buf, "</observed>;obs,</plain>");
  coap_resource_unref(plain);
  coap_resource_unref(observed);
  coap_site_unref(site);
}
