#include "resource_fixture.h"

#include <stdio.h>
#include <string.h>
COAP_TEST(resource, get_on_methods_resource_answers_2_05_with_payload) {
  coap_resource *r = text_resource("hello");
  coap_message req, resp;
  request_init(&req, COAP_CODE_GET, "");
  coap_message_init(&resp);
  coap_future *later = (coap_future *)&later; /* must be reset */
  cr_assert_eq(coap_resource_render(r, &req, &resp, &later), 0);
  cr_expect_null(later);
  cr_expect_eq(resp.code, COAP_CODE_CONTENT);
  expect_payload(&resp, "hello");
  coap_message_clear(&req);
  coap_message_clear(&resp);
  coap_resource_unref(r);
}

COAP_TEST(resource, missing_method_is_method_not_allowed) {
  coap_resource *r = text_resource("hello");
  coap_message req, resp;
  coap_future *later;
  /* RFC 7252 §5.9.2.6: 4.05 for a method the resource does not support. */
  const uint8_t others[] = {COAP_CODE_POST,  COAP_CODE_PUT,   COAP_CODE_DELETE,
                            COAP_CODE_FETCH, COAP_CODE_PATCH, COAP_CODE_IPATCH};
  for (size_t i = 0; i < sizeof others; i++) {
    request_init(&req, others[i], "");
    coap_message_init(&resp);
    cr_expect_eq(coap_resource_render(r, &req, &resp, &later),
                 COAP_EMETHOD_NOT_ALLOWED);
    cr_expect_eq(resp.code, 0);
    coap_message_clear(&req);
  }
  coap_resource_unref(r);
}

COAP_TEST(resource, code_that_is_no_method_is_method_not_allowed) {
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&all_methods, &(seen){0}, &r), 0);
  coap_message req, resp;
  coap_future *later;
  const uint8_t codes[] = {COAP_CODE_EMPTY, COAP_CODE(0, 8), COAP_CODE_CONTENT,
                           COAP_CODE_NOT_FOUND};
  for (size_t i = 0; i < sizeof codes; i++) {
    request_init(&req, codes[i], "");
    coap_message_init(&resp);
    cr_expect_eq(coap_resource_render(r, &req, &resp, &later),
                 COAP_EMETHOD_NOT_ALLOWED, "code %u", codes[i]);
  }
  coap_resource_unref(r);
}

COAP_TEST(resource, default_code_follows_the_method) {
  seen s = {0};
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&all_methods, &s, &r), 0);
  const struct {
    uint8_t method, code;
  } cases[] = {
      {COAP_CODE_GET, COAP_CODE_CONTENT},
      {COAP_CODE_FETCH, COAP_CODE_CONTENT},
      {COAP_CODE_POST, COAP_CODE_CHANGED},
      {COAP_CODE_PUT, COAP_CODE_CHANGED},
      {COAP_CODE_PATCH, COAP_CODE_CHANGED},
      {COAP_CODE_IPATCH, COAP_CODE_CHANGED},
      {COAP_CODE_DELETE, COAP_CODE_DELETED},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    coap_message req, resp;
    coap_future *later;
    request_init(&req, cases[i].method, "");
    coap_message_init(&resp);
    cr_expect_eq(coap_resource_render(r, &req, &resp, &later), 0);
    cr_expect_eq(resp.code, cases[i].code, "method %u gave %u, want %u",
                 cases[i].method, resp.code, cases[i].code);
  }
  cr_expect_eq(s.calls, 7);
  coap_resource_unref(r);
}

COAP_TEST(resource, code_set_by_the_renderer_is_kept) {
  static const coap_resource_methods m = {.render_post = render_created};
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&m, NULL, &r), 0);
  coap_message req, resp;
  coap_future *later;
  request_init(&req, COAP_CODE_POST, "");
  coap_message_init(&resp);
  cr_expect_eq(coap_resource_render(r, &req, &resp, &later), 0);
  cr_expect_eq(resp.code, COAP_CODE_CREATED);
  coap_resource_unref(r);
}

COAP_TEST(resource, render_error_is_returned_and_code_left_unset) {
  static const coap_resource_methods m = {.render_get = render_forbidden};
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&m, NULL, &r), 0);
  coap_message req, resp;
  coap_future *later;
  request_init(&req, COAP_CODE_GET, "");
  coap_message_init(&resp);
  cr_expect_eq(coap_resource_render(r, &req, &resp, &later), COAP_EFORBIDDEN);
  cr_expect_eq(resp.code, 0);
  coap_resource_unref(r);
}

COAP_TEST(resource, vtable_render_takes_every_method) {
  seen s = {0};
  coap_resource *r = record_resource(&s, false);
  coap_message req, resp;
  coap_future *later;
  request_init(&req, COAP_CODE_PATCH, "");
  coap_message_init(&resp);
  cr_expect_eq(coap_resource_render(r, &req, &resp, &later), 0);
  cr_expect_eq(s.calls, 1);
  cr_expect_eq(resp.code, COAP_CODE_CHANGED);
  coap_resource_unref(r);
}

COAP_TEST(resource, new_rejects_a_vtable_without_render) {
  static const coap_resource_vtable empty = {0};
  coap_resource *r = NULL;
  cr_expect_eq(coap_resource_new(&empty, NULL, &r), COAP_EINVAL);
  cr_expect_eq(coap_resource_new(NULL, NULL, &r), COAP_EINVAL);
  cr_expect_eq(coap_resource_new_methods(NULL, NULL, &r), COAP_EINVAL);
  cr_expect_null(r);
}

COAP_TEST(resource, last_unref_calls_destroy_once) {
  seen s = {0};
  coap_resource *r = record_resource(&s, false);
  coap_resource_ref(r);
  coap_resource_unref(r);
  cr_expect_eq(s.destroyed, 0);
  coap_resource_unref(r);
  cr_expect_eq(s.destroyed, 1);
}

COAP_TEST(resource, link_attributes_are_copied) {
  coap_resource *r = text_resource("x");
  char rt[] = "core.s";
  coap_link_attributes attrs = {.rt = rt, .title = "T", .sz = 5, .obs = true};
  cr_assert_eq(coap_resource_set_link_attributes(r, &attrs), 0);
  rt[0] = 'X';
  cr_expect_str_eq(r->attr_rt, "core.s");
  cr_expect_str_eq(r->attr_title, "T");
  cr_expect_null(r->attr_if);
  cr_expect_eq(r->attr_sz, 5);
  cr_expect(r->attr_obs);
  /* Setting again replaces (and frees) the old strings. */
  attrs = (coap_link_attributes){.if_ = "sensor", .sz = -1};
  cr_assert_eq(coap_resource_set_link_attributes(r, &attrs), 0);
  cr_expect_null(r->attr_rt);
  cr_expect_str_eq(r->attr_if, "sensor");
  cr_expect_eq(r->attr_sz, -1);
  coap_resource_unref(r);
}

COAP_TEST(site, get_routes_by_uri_path) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "time", text_resource("12:00"));
  add(site, "a/b", text_resource("ab"));
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "time", &resp), 0);
  cr_expect_eq(resp.code, COAP_CODE_CONTENT);
  expect_payload(&resp, "12:00");
  coap_message_clear(&resp);
  cr_expect_eq(render_path(site, COAP_CODE_GET, "a/b", &resp), 0);
  expect_payload(&resp, "ab");
  coap_message_clear(&resp);
  coap_site_unref(site);
}

COAP_TEST(site, unknown_path_is_not_found) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "a/b", text_resource("ab"));
  coap_message resp;
  /* "a" is only an inner node, "a/b/c" is below a resource that is not
   * path-capable, and the root holds nothing. */
  const char *paths[] = {"x", "a", "a/b/c", "", "a/bb", "time"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
    cr_expect_eq(render_path(site, COAP_CODE_GET, paths[i], &resp),
                 COAP_ENOT_FOUND, "path \"%s\"", paths[i]);
  coap_site_unref(site);
}

COAP_TEST(site, missing_method_through_site_is_method_not_allowed) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "time", text_resource("12:00"));
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_PUT, "time", &resp),
               COAP_EMETHOD_NOT_ALLOWED);
  coap_site_unref(site);
}

COAP_TEST(site, root_resource_answers_the_empty_path) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "", text_resource("root"));
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "", &resp), 0);
  expect_payload(&resp, "root");
  coap_message_clear(&resp);
  cr_expect_eq(render_path(site, COAP_CODE_GET, "other", &resp),
               COAP_ENOT_FOUND);
  coap_site_unref(site);
}

COAP_TEST(site, exact_match_sees_the_full_path) {
  seen s = {0};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "a/b", record_resource(&s, false));
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "a/b", &resp), 0);
  cr_expect_str_eq(s.path, "a/b");
  coap_site_unref(site);
}

COAP_TEST(site, path_capable_resource_receives_the_rest_of_the_path) {
  seen s = {0};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "files", record_resource(&s, true));
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "files/dir/name.txt", &resp),
               0);
  cr_expect_str_eq(s.path, "dir/name.txt");
  cr_expect_eq(render_path(site, COAP_CODE_GET, "files", &resp), 0);
  cr_expect_str_eq(s.path, "");
  cr_expect_eq(render_path(site, COAP_CODE_GET, "files/", &resp), 0);
  cr_expect_str_eq(s.path, "", "the trailing empty segment remains");
  cr_expect_eq(s.calls, 3);
  coap_site_unref(site);
}

COAP_TEST(site, longest_path_capable_prefix_wins_and_exact_beats_prefix) {
  seen outer = {0}, inner = {0}, exact = {0};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "a", record_resource(&outer, true));
  add(site, "a/b", record_resource(&inner, true));
  add(site, "a/b/c", record_resource(&exact, false));
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "a/b/x/y", &resp), 0);
  cr_expect_str_eq(inner.path, "x/y");
  cr_expect_eq(render_path(site, COAP_CODE_GET, "a/x", &resp), 0);
  cr_expect_str_eq(outer.path, "x");
  cr_expect_eq(render_path(site, COAP_CODE_GET, "a/b/c", &resp), 0);
  cr_expect_str_eq(exact.path, "a/b/c");
  /* Below a non-path-capable resource the nearest capable one answers. */
  cr_expect_eq(render_path(site, COAP_CODE_GET, "a/b/c/d", &resp), 0);
  cr_expect_str_eq(inner.path, "c/d");
  cr_expect_eq(outer.calls, 1);
  cr_expect_eq(inner.calls, 2);
  cr_expect_eq(exact.calls, 1);
  coap_site_unref(site);
}

COAP_TEST(site, find_reports_the_matched_prefix_length) {
  seen s = {0};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_resource *fs = record_resource(&s, true);
  coap_resource *leaf = text_resource("x");
  add(site, "fs", coap_resource_ref(fs));
  add(site, "fs/deep/leaf", coap_resource_ref(leaf));
  coap_message req;
  size_t k = 99;
  request_init(&req, COAP_CODE_GET, "fs/deep/leaf");
  cr_expect_eq(coap_site_find(site, &req, &k), leaf);
  cr_expect_eq(k, 3);
  request_init(&req, COAP_CODE_GET, "fs/deep");
  cr_expect_eq(coap_site_find(site, &req, &k), fs);
  cr_expect_eq(k, 1);
  request_init(&req, COAP_CODE_GET, "nothing");
  cr_expect_null(coap_site_find(site, &req, &k));
  cr_expect_eq(k, 0);
  coap_message_clear(&req);
  coap_resource_unref(fs);
  coap_resource_unref(leaf);
  coap_site_unref(site);
}

COAP_TEST(site, nested_site_routes_the_path_below_its_prefix) {
  seen fs = {0}, leaf = {0};
  coap_site *site, *sub;
  cr_assert_eq(coap_site_new(&site), 0);
  cr_assert_eq(coap_site_new(&sub), 0);
  add(sub, "", text_resource("sub root"));
  add(sub, "leaf", record_resource(&leaf, false));
  add(sub, "fs", record_resource(&fs, true));
  cr_assert_eq(
      coap_site_add_resource_path(site, "api/v1", coap_site_as_resource(sub)),
      0);
  coap_site_unref(sub); /* the parent keeps it alive */
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "api/v1/leaf", &resp), 0);
  cr_expect_str_eq(leaf.path, "leaf", "the site's prefix is stripped");
  cr_expect_eq(render_path(site, COAP_CODE_GET, "api/v1/fs/x/y", &resp), 0);
  cr_expect_str_eq(fs.path, "x/y");
  cr_expect_eq(render_path(site, COAP_CODE_GET, "api/v1", &resp), 0);
  expect_payload(&resp, "sub root");
  coap_message_clear(&resp);
  cr_expect_eq(render_path(site, COAP_CODE_GET, "api/v1/none", &resp),
               COAP_ENOT_FOUND);
  cr_expect_eq(render_path(site, COAP_CODE_GET, "api", &resp), COAP_ENOT_FOUND);
  coap_site_unref(site);
  cr_expect_eq(leaf.calls, 1);
}

COAP_TEST(site, child_freed_first_lives_while_the_parent_holds_it) {
  seen s = {0};
  coap_site *site, *sub;
  cr_assert_eq(coap_site_new(&site), 0);
  cr_assert_eq(coap_site_new(&sub), 0);
  add(sub, "x", record_resource(&s, false));
  cr_assert_eq(
      coap_site_add_resource_path(site, "sub", coap_site_as_resource(sub)), 0);
  coap_site_unref(sub);
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "sub/x", &resp), 0);
  cr_expect_eq(s.destroyed, 0);
  /* Removing it from the parent drops the last reference. */
  const char *path[] = {"sub"};
  cr_expect_eq(coap_site_remove_resource(site, path, 1), 0);
  cr_expect_eq(s.destroyed, 1);
  coap_site_unref(site);
}

COAP_TEST(site, routes_a_decoded_request_that_borrows_the_datagram) {
  seen s = {0};
  coap_site *site, *sub;
  cr_assert_eq(coap_site_new(&site), 0);
  cr_assert_eq(coap_site_new(&sub), 0);
  add(sub, "fs", record_resource(&s, true));
  add(site, "sub", coap_resource_ref(coap_site_as_resource(sub)));
  coap_site_unref(sub);

  coap_message out;
  request_init(&out, COAP_CODE_GET, "sub/fs/one/two");
  cr_assert_eq(coap_options_add_uri_query(&out.opt, "q=1"), 0);
  out.mtype = COAP_TYPE_CON;
  out.mid = 7;
  uint8_t wire[128];
  int n = coap_message_encode(&out, wire, sizeof wire);
  cr_assert_gt(n, 0);
  coap_message_clear(&out);

  coap_message req, resp;
  coap_message_init(&req);
  cr_assert_eq(coap_message_decode(&req, wire, (size_t)n), 0);
  coap_message_init(&resp);
  coap_future *later;
  cr_expect_eq(
      coap_resource_render(coap_site_as_resource(site), &req, &resp, &later),
      0);
  cr_expect_str_eq(s.path, "one/two");
  char query[16];
  cr_expect_eq(coap_options_get_uri_query_string(&req.opt, query, sizeof query),
               3);
  cr_expect_str_eq(query, "q=1");
  coap_message_clear(&req);
  coap_site_unref(site);
}

COAP_TEST(site, strips_long_paths) {
  seen s = {0};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "deep", record_resource(&s, true));
  coap_message req, resp;
  request_init(&req, COAP_CODE_GET, "deep");
  /* More remaining bytes and segments than the router keeps on its stack. */
  char seg[40];
  for (int i = 0; i < 300; i++) {
    snprintf(seg, sizeof seg, "segment-%03d", i);
    cr_assert_eq(coap_options_add_uri_path(&req.opt, seg), 0);
  }
  coap_message_init(&resp);
  coap_future *later;
  cr_expect_eq(
      coap_resource_render(coap_site_as_resource(site), &req, &resp, &later),
      0);
  cr_expect_eq(coap_options_count_of(&req.opt, COAP_OPT_URI_PATH), 300);
  const coap_option *first =
      coap_options_get_nth(&req.opt, COAP_OPT_URI_PATH, 0);
  const coap_option *last =
      coap_options_get_nth(&req.opt, COAP_OPT_URI_PATH, 299);
  cr_expect_eq(first->len, 11);
  cr_expect_arr_eq(first->value, "segment-000", 11);
  cr_expect_arr_eq(last->value, "segment-299", 11);
  coap_message_clear(&req);
  coap_site_unref(site);
}

COAP_TEST(site, add_replaces_the_resource_at_a_path) {
  seen old = {0};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "x", record_resource(&old, false));
  add(site, "x", text_resource("new"));
  cr_expect_eq(old.destroyed, 1, "the replaced resource was released");
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "x", &resp), 0);
  expect_payload(&resp, "new");
  coap_message_clear(&resp);
  cr_expect_eq(old.calls, 0);
  coap_site_unref(site);
}

COAP_TEST(site, remove_makes_the_path_not_found) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "a/b", text_resource("ab"));
  add(site, "a", text_resource("a"));
  const char *ab[] = {"a", "b"};
  const char *a[] = {"a"};
  const char *nothing[] = {"nothing"};
  cr_expect_eq(coap_site_remove_resource(site, ab, 2), 0);
  cr_expect_eq(coap_site_remove_resource(site, ab, 2), COAP_ENOENT);
  cr_expect_eq(coap_site_remove_resource(site, nothing, 1), COAP_ENOENT);
  cr_expect_eq(coap_site_remove_resource(site, NULL, 0), COAP_ENOENT);
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "a/b", &resp), COAP_ENOT_FOUND);
  cr_expect_eq(render_path(site, COAP_CODE_GET, "a", &resp), 0);
  coap_message_clear(&resp);
  cr_expect_eq(coap_site_remove_resource(site, a, 1), 0);
  char buf[16];
  cr_expect_eq(coap_site_link_format(site, NULL, buf, sizeof buf), 0);
  coap_site_unref(site);
}

COAP_TEST(site, add_checks_its_arguments) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_resource *r = text_resource("x");
  char long_segment[257];
  memset(long_segment, 'a', 256);
  long_segment[256] = '\0';
  const char *too_long[] = {long_segment};
  const char *with_null[] = {"a", NULL};
  /* RFC 7252 §5.10: a Uri-Path segment is at most 255 bytes. */
  cr_expect_eq(coap_site_add_resource(site, too_long, 1, r), COAP_EINVAL);
  cr_expect_eq(coap_site_add_resource(site, with_null, 2, r), COAP_EINVAL);
  cr_expect_eq(coap_site_add_resource(site, NULL, 1, r), COAP_EINVAL);
  cr_expect_eq(coap_site_add_resource(site, NULL, 0, NULL), COAP_EINVAL);
  coap_resource_unref(r);
  coap_site_unref(site);
}

COAP_TEST(site, add_resource_path_takes_a_leading_slash) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  add(site, "/x/y", text_resource("xy"));
  add(site, "/", text_resource("root"));
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "x/y", &resp), 0);
  expect_payload(&resp, "xy");
  coap_message_clear(&resp);
  cr_expect_eq(render_path(site, COAP_CODE_GET, "", &resp), 0);
  expect_payload(&resp, "root");
  coap_message_clear(&resp);
  coap_site_unref(site);
}

static coap_server_observation *observed;

static void record_observation(coap_resource *r, const coap_message *request,
                               coap_server_observation *observation) {
  (void)request;
  seen *s = r->user_data;
  s->calls++;
  observed = observation;
}

COAP_TEST(site, add_observation_reaches_the_resource_in_a_nested_site) {
  static const coap_resource_vtable observable = {
      .render = render_record, .add_observation = record_observation};
  seen s = {0};
  coap_site *site, *sub;
  cr_assert_eq(coap_site_new(&site), 0);
  cr_assert_eq(coap_site_new(&sub), 0);
  coap_resource *r;
  cr_assert_eq(coap_resource_new(&observable, &s, &r), 0);
  add(sub, "clock", r);
  add(site, "sub", coap_resource_ref(coap_site_as_resource(sub)));
  coap_site_unref(sub);
  coap_resource *root = coap_site_as_resource(site);
  cr_assert_not_null(root->vtable->add_observation);
  int token;
  coap_server_observation *obs = (coap_server_observation *)&token;
  coap_message req;
  request_init(&req, COAP_CODE_GET, "sub/clock");
  root->vtable->add_observation(root, &req, obs);
  cr_expect_eq(s.calls, 1);
  cr_expect_eq(observed, obs);
  request_init(&req, COAP_CODE_GET, "sub/none");
  root->vtable->add_observation(root, &req, obs);
  cr_expect_eq(s.calls, 1, "nothing there, nobody asked");
  coap_message_clear(&req);
  coap_site_unref(site);
}

static int render_remove_self(coap_resource *r, coap_message *request,
                              coap_message *response, coap_future **later) {
  (void)request;
  (void)later;
  const char *path[] = {"once"};
  int rc = coap_site_remove_resource(r->user_data, path, 1);
  if (rc < 0)
    return rc;
  return coap_message_set_payload_string(response, "gone");
}

COAP_TEST(site, renderer_may_remove_itself_from_the_site) {
  static const coap_resource_methods m = {.render_get = render_remove_self};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&m, site, &r), 0);
  add(site, "once", r);
  coap_message resp;
  cr_expect_eq(render_path(site, COAP_CODE_GET, "once", &resp), 0);
  expect_payload(&resp, "gone");
  coap_message_clear(&resp);
  cr_expect_eq(render_path(site, COAP_CODE_GET, "once", &resp),
               COAP_ENOT_FOUND);
  coap_site_unref(site);
}

/* Fails every allocation in turn while building a nested site and serving
 * /.well-known/core from it: each failure is reported, none leaks. */
COAP_TEST(site, allocation_failures_leak_nothing) {
  for (long fail = 0;; fail++) {
    coap_test_fail_after = fail;
    coap_site *site = NULL, *sub = NULL;
    coap_resource *r = NULL, *wkc = NULL;
    int rc = coap_site_new(&site);
    if (rc == 0)
      rc = coap_site_new(&sub);
    if (rc == 0)
      rc = coap_resource_new_methods(&text_get, "x", &r);
    if (rc == 0)
      rc = coap_site_add_resource_path(sub, "a/b/c", r);
    if (rc == 0)
      rc = coap_site_add_resource_path(site, "sub/s",
                                       coap_site_as_resource(sub));
    if (rc == 0)
      rc = coap_wkc_resource_new(site, &wkc);
    if (rc == 0)
      rc = coap_site_add_resource_path(site, ".well-known/core", wkc);
    coap_message req, resp;
    coap_message_init(&req);
    coap_message_init(&resp);
    if (rc == 0) {
      req.code = COAP_CODE_GET;
      rc = coap_options_set_uri_path_string(&req.opt, ".well-known/core");
    }
    if (rc == 0) {
      coap_future *later;
      rc = coap_resource_render(coap_site_as_resource(site), &req, &resp,
                                &later);
    }
    bool done = coap_test_fail_after >= 0 && rc == 0;
    if (rc != 0)
      cr_assert_eq(rc, COAP_ENOMEM, "fail %ld: %d", fail, rc);
    else
      expect_payload(&resp, "</.well-known/core>;ct=40,</sub/s/a/b/c>");
    coap_test_fail_after = -1;
    coap_message_clear(&req);
    coap_message_clear(&resp);
    coap_resource_unref(wkc);
    coap_resource_unref(r);
    coap_site_unref(sub);
    coap_site_unref(site);
    cr_assert_eq(coap_test_live_allocations, 0, "fail %ld leaked", fail);
    if (done)
      break;
  }
}

/* A renderer that answers later: hands its future to the test, which
 * resolves it. */
typedef struct deferred {
  uv_loop_t *loop;
  coap_future *pending;
} deferred;

static int render_later(coap_resource *r, coap_message *request,
                        coap_message *response, coap_future **later) {
  (void)request;
  (void)response;
  deferred *d = r->user_data;
  int rc = coap_future_new(d->loop, later);
  if (rc < 0)
    return rc;
  d->pending = coap_future_ref(*later);
  return 0;
}

static const coap_resource_methods later_methods = {.render_get = render_later};

static void loop_close(uv_loop_t *loop) {
  /* Let the future scheduler's handles finish closing. */
  uv_run(loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(loop), 0);
}

COAP_TEST(resource_future, render_may_answer_later_through_a_site) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  deferred d = {&loop, NULL};
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&later_methods, &d, &r), 0);
  add(site, "slow", r);

  coap_message req, resp;
  request_init(&req, COAP_CODE_GET, "slow");
  coap_message_init(&resp);
  coap_future *later = NULL;
  cr_assert_eq(
      coap_resource_render(coap_site_as_resource(site), &req, &resp, &later),
      0);
  cr_assert_not_null(later);
  cr_expect_eq(later, d.pending);
  cr_expect_eq(resp.code, 0, "no default code for a deferred answer");
  cr_expect_not(coap_future_done(later));

  coap_message *answer;
  cr_assert_eq(coap_message_new(&answer), 0);
  answer->code = COAP_CODE_CONTENT;
  cr_assert_eq(coap_message_set_payload_string(answer, "done"), 0);
  cr_assert_eq(
      coap_future_resolve(d.pending, answer,
                          (coap_future_result_free_cb)coap_message_free),
      0);
  coap_future_unref(d.pending);
  cr_expect_eq(coap_run_until_complete(&loop, later), 0);
  const coap_message *got = coap_future_result(later);
  cr_assert_not_null(got);
  cr_expect_eq(got->code, COAP_CODE_CONTENT);
  expect_payload(got, "done");
  coap_future_unref(later);

  coap_message_clear(&req);
  coap_message_clear(&resp);
  coap_site_unref(site);
  loop_close(&loop);
}

static int render_fail_later(coap_resource *r, coap_message *request,
                             coap_message *response, coap_future **later) {
  (void)request;
  (void)response;
  deferred *d = r->user_data;
  return coap_future_new_failed(d->loop, COAP_ESERVICE_UNAVAILABLE, later);
}

COAP_TEST(resource_future, render_may_fail_later) {
  static const coap_resource_methods m = {.render_get = render_fail_later};
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  deferred d = {&loop, NULL};
  coap_resource *r;
  cr_assert_eq(coap_resource_new_methods(&m, &d, &r), 0);
  coap_message req, resp;
  request_init(&req, COAP_CODE_GET, "");
  coap_message_init(&resp);
  coap_future *later = NULL;
  cr_assert_eq(coap_resource_render(r, &req, &resp, &later), 0);
  cr_assert_not_null(later);
  cr_expect_eq(coap_run_until_complete(&loop, later),
               COAP_ESERVICE_UNAVAILABLE);
  cr_expect_eq(coap_future_error(later), COAP_ESERVICE_UNAVAILABLE);
  coap_future_unref(later);
  coap_resource_unref(r);
  loop_close(&loop);
}

/* The lifetime rule (aiocoap.h): a site is reference-counted like a
 * resource, its references and its resource's are one count, and every
 * coap_*_ref / coap_*_unref takes NULL. */
COAP_TEST(resource, site_ref_and_unref_share_the_resource_count) {
  coap_site *site;
  cr_assert_eq(coap_site_new(&site), 0);
  coap_resource *text = text_resource("kept");
  cr_assert_eq(coap_site_add_resource_path(site, "t", text), 0);
  coap_resource_unref(text);
  cr_assert_eq(coap_site_ref(site), site);
  coap_site_unref(site);
  /* Still alive: the creator's reference is left, and it routes. */
  coap_message req, resp;
  request_init(&req, COAP_CODE_GET, "t");
  coap_message_init(&resp);
  coap_future *later = NULL;
  cr_assert_eq(
      coap_resource_render(coap_site_as_resource(site), &req, &resp, &later),
      0, "the site still routes after one of two references went");
  expect_payload(&resp, "kept");
  coap_message_clear(&req);
  coap_message_clear(&resp);
  coap_site_free(site); /* the old name, the same as coap_site_unref */

  cr_expect_null(coap_site_ref(NULL));
  cr_expect_null(coap_resource_ref(NULL));
  cr_expect_null(coap_request_ref(NULL));
  cr_expect_null(coap_observation_ref(NULL));
  cr_expect_null(coap_future_ref(NULL));
  cr_expect_null(coap_request_observation(NULL));
  coap_site_unref(NULL);
  coap_resource_unref(NULL);
  coap_request_unref(NULL);
  coap_observation_unref(NULL);
  coap_future_unref(NULL);
}
