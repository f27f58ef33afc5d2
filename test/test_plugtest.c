/*
 * aiocoap-plugtest-server's TD_COAP_CORE and TD_COAP_LINK resources
 * (cli/plugtest_core.c, plugtest_separate.c, plugtest_link.c; issue 15),
 * served by a server context on loopback (plugtest_fixture.h): each rule
 * checked through the library's client where the answer is what counts and
 * through a raw socket where the messages themselves are (types, MIDs,
 * retransmissions).  Timing runs with short timers and a random factor of
 * 1, so the schedule is exact.  Blocks and Observe have files of their own.
 */
#include "plugtest_fixture.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- TD_COAP_CORE ---- */

/* TD_COAP_CORE_01..04: the four methods on /test, and GET still works
 * after DELETE. */
COAP_TEST(plugtest, test_answers_every_method_and_survives_delete) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *r = ask(&t, COAP_CODE_GET, "/test", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_TEXT_PLAIN);
  cr_assert_gt(r->payload_len, 0);
  coap_message_free(r);

  r = ask(&t, COAP_CODE_POST, "/test", "posted");
  code_is(r, COAP_CODE_CREATED);
  char loc[128];
  cr_assert_gt(coap_options_get_location_path_string(&r->opt, loc, sizeof loc),
               0);
  cr_assert_str_eq(loc, "location1/location2/location3");
  coap_message_free(r);

  r = ask(&t, COAP_CODE_PUT, "/test", "put text");
  code_is(r, COAP_CODE_CHANGED);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/test", NULL);
  payload_is(r, "put text");
  coap_message_free(r);

  r = ask(&t, COAP_CODE_DELETE, "/test", NULL);
  code_is(r, COAP_CODE_DELETED);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/test", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cr_assert(payload_has(r, "/test resource"), "back to the default");
  coap_message_free(r);
  pt_stop(&t);
}

/* RFC 7252 §5.2.1 and §5.2.3: a CON is answered piggybacked on its ACK, a
 * NON with a NON. */
COAP_TEST(plugtest, con_piggybacked_non_answered_with_non) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x1001, COAP_CODE_GET, "test");
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  cr_assert_eq(m.mtype, COAP_TYPE_ACK);
  cr_assert_eq(m.mid, 0x1001);
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert_eq(m.token_len, 2);
  cf_is(&m, COAP_CT_TEXT_PLAIN);
  coap_message_clear(&m);

  raw_init(&m, COAP_TYPE_NON, 0x1002, COAP_CODE_GET, "test");
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  cr_assert_eq(m.mtype, COAP_TYPE_NON);
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert_arr_eq(m.token, token_a, 2);
  coap_message_clear(&m);
  pt_stop(&t);
}

/* RFC 7252 §4.5: a duplicate CON gets the same answer and is not
 * processed again, even a POST that creates a resource. */
COAP_TEST(plugtest, duplicate_post_answered_again_not_processed) {
  pt t;
  pt_start(&t, NULL, NULL);
  uint8_t first[1500], again[1500];
  coap_message m;
  raw_init(&m, COAP_TYPE_CON, 0x2001, COAP_CODE_POST, "large-create");
  coap_message_set_payload_string(&m, "made once");
  raw_send(&t, &m);
  ssize_t n1 = raw_recv(&t, &m, first, sizeof first, 2000);
  cr_assert_gt(n1, 0);
  code_is(&m, COAP_CODE_CREATED);
  coap_message_clear(&m);
  raw_init(&m, COAP_TYPE_CON, 0x2001, COAP_CODE_POST, "large-create");
  coap_message_set_payload_string(&m, "made once");
  raw_send(&t, &m);
  ssize_t n2 = raw_recv(&t, &m, again, sizeof again, 2000);
  coap_message_clear(&m);
  cr_assert_eq(n2, n1);
  cr_assert_arr_eq(again, first, (size_t)n1, "the very same bytes");
  cr_assert_not_null(plugtest_site_resource(t.site, "large-create/1"));
  cr_assert_null(plugtest_site_resource(t.site, "large-create/2"),
                 "the duplicate created nothing");
  pt_stop(&t);
}

/* TD_COAP_CORE_05/06 (NON), 07, 08, 13, 14: the other core resources. */
COAP_TEST(plugtest, seg_query_location_query) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *r = ask(&t, COAP_CODE_GET, "/seg1/seg2/seg3", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_TEXT_PLAIN);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/query?first=1&second=2&third=3", NULL);
  code_is(r, COAP_CODE_CONTENT);
  payload_is(r, "first=1&second=2&third=3");
  coap_message_free(r);
  r = ask(&t, COAP_CODE_POST, "/location-query", "x");
  code_is(r, COAP_CODE_CREATED);
  char q[64];
  cr_assert_gt(coap_options_get_location_query_string(&r->opt, q, sizeof q), 0);
  cr_assert_str_eq(q, "first=1&second=2");
  cr_assert_eq(coap_options_count_of(&r->opt, COAP_OPT_LOCATION_QUERY), 2);
  coap_message_free(r);
  pt_stop(&t);
}

static coap_message *get_accept(pt *t, const char *path, int accept) {
  coap_message *msg = fixture_message(&t->fx, COAP_CODE_GET, path);
  if (accept >= 0)
    coap_options_set_accept(&msg->opt, (uint16_t)accept);
  coap_message *resp = NULL;
  cr_assert_eq(fixture_request(&t->fx, msg, &resp, 5000), 0);
  return resp;
}

/* TD_COAP_CORE_15..17 (Accept). */
COAP_TEST(plugtest, multi_format_by_accept) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *r = get_accept(&t, "/multi-format", COAP_CT_TEXT_PLAIN);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_TEXT_PLAIN);
  coap_message_free(r);
  r = get_accept(&t, "/multi-format", COAP_CT_XML);
  code_is(r, COAP_CODE_CONTENT);
  cf_is(r, COAP_CT_XML);
  cr_assert(payload_has(r, "<?xml version=\"1.0\""));
  cr_assert(payload_has(r, "</plugtest>"));
  coap_message_free(r);
  r = get_accept(&t, "/multi-format", -1);
  cf_is(r, COAP_CT_TEXT_PLAIN);
  coap_message_free(r);
  r = get_accept(&t, "/multi-format", COAP_CT_JSON);
  code_is(r, COAP_CODE_NOT_ACCEPTABLE);
  coap_message_free(r);
  pt_stop(&t);
}

/* TD_COAP_CORE_18..21: ETag, 2.03, If-Match. */
COAP_TEST(plugtest, validate_etag_valid_and_if_match) {
  pt t;
  pt_start(&t, NULL, NULL);
  uint8_t e1[8], e2[8];
  coap_message *r = ask(&t, COAP_CODE_GET, "/validate", NULL);
  code_is(r, COAP_CODE_CONTENT);
  size_t l1 = etag_of(r, e1);
  coap_message_free(r);

  coap_message *msg = fixture_message(&t.fx, COAP_CODE_GET, "/validate");
  coap_options_add_etag(&msg->opt, e1, l1);
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_VALID);
  cr_assert_eq(r->payload_len, 0);
  coap_message_free(r);

  r = ask(&t, COAP_CODE_PUT, "/validate", "changed");
  code_is(r, COAP_CODE_CHANGED);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/validate", NULL);
  payload_is(r, "changed");
  size_t l2 = etag_of(r, e2);
  cr_assert(l2 != l1 || memcmp(e1, e2, l1) != 0, "the ETag changed");
  coap_message_free(r);

  msg = fixture_message(&t.fx, COAP_CODE_PUT, "/validate");
  coap_options_add_if_match(&msg->opt, e1, l1);
  coap_message_set_payload_string(msg, "stale");
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_PRECONDITION_FAILED);
  coap_message_free(r);
  msg = fixture_message(&t.fx, COAP_CODE_PUT, "/validate");
  coap_options_add_if_match(&msg->opt, e2, l2);
  coap_message_set_payload_string(msg, "current");
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_CHANGED);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/validate", NULL);
  payload_is(r, "current");
  coap_message_free(r);
  pt_stop(&t);
}

static coap_message *put_if_none_match(pt *t, const char *text) {
  coap_message *msg = fixture_message(&t->fx, COAP_CODE_PUT, "/create1");
  coap_options_set_if_none_match(&msg->opt, true);
  coap_message_set_payload_string(msg, text);
  coap_message *r;
  cr_assert_eq(fixture_request(&t->fx, msg, &r, 5000), 0);
  return r;
}

/* TD_COAP_CORE_22/23: If-None-Match; DELETE makes it absent again, so the
 * test runs again and again. */
COAP_TEST(plugtest, create1_if_none_match_twice) {
  pt t;
  pt_start(&t, NULL, NULL);
  for (int round = 0; round < 2; round++) {
    coap_message *r = ask(&t, COAP_CODE_GET, "/create1", NULL);
    code_is(r, COAP_CODE_NOT_FOUND);
    coap_message_free(r);
    r = put_if_none_match(&t, "one");
    code_is(r, COAP_CODE_CREATED);
    coap_message_free(r);
    r = put_if_none_match(&t, "two");
    code_is(r, COAP_CODE_PRECONDITION_FAILED);
    coap_message_free(r);
    r = ask(&t, COAP_CODE_GET, "/create1", NULL);
    payload_is(r, "one");
    coap_message_free(r);
    r = ask(&t, COAP_CODE_DELETE, "/create1", NULL);
    code_is(r, COAP_CODE_DELETED);
    coap_message_free(r);
  }
  pt_stop(&t);
}

/* TD_COAP_CORE_09/10 (RFC 7252 §5.2.2): an empty ACK at once, then the
 * answer as a CON of its own retransmitted until ACKed; the request
 * repeated meanwhile is acknowledged again and not rendered twice
 * (§4.5). */
COAP_TEST(plugtest, separate_con_empty_ack_then_retransmitted_con) {
  coap_context_config c;
  fast_config(&c, 200, 4);
  /* The raw peer never proves its address (RFC 7252 §11.3), so beyond
   * three times its bytes retransmissions would be skipped. */
  c.amplification_factor = 0;
  plugtest_config p;
  plug_config(&p, 60000, 400);
  pt t;
  pt_start(&t, &c, &p);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x3001, COAP_CODE_GET, "separate");
  raw_send(&t, &m);
  ssize_t n = raw_recv(&t, &m, buf, sizeof buf, 300);
  cr_assert_eq(n, 4, "an empty ACK");
  cr_assert_eq(m.mtype, COAP_TYPE_ACK);
  cr_assert_eq(m.mid, 0x3001);
  coap_message_clear(&m);
  /* The request again, as if that ACK was lost. */
  raw_init(&m, COAP_TYPE_CON, 0x3001, COAP_CODE_GET, "separate");
  raw_send(&t, &m);
  n = raw_recv(&t, &m, buf, sizeof buf, 300);
  cr_assert_eq(n, 4, "acknowledged again");
  cr_assert_eq(m.mid, 0x3001);
  coap_message_clear(&m);

  uint64_t t0 = uv_now(&t.fx.loop);
  n = raw_recv(&t, &m, buf, sizeof buf, 1000);
  cr_assert_gt(n, 4);
  uint64_t t1 = uv_now(&t.fx.loop);
  cr_assert_eq(m.mtype, COAP_TYPE_CON);
  code_is(&m, COAP_CODE_CONTENT);
  cf_is(&m, COAP_CT_TEXT_PLAIN);
  cr_assert_arr_eq(m.token, token_a, 2);
  int32_t mid = m.mid;
  cr_assert_neq(mid, 0x3001, "a message of its own");
  coap_message_clear(&m);
  /* Not ACKed: the same message again after ACK_TIMEOUT, then after twice
   * that (RFC 7252 §4.2). */
  n = raw_recv(&t, &m, buf, sizeof buf, 1000);
  uint64_t t2 = uv_now(&t.fx.loop);
  cr_assert_gt(n, 4);
  cr_assert_eq(m.mid, mid, "a retransmission");
  coap_message_clear(&m);
  n = raw_recv(&t, &m, buf, sizeof buf, 1000);
  uint64_t t3 = uv_now(&t.fx.loop);
  cr_assert_eq(m.mid, mid);
  coap_message_clear(&m);
  cr_assert(t2 - t1 >= 180 && t2 - t1 <= 320, "first gap %llu ms",
            (unsigned long long)(t2 - t1));
  cr_assert(t3 - t2 >= 370 && t3 - t2 <= 520, "second gap %llu ms",
            (unsigned long long)(t3 - t2));
  (void)t0;
  raw_empty(&t, COAP_TYPE_ACK, (uint16_t)mid);
  n = raw_recv(&t, &m, buf, sizeof buf, 1000);
  cr_assert_eq(n, -1, "nothing more once ACKed");
  coap_context_stats st;
  coap_context_get_stats(t.fx.server, &st);
  cr_assert_eq(st.separate_responses, 1, "rendered and answered once");
  pt_stop(&t);
}

/* TD_COAP_CORE_11/12: a NON request, a NON answer later, nothing else. */
COAP_TEST(plugtest, separate_non_answered_later_with_non) {
  plugtest_config p;
  plug_config(&p, 60000, 300);
  pt t;
  pt_start(&t, NULL, &p);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_NON, 0x3101, COAP_CODE_GET, "separate");
  raw_send(&t, &m);
  uint64_t start = uv_now(&t.fx.loop);
  raw_answer(&t, &m, buf, sizeof buf);
  cr_assert_geq(uv_now(&t.fx.loop) - start, 250);
  cr_assert_eq(m.mtype, COAP_TYPE_NON);
  code_is(&m, COAP_CODE_CONTENT);
  coap_message_clear(&m);
  cr_assert_eq(raw_recv(&t, &m, buf, sizeof buf, 300), -1);
  pt_stop(&t);
}

/* ---- TD_COAP_LINK ---- */

/* TD_COAP_LINK_01..09: every resource listed; filters on href and any
 * attribute, '*' as a prefix, rt and if as lists. */
COAP_TEST(plugtest, well_known_core_lists_and_filters) {
  pt t;
  pt_start(&t, NULL, NULL);
  char all[4096];
  wkc(&t, "", all, sizeof all);
  static const char *const listed[] = {"</test>",
                                       "</separate>",
                                       "</seg1/seg2/seg3>",
                                       "</query>",
                                       "</location-query>",
                                       "</multi-format>",
                                       "</validate>",
                                       "</create1>",
                                       "</large>",
                                       "</large-update>",
                                       "</large-create>",
                                       "</large-post>",
                                       "</obs>;ct=0;rt=\"observe\";obs",
                                       "</obs-non>",
                                       "</obs-large>",
                                       "</obs-pumping>",
                                       "</link1>;rt=\"Type1 Type2\";if=\"If1\"",
                                       "</link2>;rt=\"Type2 Type3\";if=\"If2\"",
                                       "</link3>;rt=\"Type1 Type3\";if=\"foo\"",
                                       "</path>;ct=40",
                                       "</path/sub1>",
                                       "</path/sub2>",
                                       "</path/sub3>",
                                       "</.well-known/core>;ct=40"};
  for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++)
    cr_assert(strstr(all, listed[i]) != NULL, "%s in %s", listed[i], all);
  /* Blockwise at the size the client asks (RFC 7959 §2.4). */
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x7001, COAP_CODE_GET, ".well-known/core");
  coap_block b = {.num = 0, .szx = 2};
  coap_options_set_block2(&m.opt, &b);
  raw_send(&t, &m);
  raw_answer(&t, &m, buf, sizeof buf);
  code_is(&m, COAP_CODE_CONTENT);
  cr_assert_eq(coap_options_get_block2(&m.opt, &b), 0);
  cr_assert(b.more && b.szx == 2 && m.payload_len == 64);
  cr_assert_arr_eq(m.payload, all, 64);
  coap_message_clear(&m);

  char f[1024];
  wkc(&t, "?rt=Type1", f, sizeof f);
  cr_assert_str_eq(f, "</link1>;rt=\"Type1 Type2\";if=\"If1\","
                      "</link3>;rt=\"Type1 Type3\";if=\"foo\"");
  wkc(&t, "?rt=Type2", f, sizeof f);
  cr_assert_str_eq(f, "</link1>;rt=\"Type1 Type2\";if=\"If1\","
                      "</link2>;rt=\"Type2 Type3\";if=\"If2\"");
  wkc(&t, "?if=If*", f, sizeof f);
  cr_assert_str_eq(f, "</link1>;rt=\"Type1 Type2\";if=\"If1\","
                      "</link2>;rt=\"Type2 Type3\";if=\"If2\"");
  wkc(&t, "?href=/link*", f, sizeof f);
  cr_assert(strstr(f, "</link1>") && strstr(f, "</link2>") &&
            strstr(f, "</link3>") && !strstr(f, "</large>"));
  wkc(&t, "?href=/path/sub2", f, sizeof f);
  cr_assert_str_eq(f, "</path/sub2>;ct=0");
  wkc(&t, "?ct=40", f, sizeof f);
  cr_assert(strstr(f, "</path>;ct=40") != NULL);
  cr_assert(strstr(f, "</link1>") == NULL);
  wkc(&t, "?rt=Type1*", f, sizeof f);
  cr_assert(strstr(f, "</link1>") && strstr(f, "</link3>") &&
            !strstr(f, "</link2>"));
  pt_stop(&t);
}

/* TD_COAP_LINK_10: /path lists what is below it, and each answers. */
COAP_TEST(plugtest, path_lists_its_subresources) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *r = ask(&t, COAP_CODE_GET, "/path", NULL);
  cf_is(r, COAP_CT_LINK_FORMAT);
  payload_is(r, "</path/sub1>;ct=0,</path/sub2>;ct=0,</path/sub3>;ct=0");
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/path/sub3", NULL);
  payload_is(r, "/path/sub3");
  coap_message_free(r);
  pt_stop(&t);
}

/* Every 2.xx with a payload says its Content-Format (RFC 7252 §5.5.1),
 * for each resource /.well-known/core lists. */
COAP_TEST(plugtest, every_listed_resource_answers_get_with_content_format) {
  pt t;
  pt_start(&t, NULL, NULL);
  char all[4096];
  wkc(&t, "", all, sizeof all);
  int checked = 0;
  for (char *p = strchr(all, '<'); p != NULL; p = strchr(p + 1, '<')) {
    char path[128];
    char *end = strchr(p, '>');
    cr_assert_not_null(end);
    snprintf(path, sizeof path, "%.*s", (int)(end - p - 1), p + 1);
    if (strcmp(path, "/separate") == 0)
      continue; /* its own test: 1.5 s */
    coap_message *r = ask(&t, COAP_CODE_GET, path, NULL);
    if (!coap_code_is_successful(r->code))
      cr_assert_eq(COAP_CODE_CLASS(r->code), 4, "GET %s", path);
    else if (r->payload_len > 0)
      cr_assert(coap_options_has(&r->opt, COAP_OPT_CONTENT_FORMAT),
                "GET %s: 2.xx without Content-Format", path);
    coap_message_free(r);
    checked++;
  }
  cr_assert_geq(checked, 20);
  pt_stop(&t);
}

/* /query echoes as much as a datagram can carry, and nothing when there
 * is no query. */
COAP_TEST(plugtest, query_echoes_long_and_empty_queries) {
  pt t;
  pt_start(&t, NULL, NULL);
  coap_message *msg = fixture_message(&t.fx, COAP_CODE_GET, "/query");
  char item[256], want[1400] = "";
  for (int i = 0; i < 5; i++) {
    snprintf(item, sizeof item, "k%d=%0250d", i, i);
    coap_options_add_uri_query(&msg->opt, item);
    if (i > 0)
      strcat(want, "&");
    strcat(want, item);
  }
  coap_message *r;
  cr_assert_eq(fixture_request(&t.fx, msg, &r, 5000), 0);
  code_is(r, COAP_CODE_CONTENT);
  payload_is(r, want);
  coap_message_free(r);
  r = ask(&t, COAP_CODE_GET, "/query", NULL);
  code_is(r, COAP_CODE_CONTENT);
  cr_assert_eq(r->payload_len, 0);
  coap_message_free(r);
  pt_stop(&t);
}

/* A /separate answer still pending when the server shuts down: its timer
 * goes with the site, nothing is sent, nothing leaks. */
COAP_TEST(plugtest, separate_pending_at_shutdown) {
  plugtest_config p;
  plug_config(&p, 60000, 5000);
  pt t;
  pt_start(&t, NULL, &p);
  coap_message m;
  uint8_t buf[1500];
  raw_init(&m, COAP_TYPE_CON, 0x3201, COAP_CODE_GET, "separate");
  raw_send(&t, &m);
  cr_assert_eq(raw_recv(&t, &m, buf, sizeof buf, 500), 4, "the empty ACK");
  coap_message_clear(&m);
  pt_stop(&t);
}
