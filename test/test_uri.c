#include "test_common.h"

#include "alloc-internal.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

/* hostportjoin / hostportsplit (aiocoap.util) */

static void expect_join(const char *host, int port, const char *want) {
  char buf[64];
  int n = coap_hostportjoin(host, port, buf, sizeof(buf));
  cr_assert_eq(n, (int)strlen(want), "join %s %d: %d", host, port, n);
  cr_expect_str_eq(buf, want);
}

COAP_TEST(hostport, join_brackets_ipv6_and_omits_negative_port) {
  expect_join("example.com", -1, "example.com");
  expect_join("example.com", 1234, "example.com:1234");
  expect_join("127.0.0.1", 1234, "127.0.0.1:1234");
  expect_join("2001:db8::1", -1, "[2001:db8::1]");
  expect_join("2001:db8::1", 1234, "[2001:db8::1]:1234");
  expect_join("[2001:db8::1]", 1234, "[2001:db8::1]:1234");
  expect_join("h", 0, "h:0");
}

COAP_TEST(hostport, join_rejects_bad_arguments_and_small_buffers) {
  char buf[16];
  cr_expect_eq(coap_hostportjoin(NULL, 1, buf, sizeof(buf)), COAP_EINVAL);
  cr_expect_eq(coap_hostportjoin("", 1, buf, sizeof(buf)), COAP_EINVAL);
  cr_expect_eq(coap_hostportjoin("h", 65536, buf, sizeof(buf)), COAP_EINVAL);
  /* "[::1]:5683" is 10 characters: 10 bytes leave no room for the NUL. */
  cr_expect_eq(coap_hostportjoin("::1", 5683, buf, 10), COAP_ENOSPC);
  cr_expect_eq(coap_hostportjoin("::1", 5683, buf, 11), 10);
  cr_expect_eq(coap_hostportjoin("h", -1, buf, 0), COAP_ENOSPC);
}

static void expect_split(const char *in, const char *host, int port) {
  char buf[64];
  int got_port = -2;
  cr_assert_eq(coap_hostportsplit(in, buf, sizeof(buf), &got_port), 0, "%s",
               in);
  cr_expect_str_eq(buf, host, "%s", in);
  cr_expect_eq(got_port, port, "%s", in);
}

COAP_TEST(hostport, split_accepts_host_port_and_bracketed_forms) {
  expect_split("[::1]:5683", "::1", 5683);
  expect_split("[::1]", "::1", -1);
  expect_split("host:1234", "host", 1234);
  expect_split("host", "host", -1);
  expect_split("1.2.3.4:5", "1.2.3.4", 5);
  expect_split("[::1%eth0]:56830", "::1%eth0", 56830);
  expect_split("host:", "host", -1);
  expect_split("host:0", "host", 0);
  expect_split("host:65535", "host", 65535);
}

COAP_TEST(hostport, split_rejects_malformed_input) {
  static const char *const bad[] = {
      "::1",     "a:b:c",   "host:abc", "host:65536",
      "host:-1", "host: 1", "[::1",     "[::1]x",
      "[::1]:x", "",        ":5683",    "[]:1",
      "ho]st:1", "[]",      "host:+1",  "host:99999999999999999999",
  };
  char buf[64];
  int port;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_expect_eq(coap_hostportsplit(bad[i], buf, sizeof(buf), &port),
                 COAP_EINVAL, "%s", bad[i]);
  cr_expect_eq(coap_hostportsplit("hostname:1", buf, 8, &port), COAP_ENOSPC);
  cr_expect_eq(coap_hostportsplit("hostnam:1", buf, 8, &port), 0);
}

/* coap_uri_parse */

static coap_uri parse_ok(const char *text) {
  coap_uri uri;
  int rc = coap_uri_parse(text, &uri);
  cr_assert_eq(rc, 0, "%s: %d", text, rc);
  return uri;
}

COAP_TEST(uri_parse, accepts_every_coap_scheme_with_its_default_port) {
  static const struct {
    const char *uri, *scheme;
    int port;
  } cases[] = {
      {"coap://h/", "coap", 5683},
      {"coaps://h/", "coaps", 5684},
      {"coap+tcp://h/", "coap+tcp", 5683},
      {"coaps+tcp://h/", "coaps+tcp", 5684},
      {"coap+ws://h/", "coap+ws", 80},
      {"COAPS+WS://h/", "coaps+ws", 443},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    coap_uri uri = parse_ok(cases[i].uri);
    cr_expect_str_eq(uri.scheme, cases[i].scheme);
    cr_expect_eq(uri.port, -1);
    cr_expect_eq(coap_uri_default_port(uri.scheme), cases[i].port);
  }
  cr_expect_eq(coap_uri_default_port("http"), -1);
  cr_expect_eq(coap_uri_default_port(NULL), -1);
}

COAP_TEST(uri_parse, rejects_unknown_scheme_and_malformed_scheme) {
  coap_uri uri;
  cr_expect_eq(coap_uri_parse("http://h/", &uri), COAP_EURI_SCHEME);
  cr_expect_eq(coap_uri_parse("coap+udp://h/", &uri), COAP_EURI_SCHEME);
  cr_expect_eq(coap_uri_parse("averyveryverylongscheme://h/", &uri),
               COAP_EURI_SCHEME);
  cr_expect_eq(coap_uri_parse("://h/", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("1coap://h/", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse(NULL, &uri), COAP_EURI);
}

COAP_TEST(uri_parse, requires_an_authority_with_a_host) {
  coap_uri uri;
  /* RFC 7252 §6.1: coap-URI = "coap:" "//" host ... */
  cr_expect_eq(coap_uri_parse("coap:/path", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap:path", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap:///path", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://:5683/", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://[]/", &uri), COAP_EURI);
}

COAP_TEST(uri_parse, recognises_ipv4_literals) {
  coap_uri uri = parse_ok("coap://192.0.2.1:61616/x");
  cr_expect_str_eq(uri.host, "192.0.2.1");
  cr_expect(uri.host_is_ip);
  cr_expect_eq(uri.port, 61616);
  /* RFC 3986 §3.2.2: not an IPv4address, so a reg-name. */
  uri = parse_ok("coap://192.0.2.256/");
  cr_expect_not(uri.host_is_ip);
  uri = parse_ok("coap://example.com/");
  cr_expect_not(uri.host_is_ip);
}

COAP_TEST(uri_parse, recognises_ipv6_literals_and_rejects_bad_ones) {
  coap_uri uri = parse_ok("coap://[2001:db8::1]:61616/x");
  cr_expect_str_eq(uri.host, "2001:db8::1");
  cr_expect(uri.host_is_ip);
  cr_expect_eq(uri.port, 61616);
  uri = parse_ok("coap://[::ffff:192.0.2.1]");
  cr_expect_str_eq(uri.host, "::ffff:192.0.2.1");
  cr_expect_eq(uri.path_len, 0);

  static const char *const bad[] = {
      "coap://[2001:db8::g]/", "coap://[::1/",      "coap://[::1]x/",
      "coap://[v1.fe]/",       "coap://[1.2.3.4]/", "coap://::1/",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_expect_eq(coap_uri_parse(bad[i], &uri), COAP_EURI, "%s", bad[i]);
}

COAP_TEST(uri_parse, decodes_rfc6874_zone_ids) {
  coap_uri uri = parse_ok("coap://[fe80::1%25eth0]:1234/");
  cr_expect_str_eq(uri.host, "fe80::1%eth0");
  cr_expect(uri.host_is_ip);
  cr_expect_eq(uri.port, 1234);
  uri = parse_ok("coap://[fe80::1%25en%2Dp0]/");
  cr_expect_str_eq(uri.host, "fe80::1%en-p0");

  coap_uri bad;
  /* A bare '%' is not RFC 6874; an empty zone or one on an invalid address
   * is no literal either. */
  cr_expect_eq(coap_uri_parse("coap://[fe80::1%eth0]/", &bad), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://[fe80::1%25]/", &bad), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://[fe80::x%25eth0]/", &bad), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://[fe80::1%25eth%00]/", &bad), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://[fe80::1%25e/h]/", &bad), COAP_EURI);
}

COAP_TEST(uri_parse, reads_ports_and_rejects_out_of_range) {
  cr_expect_eq(parse_ok("coap://h/").port, -1);
  cr_expect_eq(parse_ok("coap://h:5683/").port, 5683);
  cr_expect_eq(parse_ok("coap://h:0").port, 0);
  cr_expect_eq(parse_ok("coap://h:65535").port, 65535);
  cr_expect_eq(parse_ok("coap://h:000080").port, 80);
  /* RFC 3986 §3.2.3: an empty port is as if there were none. */
  cr_expect_eq(parse_ok("coap://h:/x").port, -1);
  coap_uri uri;
  cr_expect_eq(coap_uri_parse("coap://h:65536/", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://h:12a/", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://h:-1/", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://[::1]:99999/", &uri), COAP_EURI);
}

COAP_TEST(uri_parse, limits_the_host_to_255_bytes) {
  char text[300] = "coap://";
  memset(text + 7, 'a', 255);
  cr_expect_eq(strlen(parse_ok(text).host), 255);
  text[7 + 255] = 'a';
  coap_uri uri;
  cr_expect_eq(coap_uri_parse(text, &uri), COAP_EURI);
}

COAP_TEST(uri_parse, rejects_userinfo) {
  coap_uri uri;
  cr_expect_eq(coap_uri_parse("coap://user@h/", &uri), COAP_EURI);
  cr_expect_eq(coap_uri_parse("coap://user:pw@h:1/", &uri), COAP_EURI);
}

COAP_TEST(uri_parse, points_path_and_query_into_the_input_and_drops_fragment) {
  const char *text = "coap://h/a/b?x=1&y#frag?/";
  coap_uri uri = parse_ok(text);
  cr_expect_eq(uri.path, text + 8);
  cr_expect_eq(uri.path_len, 4);
  cr_expect_eq(uri.query, text + 13);
  cr_expect_eq(uri.query_len, 5);

  uri = parse_ok("coap://h#x");
  cr_expect_eq(uri.path_len, 0);
  cr_expect_null(uri.query);
  uri = parse_ok("coap://h/?");
  cr_expect_not_null(uri.query);
  cr_expect_eq(uri.query_len, 0);
}

COAP_TEST(uri_parse, decodes_percent_encoded_host_and_rejects_bad_characters) {
  coap_uri uri = parse_ok("coap://ex%41mple.com/");
  cr_expect_str_eq(uri.host, "exAmple.com");
  static const char *const bad[] = {
      "coap://a%00b/", "coap://a%2/",   "coap://a b/",     "coap://h/a b",
      "coap://h/%G1",  "coap://h/?a b", "coap://h/?%4",    "coap://h/\x80",
      "coap://h/a\"b", "coap://a<b/",   "coap://h/a[b]/c",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_expect_eq(coap_uri_parse(bad[i], &uri), COAP_EURI, "%s", bad[i]);
}

/* percent-encoding (RFC 3986 §2.1) */

COAP_TEST(percent, decode_handles_escapes_and_rejects_bad_ones) {
  char buf[16];
  cr_expect_eq(coap_percent_decode("a%20b", 5, buf, sizeof(buf)), 3);
  cr_expect_str_eq(buf, "a b");
  cr_expect_eq(coap_percent_decode("%2f%2F", 6, buf, sizeof(buf)), 2);
  cr_expect_str_eq(buf, "//");
  cr_expect_eq(coap_percent_decode("a%00b", 5, buf, sizeof(buf)), 3);
  cr_expect_eq(memcmp(buf, "a\0b", 4), 0);
  cr_expect_eq(coap_percent_decode("", 0, buf, sizeof(buf)), 0);
  cr_expect_str_eq(buf, "");

  static const char *const bad[] = {"%G1", "%4", "%", "abc%", "%1G", "%%41"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    cr_expect_eq(coap_percent_decode(bad[i], strlen(bad[i]), buf, sizeof(buf)),
                 COAP_EURI, "%s", bad[i]);
  /* Only len bytes are read: the escape is cut short. */
  cr_expect_eq(coap_percent_decode("%41", 2, buf, sizeof(buf)), COAP_EURI);
}

COAP_TEST(percent, decode_reports_small_buffers_after_bad_escapes) {
  char buf[4];
  cr_expect_eq(coap_percent_decode("abcd", 4, buf, 4), COAP_ENOSPC);
  cr_expect_eq(coap_percent_decode("abc", 3, buf, 4), 3);
  cr_expect_eq(coap_percent_decode("%41%42%43", 9, buf, 4), 3);
  cr_expect_eq(coap_percent_decode("abcdef%G1", 9, buf, 2), COAP_EURI);
  cr_expect_eq(coap_percent_decode("a", 1, NULL, 0), COAP_ENOSPC);
}

static void expect_encode(const char *in, size_t len, bool is_query,
                          const char *want) {
  char buf[128];
  int n = coap_percent_encode(in, len, is_query, buf, sizeof(buf));
  cr_assert_eq(n, (int)strlen(want), "%s: %d", want, n);
  cr_expect_str_eq(buf, want);
}

COAP_TEST(percent, encode_segment_keeps_pchar_and_escapes_the_rest) {
  expect_encode("a/b?c%d", 7, false, "a%2Fb%3Fc%25d");
  /* RFC 3986 §3.3: unreserved, sub-delims, ':' and '@' stand as they are. */
  expect_encode("AZaz09-._~!$&'()*+,;=:@", 23, false,
                "AZaz09-._~!$&'()*+,;=:@");
  expect_encode("a b#\"<>[]", 9, false, "a%20b%23%22%3C%3E%5B%5D");
  expect_encode("\xc3\xa4\x00\x7f", 4, false, "%C3%A4%00%7F");
  expect_encode("", 0, false, "");
}

COAP_TEST(percent, encode_query_keeps_slash_and_question_but_escapes_amp) {
  expect_encode("a/b?c=d", 7, true, "a/b?c=d");
  expect_encode("x&y%z", 5, true, "x%26y%25z");
  expect_encode("!$'()*+,;:@", 11, true, "!$'()*+,;:@");
}

COAP_TEST(percent, encode_reports_small_buffers) {
  char buf[8];
  cr_expect_eq(coap_percent_encode("a b", 3, false, buf, 5), COAP_ENOSPC);
  cr_expect_eq(coap_percent_encode("a b", 3, false, buf, 6), 5);
  cr_expect_str_eq(buf, "a%20b");
  cr_expect_eq(coap_percent_encode("", 0, false, buf, 0), COAP_ENOSPC);
}

/* set_request_uri / get_request_uri (RFC 7252 §6.4, §6.5) */

static void expect_options(const coap_message *msg, uint16_t number,
                           const char *const *want, size_t n) {
  cr_expect_eq(coap_options_count_of(&msg->opt, number), n,
               "option %u: %zu values", number,
               coap_options_count_of(&msg->opt, number));
  for (size_t i = 0; i < n; i++) {
    const coap_option *o = coap_options_get_nth(&msg->opt, number, i);
    cr_assert_not_null(o);
    cr_expect(o->len == strlen(want[i]) &&
                  memcmp(o->value, want[i], o->len) == 0,
              "option %u #%zu: want \"%s\", got \"%.*s\"", number, i, want[i],
              (int)o->len, (const char *)o->value);
  }
}

/* Expects exactly the given string values for an option number. */
#define EXPECT_OPTIONS(msg, number, ...)                                       \
  expect_options(msg, number, (const char *const[]){__VA_ARGS__},              \
                 sizeof((const char *const[]){__VA_ARGS__}) /                  \
                     sizeof(const char *))
#define EXPECT_NO_OPTION(msg, number) expect_options(msg, number, NULL, 0)

static void expect_request_uri(const coap_message *msg, const char *want) {
  char buf[512];
  int n = coap_message_get_request_uri(msg, buf, sizeof(buf));
  cr_assert_eq(n, (int)strlen(want), "want %s: %d (%s)", want, n,
               n >= 0 ? buf : "");
  cr_expect_str_eq(buf, want);
}

COAP_TEST(request_uri, set_splits_path_and_sends_uri_host) {
  coap_message msg;
  coap_message_init(&msg);
  cr_assert_eq(coap_message_set_request_uri(
                   &msg, "coap://localhost/other/separate", true),
               0);
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_PATH, "other", "separate");
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_HOST, "localhost");
  EXPECT_NO_OPTION(&msg, COAP_OPT_URI_QUERY);
  /* RFC 7252 §6.4 step 6: the request goes to that port, so no Uri-Port. */
  EXPECT_NO_OPTION(&msg, COAP_OPT_URI_PORT);
  cr_expect_str_eq(coap_message_get_unresolved_remote(&msg),
                   "coap://localhost");
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, set_decodes_segments_and_removes_dot_segments) {
  coap_message msg;
  coap_message_init(&msg);
  cr_assert_eq(coap_message_set_request_uri(
                   &msg, "coap://[::1]:61616/a%2Fb/./c/../d?x=1&y=%26", true),
               0);
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_PATH, "a/b", "d");
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_QUERY, "x=1", "y=&");
  /* An IP literal is never sent as Uri-Host (RFC 7252 §6.4 step 5). */
  EXPECT_NO_OPTION(&msg, COAP_OPT_URI_HOST);
  cr_expect_str_eq(coap_message_get_unresolved_remote(&msg),
                   "coap://[::1]:61616");
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, set_without_uri_host_keeps_only_the_unresolved_remote) {
  coap_message msg;
  coap_message_init(&msg);
  cr_assert_eq(
      coap_message_set_request_uri(&msg, "coap://Example.COM:1234/x", false),
      0);
  EXPECT_NO_OPTION(&msg, COAP_OPT_URI_HOST);
  cr_expect_str_eq(coap_message_get_unresolved_remote(&msg),
                   "coap://example.com:1234");
  expect_request_uri(&msg, "coap://example.com:1234/x");
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, set_lowercases_uri_host_but_not_the_zone) {
  coap_message msg;
  coap_message_init(&msg);
  cr_assert_eq(
      coap_message_set_request_uri(&msg, "coap://EXAMPLE.com%2Eorg/", true), 0);
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_HOST, "example.com.org");
  cr_assert_eq(
      coap_message_set_request_uri(&msg, "coap://[FE80::1%25Eth0]:5683/", true),
      0);
  EXPECT_NO_OPTION(&msg, COAP_OPT_URI_HOST);
  cr_expect_str_eq(coap_message_get_unresolved_remote(&msg),
                   "coap://[fe80::1%25Eth0]");
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, set_keeps_trailing_empty_segment) {
  coap_message msg;
  coap_message_init(&msg);
  /* RFC 7252 §6.4 step 8: "/a/" has the segments "a" and "". */
  cr_assert_eq(coap_message_set_request_uri(&msg, "coap://h/a/", true), 0);
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_PATH, "a", "");
  cr_assert_eq(coap_message_set_request_uri(&msg, "coap://h/a/b/..", true), 0);
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_PATH, "a", "");
  cr_assert_eq(coap_message_set_request_uri(&msg, "coap://h//x?&", true), 0);
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_PATH, "", "x");
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_QUERY, "", "");
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, set_root_path_gives_no_uri_path) {
  static const char *const uris[] = {
      "coap://h",     "coap://h/",      "coap://h/a/..", "coap://h/./",
      "coap://h/../", "coap://h/a/../", "coap://h?",     "coap://h/.",
  };
  coap_message msg;
  coap_message_init(&msg);
  for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
    cr_assert_eq(coap_message_set_request_uri(&msg, uris[i], true), 0);
    cr_expect_eq(coap_options_count_of(&msg.opt, COAP_OPT_URI_PATH), 0, "%s",
                 uris[i]);
    cr_expect_eq(coap_options_count_of(&msg.opt, COAP_OPT_URI_QUERY), 0, "%s",
                 uris[i]);
  }
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, set_replaces_earlier_uri_options) {
  coap_message msg;
  coap_message_init(&msg);
  coap_options_add_string(&msg.opt, COAP_OPT_URI_HOST, "old");
  coap_options_add_uint(&msg.opt, COAP_OPT_URI_PORT, 1);
  coap_options_add_string(&msg.opt, COAP_OPT_URI_PATH, "old");
  coap_options_add_string(&msg.opt, COAP_OPT_URI_QUERY, "old");
  coap_options_add_uint(&msg.opt, COAP_OPT_ACCEPT, 50);
  cr_assert_eq(coap_message_set_request_uri(&msg, "coap://new/n", true), 0);
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_HOST, "new");
  EXPECT_OPTIONS(&msg, COAP_OPT_URI_PATH, "n");
  EXPECT_NO_OPTION(&msg, COAP_OPT_URI_PORT);
  EXPECT_NO_OPTION(&msg, COAP_OPT_URI_QUERY);
  cr_expect_eq(coap_options_count_of(&msg.opt, COAP_OPT_ACCEPT), 1);
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, set_failure_leaves_the_message_as_it_was) {
  static const char *const bad[] = {"http://h/", "coap://h/%G1", "coap:/x",
                                    "coap://u@h/", "coap://h:70000/"};
  static const int want[] = {COAP_EURI_SCHEME, COAP_EURI, COAP_EURI, COAP_EURI,
                             COAP_EURI};
  coap_message msg;
  coap_message_init(&msg);
  cr_assert_eq(coap_message_set_request_uri(&msg, "coap://h/p?q", true), 0);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cr_expect_eq(coap_message_set_request_uri(&msg, bad[i], true), want[i],
                 "%s", bad[i]);
    expect_request_uri(&msg, "coap://h/p?q");
    cr_expect_eq(coap_options_count(&msg.opt), 3);
  }
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, set_survives_every_allocation_failure) {
  for (long n = 0;; n++) {
    coap_message msg;
    coap_message_init(&msg);
    coap_test_fail_after = n;
    int rc = coap_message_set_request_uri(
        &msg,
        "coap://a-rather-long-host-name.example.com:61616/with/a/long/path/"
        "of/many/segments/that/do/not/fit/inline/storage/at/all/x/y/z?q=1&"
        "r=2&s=3",
        true);
    coap_test_fail_after = -1;
    cr_assert(rc == 0 || rc == COAP_ENOMEM, "fail after %ld: %d", n, rc);
    if (rc == COAP_ENOMEM)
      cr_expect_null(coap_message_get_unresolved_remote(&msg));
    coap_message_clear(&msg);
    if (rc == 0)
      break;
  }
}

COAP_TEST(request_uri, get_round_trips_in_normal_form) {
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"coap://localhost/other/separate", "coap://localhost/other/separate"},
      {"coap://h", "coap://h/"},
      {"coap://h/", "coap://h/"},
      {"coap://h:5683/", "coap://h/"},
      {"coaps://h:5684/", "coaps://h/"},
      {"coaps://h:5683/", "coaps://h:5683/"},
      {"coap+ws://h:80/x", "coap+ws://h/x"},
      {"coaps+tcp://h:1/x", "coaps+tcp://h:1/x"},
      {"COAP://H/A", "coap://h/A"},
      {"coap://[::1]:61616/a%2Fb/./c/../d?x=1&y=%26",
       "coap://[::1]:61616/a%2Fb/d?x=1&y=%26"},
      {"coap://[fe80::1%25eth0]/x", "coap://[fe80::1%25eth0]/x"},
      {"coap://192.0.2.1:5683/x", "coap://192.0.2.1/x"},
      {"coap://h/a/", "coap://h/a/"},
      {"coap://h/%7e%41%20?a%2fb=%3F", "coap://h/~A%20?a/b=?"},
      {"coap://h/a?b#frag", "coap://h/a?b"},
      {"coap://h/!$&'()*+,;=:@", "coap://h/!$&'()*+,;=:@"},
      {"coap://a%20b/", "coap://a%20b/"},
      {"coap://h:/", "coap://h/"},
      /* Escaped dots are segments, not dot segments (RFC 3986 §5.2.4). */
      {"coap://h/%2e/%2E%2e/x", "coap://h/%2E/%2E%2E/x"},
  };
  for (int set_uri_host = 0; set_uri_host < 2; set_uri_host++) {
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
      coap_message msg;
      coap_message_init(&msg);
      msg.code = COAP_CODE_GET;
      cr_assert_eq(
          coap_message_set_request_uri(&msg, cases[i].in, set_uri_host), 0,
          "%s", cases[i].in);
      expect_request_uri(&msg, cases[i].out);
      coap_message_clear(&msg);
    }
  }
}

static void set_remote(coap_remote *remote, const char *addr, uint16_t port,
                       uint32_t scope) {
  memset(remote, 0, sizeof(*remote));
  remote->addr.sin6_family = AF_INET6;
  cr_assert_eq(inet_pton(AF_INET6, addr, &remote->addr.sin6_addr), 1);
  remote->addr.sin6_port = htons(port);
  remote->addr.sin6_scope_id = scope;
}

COAP_TEST(request_uri, get_falls_back_to_the_remote_address) {
  coap_message msg;
  coap_message_init(&msg);
  set_remote(&msg.remote, "::ffff:127.0.0.1", 5683, 0);
  coap_options_add_string(&msg.opt, COAP_OPT_URI_PATH, "a b");
  expect_request_uri(&msg, "coap://127.0.0.1/a%20b");
  set_remote(&msg.remote, "2001:db8::1", 61616, 0);
  expect_request_uri(&msg, "coap://[2001:db8::1]:61616/a%20b");
  /* An unknown interface is named by its index (RFC 4007 §11.2). */
  set_remote(&msg.remote, "fe80::1", 5683, 999999);
  expect_request_uri(&msg, "coap://[fe80::1%25999999]/a%20b");

  char name[IF_NAMESIZE], want[128];
  unsigned index = if_nametoindex("lo");
  if (index != 0 && if_indextoname(index, name) != NULL) {
    set_remote(&msg.remote, "fe80::1", 5683, index);
    snprintf(want, sizeof(want), "coap://[fe80::1%%25%s]/a%%20b", name);
    expect_request_uri(&msg, want);
  }
  /* Uri-Host and Uri-Port name the origin over the remote's address. */
  coap_options_add_string(&msg.opt, COAP_OPT_URI_HOST, "example.com");
  expect_request_uri(&msg, "coap://example.com/a%20b");
  coap_options_add_uint(&msg.opt, COAP_OPT_URI_PORT, 1234);
  expect_request_uri(&msg, "coap://example.com:1234/a%20b");
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, get_uses_proxy_uri_proxy_scheme_and_request_uri) {
  coap_message msg;
  coap_message_init(&msg);
  cr_assert_eq(coap_message_set_request_uri(&msg, "coap://proxy/", false), 0);
  coap_options_add_string(&msg.opt, COAP_OPT_URI_HOST, "origin");
  coap_options_add_string(&msg.opt, COAP_OPT_PROXY_SCHEME, "coaps");
  expect_request_uri(&msg, "coaps://origin/");
  coap_options_add_string(&msg.opt, COAP_OPT_PROXY_URI, "http://example/x");
  /* RFC 7252 §5.10.2: Proxy-Uri is the whole URI and wins. */
  expect_request_uri(&msg, "http://example/x");
  coap_message_clear(&msg);

  coap_message response;
  coap_message_init(&response);
  response.code = COAP_CODE_CONTENT;
  coap_options_add_string(&response.opt, COAP_OPT_URI_PATH, "ignored");
  response.request_uri = coap__strdup("coap://h/asked?for");
  cr_assert_not_null(response.request_uri);
  expect_request_uri(&response, "coap://h/asked?for");
  coap_message_clear(&response);
}

COAP_TEST(request_uri, get_reads_a_bare_hostinfo_unresolved_remote) {
  coap_message msg;
  coap_message_init(&msg);
  cr_assert_eq(coap_message_set_unresolved_remote(&msg, "[::1]:1234"), 0);
  expect_request_uri(&msg, "coap://[::1]:1234/");
  cr_assert_eq(coap_message_set_unresolved_remote(&msg, "coaps://h:5684"), 0);
  expect_request_uri(&msg, "coaps://h/");
  cr_assert_eq(coap_message_set_unresolved_remote(&msg, "a:b:c"), 0);
  char buf[64];
  cr_expect_eq(coap_message_get_request_uri(&msg, buf, sizeof(buf)),
               COAP_EINVAL);
  cr_assert_eq(coap_message_set_unresolved_remote(&msg, NULL), 0);
  cr_expect_null(coap_message_get_unresolved_remote(&msg));
  coap_message_clear(&msg);
}

COAP_TEST(request_uri, get_needs_a_host_and_a_big_enough_buffer) {
  coap_message msg;
  char buf[64];
  coap_message_init(&msg);
  coap_options_add_string(&msg.opt, COAP_OPT_URI_PATH, "x");
  cr_expect_eq(coap_message_get_request_uri(&msg, buf, sizeof(buf)),
               COAP_EINVAL);
  cr_assert_eq(coap_message_set_request_uri(&msg, "coap://h:1/a%20b?c", true),
               0);
  /* "coap://h:1/a%20b?c" is 18 characters. */
  for (size_t cap = 0; cap <= 18; cap++)
    cr_expect_eq(coap_message_get_request_uri(&msg, buf, cap), COAP_ENOSPC,
                 "cap %zu", cap);
  cr_expect_eq(coap_message_get_request_uri(&msg, buf, 19), 18);
  coap_message_clear(&msg);
}

/* remote (aiocoap's remote.hostinfo) */

COAP_TEST(remote, hostinfo_brackets_every_address) {
  coap_remote remote;
  char buf[64];
  memset(&remote, 0, sizeof(remote));
  cr_expect_not(coap_remote_is_set(&remote));
  cr_expect_eq(coap_remote_hostinfo(&remote, buf, sizeof(buf)), COAP_EINVAL);
  set_remote(&remote, "::ffff:127.0.0.1", 5683, 0);
  cr_expect(coap_remote_is_set(&remote));
  cr_expect_eq(coap_remote_hostinfo(&remote, buf, sizeof(buf)), 23);
  cr_expect_str_eq(buf, "[::ffff:127.0.0.1]:5683");
  cr_expect_eq(coap_remote_hostinfo(&remote, buf, 23), COAP_ENOSPC);
  set_remote(&remote, "fe80::1", 1, 999999);
  cr_expect_gt(coap_remote_hostinfo(&remote, buf, sizeof(buf)), 0);
  cr_expect_str_eq(buf, "[fe80::1%25999999]:1");
}

COAP_TEST(remote, equal_compares_address_port_and_scope) {
  coap_remote a, b;
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  cr_expect(coap_remote_equal(&a, &b));
  set_remote(&a, "fe80::1", 5683, 2);
  cr_expect_not(coap_remote_equal(&a, &b));
  set_remote(&b, "fe80::1", 5683, 2);
  b.endpoint = &b;
  cr_expect(coap_remote_equal(&a, &b));
  set_remote(&b, "fe80::1", 5683, 3);
  cr_expect_not(coap_remote_equal(&a, &b));
  set_remote(&b, "fe80::1", 5684, 2);
  cr_expect_not(coap_remote_equal(&a, &b));
  set_remote(&b, "fe80::2", 5683, 2);
  cr_expect_not(coap_remote_equal(&a, &b));
}
