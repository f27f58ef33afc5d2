#include "test_common.h"

#include <stdint.h>
#include <string.h>

static coap_options opts;

static void add_ok(uint16_t number, const char *value) {
  cr_assert_eq(coap_options_add_string(&opts, number, value), 0);
}

static void expect_value(const coap_option *o, uint16_t number,
                         const void *value, size_t len) {
  cr_assert_not_null(o);
  cr_assert_eq(o->number, number);
  cr_assert_eq(o->len, len);
  if (len > 0)
    cr_assert_arr_eq(o->value, value, len);
}

static void expect_encoding(const uint8_t *want, size_t want_len) {
  static uint8_t buf[70000];
  cr_assert_eq(coap_options_encoded_size(&opts), want_len);
  cr_assert_eq(coap_options_encode(&opts, buf, sizeof buf), (int)want_len);
  cr_assert_arr_eq(buf, want, want_len);
}

COAP_TEST(options, init_allocates_nothing_and_is_empty) {
  coap_options_init(&opts);
  cr_assert_eq(coap_options_count(&opts), 0);
  cr_assert_null(coap_options_at(&opts, 0));
  cr_assert_null(coap_options_get(&opts, COAP_OPT_URI_PATH));
  cr_assert_eq(coap_options_encoded_size(&opts), 0);
  cr_assert_eq(coap_test_total_allocations, 0);
  coap_options_clear(&opts);
}

COAP_TEST(options, zero_initialised_container_is_usable) {
  coap_options z;
  memset(&z, 0, sizeof z);
  cr_assert_null(coap_options_get(&z, COAP_OPT_ETAG));
  cr_assert_eq(coap_options_add(&z, COAP_OPT_ETAG, "ab", 2), 0);
  expect_value(coap_options_get(&z, COAP_OPT_ETAG), COAP_OPT_ETAG, "ab", 2);
  coap_options_clear(&z);
}

COAP_TEST(options, keeps_option_number_order) {
  coap_options_init(&opts);
  cr_assert_eq(coap_options_add_uint(&opts, COAP_OPT_SIZE1, 7), 0);
  add_ok(COAP_OPT_URI_HOST, "h");
  add_ok(COAP_OPT_URI_PATH, "p");
  cr_assert_eq(coap_options_add(&opts, COAP_OPT_ETAG, "e", 1), 0);
  const uint16_t want[] = {3, 4, 11, 60};
  cr_assert_eq(coap_options_count(&opts), 4);
  for (size_t i = 0; i < 4; i++)
    cr_assert_eq(coap_options_at(&opts, i)->number, want[i]);
  cr_assert_null(coap_options_at(&opts, 4));
  coap_options_clear(&opts);
}

COAP_TEST(options, repeated_options_keep_insertion_order) {
  coap_options_init(&opts);
  add_ok(COAP_OPT_URI_PATH, "a");
  add_ok(COAP_OPT_URI_QUERY, "q");
  add_ok(COAP_OPT_URI_HOST, "h");
  add_ok(COAP_OPT_URI_PATH, "b");
  add_ok(COAP_OPT_URI_PATH, "c");
  cr_assert_eq(coap_options_count_of(&opts, COAP_OPT_URI_PATH), 3);
  expect_value(coap_options_get_nth(&opts, COAP_OPT_URI_PATH, 0), 11, "a", 1);
  expect_value(coap_options_get_nth(&opts, COAP_OPT_URI_PATH, 1), 11, "b", 1);
  expect_value(coap_options_get_nth(&opts, COAP_OPT_URI_PATH, 2), 11, "c", 1);
  cr_assert_null(coap_options_get_nth(&opts, COAP_OPT_URI_PATH, 3));
  cr_assert(coap_options_has(&opts, COAP_OPT_URI_QUERY));
  cr_assert_not(coap_options_has(&opts, COAP_OPT_ETAG));
  coap_options_clear(&opts);
}

COAP_TEST(options, more_than_16_options_move_to_the_heap) {
  coap_options_init(&opts);
  /* Numbers in a scrambled order: 37 * i mod 101 visits 0..100. */
  for (uint16_t i = 0; i < 40; i++) {
    uint8_t v = (uint8_t)i;
    cr_assert_eq(coap_options_add(&opts, (uint16_t)(37 * i % 101), &v, 1), 0);
  }
  cr_assert_gt(coap_test_total_allocations, 0);
  cr_assert_eq(coap_options_count(&opts), 40);
  for (size_t i = 1; i < 40; i++)
    cr_assert_lt(coap_options_at(&opts, i - 1)->number,
                 coap_options_at(&opts, i)->number);
  for (uint16_t i = 0; i < 40; i++) {
    uint8_t v = (uint8_t)i;
    expect_value(coap_options_get(&opts, (uint16_t)(37 * i % 101)),
                 (uint16_t)(37 * i % 101), &v, 1);
  }
  coap_options_clear(&opts);
  cr_assert_eq(coap_test_live_allocations, 0);
}

COAP_TEST(options, values_beyond_64_bytes_go_to_heap_storage) {
  coap_options_init(&opts);
  char value[20][21];
  for (int i = 0; i < 20; i++) {
    memset(value[i], 'a' + i, 20);
    value[i][20] = '\0';
    add_ok(COAP_OPT_URI_PATH, value[i]);
  }
  cr_assert_gt(coap_test_total_allocations, 0);
  for (size_t i = 0; i < 20; i++)
    expect_value(coap_options_get_nth(&opts, COAP_OPT_URI_PATH, i),
                 COAP_OPT_URI_PATH, value[i], 20);
  coap_options_clear(&opts);
}

COAP_TEST(options, repeated_set_does_not_grow_memory) {
  coap_options_init(&opts);
  char big[300];
  memset(big, 'x', sizeof big);
  cr_assert_eq(coap_options_add(&opts, COAP_OPT_PROXY_URI, big, 200), 0);
  add_ok(COAP_OPT_URI_PATH, "keep");
  for (uint32_t i = 0; i < 20000; i++) {
    cr_assert_eq(coap_options_set_observe(&opts, i), 0);
    cr_assert_eq(coap_options_set_max_age(&opts, i * 7), 0);
    cr_assert_eq(coap_options_set(&opts, COAP_OPT_ECHO, big, i % 40 + 1), 0);
  }
  cr_assert_leq(coap_test_live_allocations, 1);
  cr_assert_lt(coap_test_total_allocations, 40);
  uint32_t v;
  cr_assert_eq(coap_options_get_observe(&opts, &v), 0);
  cr_assert_eq(v, 19999);
  cr_assert_eq(coap_options_get_max_age(&opts, &v), 0);
  cr_assert_eq(v, 19999 * 7);
  expect_value(coap_options_get(&opts, COAP_OPT_PROXY_URI), 35, big, 200);
  expect_value(coap_options_get(&opts, COAP_OPT_URI_PATH), 11, "keep", 4);
  cr_assert_eq(coap_options_count(&opts), 5);
  coap_options_clear(&opts);
}

COAP_TEST(options, adding_a_copy_of_an_existing_value_is_safe) {
  coap_options_init(&opts);
  char big[100];
  memset(big, 'b', sizeof big);
  add_ok(COAP_OPT_URI_PATH, "0123456789012345678901234567890123456789");
  cr_assert_eq(coap_options_add(&opts, COAP_OPT_ECHO, big, 20), 0);
  const coap_option *o = coap_options_get(&opts, COAP_OPT_URI_PATH);
  cr_assert_eq(coap_options_add(&opts, COAP_OPT_URI_QUERY, o->value, o->len),
               0);
  cr_assert_eq(coap_options_add(&opts, COAP_OPT_PROXY_URI, big, 100), 0);
  o = coap_options_get(&opts, COAP_OPT_PROXY_URI);
  cr_assert_eq(coap_options_add(&opts, 2000, o->value, o->len), 0);
  o = coap_options_get(&opts, COAP_OPT_URI_QUERY);
  cr_assert_eq(coap_options_set(&opts, COAP_OPT_URI_QUERY, o->value, 10), 0);
  expect_value(coap_options_get(&opts, COAP_OPT_URI_QUERY), 15, "0123456789",
               10);
  expect_value(coap_options_get(&opts, 2000), 2000, big, 100);
  coap_options_clear(&opts);
}

COAP_TEST(options, delete_removes_every_option_of_a_number) {
  coap_options_init(&opts);
  add_ok(COAP_OPT_URI_PATH, "a");
  add_ok(COAP_OPT_URI_HOST, "h");
  add_ok(COAP_OPT_URI_PATH, "b");
  add_ok(COAP_OPT_URI_QUERY, "q");
  cr_assert_eq(coap_options_delete(&opts, COAP_OPT_URI_PATH), 2);
  cr_assert_eq(coap_options_delete(&opts, COAP_OPT_ETAG), 0);
  cr_assert_eq(coap_options_count(&opts), 2);
  expect_value(coap_options_at(&opts, 0), COAP_OPT_URI_HOST, "h", 1);
  expect_value(coap_options_at(&opts, 1), COAP_OPT_URI_QUERY, "q", 1);
  coap_options_clear(&opts);
}

COAP_TEST(options, add_rejects_bad_arguments) {
  coap_options_init(&opts);
  cr_assert_eq(coap_options_add(&opts, 1, NULL, 1), COAP_EINVAL);
  cr_assert_eq(coap_options_add_borrowed(&opts, 1, NULL, 1), COAP_EINVAL);
  cr_assert_eq(coap_options_add(&opts, 1, "x", COAP_OPTION_MAX_LENGTH + 1),
               COAP_EINVAL);
  cr_assert_eq(coap_options_add(&opts, COAP_OPT_IF_NONE_MATCH, NULL, 0), 0);
  cr_assert_eq(coap_options_count(&opts), 1);
  coap_options_clear(&opts);
}

COAP_TEST(options, copy_is_deep_and_independent) {
  coap_options src, dst;
  coap_options_init(&src);
  coap_options_init(&dst);
  char borrowed[100];
  memset(borrowed, 'z', sizeof borrowed);
  cr_assert_eq(coap_options_add_borrowed(&src, 2000, borrowed, 100), 0);
  for (int i = 0; i < 20; i++)
    cr_assert_eq(coap_options_add_uint(&src, (uint16_t)(100 + i), 1000u * i),
                 0);
  cr_assert_eq(coap_options_add_string(&dst, COAP_OPT_URI_HOST, "old"), 0);
  cr_assert_eq(coap_options_copy(&dst, &src), 0);
  memset(borrowed, 0, sizeof borrowed);
  coap_options_clear(&src);
  cr_assert_eq(coap_options_count(&dst), 21);
  cr_assert_null(coap_options_get(&dst, COAP_OPT_URI_HOST));
  char want[100];
  memset(want, 'z', sizeof want);
  expect_value(coap_options_get(&dst, 2000), 2000, want, 100);
  for (int i = 0; i < 20; i++) {
    uint32_t v;
    cr_assert_eq(coap_options_get_uint(&dst, (uint16_t)(100 + i), &v), 0);
    cr_assert_eq(v, 1000u * i);
  }
  coap_options_clear(&dst);
}

COAP_TEST(options, own_copies_borrowed_values) {
  coap_options_init(&opts);
  uint8_t wire[200];
  for (size_t i = 0; i < sizeof wire; i++)
    wire[i] = (uint8_t)i;
  cr_assert_eq(coap_options_add_borrowed(&opts, COAP_OPT_ETAG, wire, 4), 0);
  cr_assert_eq(coap_options_add_borrowed(&opts, 3000, wire + 4, 150), 0);
  cr_assert_eq(coap_options_add(&opts, COAP_OPT_URI_PATH, wire + 10, 5), 0);
  cr_assert_eq(
      coap_options_add_borrowed(&opts, COAP_OPT_IF_NONE_MATCH, NULL, 0), 0);
  cr_assert_eq(coap_options_own(&opts), 0);
  uint8_t want[200];
  memcpy(want, wire, sizeof want);
  memset(wire, 0xee, sizeof wire);
  expect_value(coap_options_get(&opts, COAP_OPT_ETAG), 4, want, 4);
  expect_value(coap_options_get(&opts, 3000), 3000, want + 4, 150);
  expect_value(coap_options_get(&opts, COAP_OPT_URI_PATH), 11, want + 10, 5);
  cr_assert(coap_options_get_if_none_match(&opts));
  coap_options_clear(&opts);
}

COAP_TEST(options, segments_set_split_and_join) {
  coap_options_init(&opts);
  char buf[64];
  const char *const segs[] = {"sensors", "temp", "1"};
  cr_assert_eq(coap_options_set_uri_path(&opts, segs, 3), 0);
  cr_assert_eq(coap_options_get_uri_path_string(&opts, buf, sizeof buf), 14);
  cr_assert_str_eq(buf, "sensors/temp/1");
  cr_assert_eq(coap_options_set_uri_path_string(&opts, "a//b"), 0);
  cr_assert_eq(coap_options_count_of(&opts, COAP_OPT_URI_PATH), 3);
  expect_value(coap_options_get_nth(&opts, 11, 1), 11, "", 0);
  cr_assert_eq(coap_options_set_uri_query_string(&opts, "x=1&y=2"), 0);
  cr_assert_eq(coap_options_get_uri_query_string(&opts, buf, sizeof buf), 7);
  cr_assert_str_eq(buf, "x=1&y=2");
  cr_assert_eq(coap_options_get_uri_query_string(&opts, buf, 7), COAP_ENOSPC);
  cr_assert_eq(coap_options_set_uri_path_string(&opts, ""), 0);
  cr_assert_eq(coap_options_count_of(&opts, COAP_OPT_URI_PATH), 0);
  cr_assert_eq(coap_options_get_uri_path_string(&opts, buf, sizeof buf), 0);
  cr_assert_str_eq(buf, "");
  cr_assert_eq(coap_options_add_location_path(&opts, "new"), 0);
  cr_assert_eq(coap_options_get_location_path_string(&opts, buf, 64), 3);
  coap_options_clear(&opts);
}

COAP_TEST(options, failed_segment_set_keeps_the_old_segments) {
  coap_options_init(&opts);
  const char *const bad[] = {"x", NULL};
  cr_assert_eq(coap_options_set_uri_path_string(&opts, "a/b"), 0);
  cr_assert_eq(coap_options_set_uri_path(&opts, bad, 2), COAP_EINVAL);
  char buf[16];
  cr_assert_eq(coap_options_get_uri_path_string(&opts, buf, sizeof buf), 3);
  cr_assert_str_eq(buf, "a/b");
  cr_assert_eq(coap_options_set_segments_split(&opts, 11, NULL, '/'),
               COAP_EINVAL);
  coap_options_clear(&opts);
}

COAP_TEST(options, uint_values_use_the_shortest_form) {
  /* RFC 7252 §3.2: "A sender SHOULD represent the integer with as few bytes
   * as possible", so 0 is the empty string. */
  static const struct {
    uint32_t value;
    size_t len;
    uint8_t bytes[4];
  } cases[] = {
      {0, 0, {0}},
      {255, 1, {0xff}},
      {256, 2, {0x01, 0x00}},
      {65535, 2, {0xff, 0xff}},
      {65536, 3, {0x01, 0x00, 0x00}},
      {0xffffffffu, 4, {0xff, 0xff, 0xff, 0xff}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[4];
    cr_assert_eq(coap_option_uint_encode(cases[i].value, buf), cases[i].len);
    cr_assert_arr_eq(buf, cases[i].bytes, cases[i].len);
    uint32_t back = 1;
    cr_assert_eq(coap_option_uint_decode(buf, cases[i].len, &back), 0);
    cr_assert_eq(back, cases[i].value);
  }
}

COAP_TEST(options, get_uint_rejects_five_byte_values) {
  coap_options_init(&opts);
  cr_assert_eq(coap_options_add(&opts, COAP_OPT_MAX_AGE, "\x01\0\0\0\0", 5), 0);
  uint32_t v;
  cr_assert_eq(coap_options_get_uint(&opts, COAP_OPT_MAX_AGE, &v), COAP_ERANGE);
  cr_assert_eq(coap_options_get_uint(&opts, COAP_OPT_SIZE2, &v), COAP_ENOENT);
  /* A leading zero byte is accepted when reading. */
  cr_assert_eq(coap_options_set(&opts, COAP_OPT_MAX_AGE, "\0\x05", 2), 0);
  cr_assert_eq(coap_options_get_uint(&opts, COAP_OPT_MAX_AGE, &v), 0);
  cr_assert_eq(v, 5);
  coap_options_clear(&opts);
}

COAP_TEST(options, typed_uint_views) {
  coap_options_init(&opts);
  uint32_t u32;
  uint16_t u16 = 0;
  uint8_t u8 = 0;
  cr_assert_eq(coap_options_get_observe(&opts, &u32), COAP_ENOENT);
  cr_assert_eq(coap_options_set_observe(&opts, 0), 0);
  cr_assert_eq(coap_options_get(&opts, COAP_OPT_OBSERVE)->len, 0);
  cr_assert_eq(coap_options_get_observe(&opts, &u32), 0);
  cr_assert_eq(u32, 0);
  cr_assert_eq(coap_options_set_content_format(&opts, COAP_CT_JSON), 0);
  cr_assert_eq(coap_options_get_content_format(&opts, &u16), 0);
  cr_assert_eq(u16, 50);
  cr_assert_eq(coap_options_set_accept(&opts, COAP_CT_CBOR), 0);
  cr_assert_eq(coap_options_get_accept(&opts, &u16), 0);
  cr_assert_eq(u16, 60);
  cr_assert_eq(coap_options_set_max_age(&opts, 86400), 0);
  cr_assert_eq(coap_options_get_max_age(&opts, &u32), 0);
  cr_assert_eq(u32, 86400);
  cr_assert_eq(coap_options_set_size1(&opts, 10), 0);
  cr_assert_eq(coap_options_set_size2(&opts, 70000), 0);
  cr_assert_eq(coap_options_get_size2(&opts, &u32), 0);
  cr_assert_eq(u32, 70000);
  cr_assert_eq(coap_options_set_uri_port(&opts, 5683), 0);
  cr_assert_eq(coap_options_get_uri_port(&opts, &u16), 0);
  cr_assert_eq(u16, 5683);
  cr_assert_eq(coap_options_set_hop_limit(&opts, 16), 0);
  cr_assert_eq(coap_options_get_hop_limit(&opts, &u8), 0);
  cr_assert_eq(u8, 16);
  /* A value too big for the view's type is a range error, not truncated. */
  cr_assert_eq(coap_options_set_uint(&opts, COAP_OPT_NO_RESPONSE, 300), 0);
  cr_assert_eq(coap_options_get_no_response(&opts, &u8), COAP_ERANGE);
  cr_assert_eq(coap_options_set_content_format(&opts, 0), 0);
  cr_assert_eq(coap_options_count_of(&opts, COAP_OPT_CONTENT_FORMAT), 1);
  coap_options_clear(&opts);
}

COAP_TEST(options, typed_opaque_views) {
  coap_options_init(&opts);
  const uint8_t *v;
  size_t len;
  cr_assert_eq(coap_options_get_etag(&opts, &v, &len), COAP_ENOENT);
  cr_assert_eq(coap_options_set_etag(&opts, "\x01\x02", 2), 0);
  cr_assert_eq(coap_options_add_etag(&opts, "\x03", 1), 0);
  cr_assert_eq(coap_options_get_etag(&opts, &v, &len), 0);
  cr_assert_eq(len, 2);
  cr_assert_arr_eq(v, "\x01\x02", 2);
  expect_value(coap_options_get_nth(&opts, COAP_OPT_ETAG, 1), 4, "\x03", 1);
  cr_assert_not(coap_options_get_if_none_match(&opts));
  cr_assert_eq(coap_options_set_if_none_match(&opts, true), 0);
  cr_assert_eq(coap_options_set_if_none_match(&opts, true), 0);
  cr_assert_eq(coap_options_count_of(&opts, COAP_OPT_IF_NONE_MATCH), 1);
  cr_assert(coap_options_get_if_none_match(&opts));
  cr_assert_eq(coap_options_set_if_none_match(&opts, false), 0);
  cr_assert_not(coap_options_get_if_none_match(&opts));
  cr_assert_eq(coap_options_add_if_match(&opts, "", 0), 0);
  cr_assert_eq(coap_options_set_uri_host(&opts, "example.com", 11), 0);
  char host[12];
  cr_assert_eq(coap_options_get_string(&opts, COAP_OPT_URI_HOST, host, 12), 11);
  cr_assert_str_eq(host, "example.com");
  cr_assert_eq(coap_options_get_string(&opts, COAP_OPT_URI_HOST, host, 11),
               COAP_ENOSPC);
  cr_assert_eq(coap_options_get_string(&opts, COAP_OPT_PROXY_URI, host, 12),
               COAP_ENOENT);
  cr_assert_eq(coap_options_set_echo(&opts, "\xaa", 1), 0);
  cr_assert_eq(coap_options_get_echo(&opts, &v, &len), 0);
  cr_assert_eq(len, 1);
  coap_options_clear(&opts);
}

COAP_TEST(options, block_round_trip) {
  /* RFC 7959 §2.2: value = NUM << 4 | M << 3 | SZX. */
  coap_options_init(&opts);
  const coap_block cases[] = {{0, false, 0},
                              {1, true, 6},
                              {16, false, 2},
                              {4095, true, 4},
                              {(1u << 20) - 1, true, 6}};
  const size_t lens[] = {0, 1, 2, 2, 3};
  for (size_t i = 0; i < 5; i++) {
    coap_block back;
    cr_assert_eq(coap_options_set_block2(&opts, &cases[i]), 0);
    cr_assert_eq(coap_options_get(&opts, COAP_OPT_BLOCK2)->len, lens[i]);
    cr_assert_eq(coap_options_get_block2(&opts, &back), 0);
    cr_assert_eq(back.num, cases[i].num);
    cr_assert_eq(back.more, cases[i].more);
    cr_assert_eq(back.szx, cases[i].szx);
  }
  const coap_block b1 = {3, true, 2};
  cr_assert_eq(coap_options_set_block1(&opts, &b1), 0);
  expect_value(coap_options_get(&opts, COAP_OPT_BLOCK1), 27, "\x3a", 1);
  cr_assert_eq(coap_block_size(2), 64);
  cr_assert_eq(coap_block_start(&b1), 192);
  coap_options_clear(&opts);
}

COAP_TEST(options, block_rejects_bad_values) {
  coap_options_init(&opts);
  coap_block b;
  cr_assert_eq(coap_options_get_block1(&opts, &b), COAP_ENOENT);
  const coap_block szx7 = {1, false, 7};
  const coap_block too_far = {1u << 20, false, 0};
  cr_assert_eq(coap_options_set_block1(&opts, &szx7), COAP_EINVAL);
  cr_assert_eq(coap_options_set_block1(&opts, &too_far), COAP_EINVAL);
  /* RFC 7959 §2.2: SZX 7 is reserved. */
  cr_assert_eq(coap_options_set_uint(&opts, COAP_OPT_BLOCK1, 0x17), 0);
  cr_assert_eq(coap_options_get_block1(&opts, &b), COAP_EINVAL);
  cr_assert_eq(coap_options_set(&opts, COAP_OPT_BLOCK1, "\0\0\0\x10", 4), 0);
  cr_assert_eq(coap_options_get_block1(&opts, &b), COAP_EINVAL);
  coap_options_clear(&opts);
}

COAP_TEST(options, check_reports_too_long_uri_host) {
  coap_options_init(&opts);
  char host[257];
  memset(host, 'h', 256);
  host[256] = '\0';
  add_ok(COAP_OPT_URI_PATH, "x");
  uint16_t bad = 0;
  cr_assert_eq(coap_options_check(&opts, &bad), 0);
  add_ok(COAP_OPT_URI_HOST, host);
  cr_assert_eq(coap_options_check(&opts, &bad), COAP_EINVAL);
  cr_assert_eq(bad, COAP_OPT_URI_HOST);
  host[255] = '\0';
  cr_assert_eq(coap_options_set_string(&opts, COAP_OPT_URI_HOST, host), 0);
  cr_assert_eq(coap_options_check(&opts, NULL), 0);
  coap_options_clear(&opts);
}

COAP_TEST(options, check_reports_repeated_non_repeatable_option) {
  coap_options_init(&opts);
  cr_assert_eq(coap_options_add_uint(&opts, COAP_OPT_CONTENT_FORMAT, 0), 0);
  cr_assert_eq(coap_options_add_uint(&opts, 9999, 1), 0);
  cr_assert_eq(coap_options_add_uint(&opts, 9999, 2), 0);
  uint16_t bad = 0;
  cr_assert_eq(coap_options_check(&opts, &bad), 0);
  cr_assert_eq(coap_options_add_uint(&opts, COAP_OPT_CONTENT_FORMAT, 40), 0);
  cr_assert_eq(coap_options_check(&opts, &bad), COAP_EINVAL);
  cr_assert_eq(bad, COAP_OPT_CONTENT_FORMAT);
  coap_options_clear(&opts);
}

COAP_TEST(options, encode_extended_deltas) {
  /* RFC 7252 §3.1: 13 means one more byte (delta - 13), 14 two more bytes
   * (delta - 269). */
  static const struct {
    uint16_t number;
    uint8_t bytes[3];
    size_t len;
  } cases[] = {
      {12, {0xc0}, 1},
      {13, {0xd0, 0x00}, 2},
      {268, {0xd0, 0xff}, 2},
      {269, {0xe0, 0x00, 0x00}, 3},
      {65535, {0xe0, 0xfe, 0xf2}, 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    coap_options_init(&opts);
    cr_assert_eq(coap_options_add(&opts, cases[i].number, NULL, 0), 0);
    expect_encoding(cases[i].bytes, cases[i].len);
    coap_options_clear(&opts);
  }
  /* Deltas are relative to the previous option. */
  coap_options_init(&opts);
  cr_assert_eq(coap_options_add(&opts, 300, NULL, 0), 0);
  cr_assert_eq(coap_options_add(&opts, 313, NULL, 0), 0);
  cr_assert_eq(coap_options_add(&opts, 313, NULL, 0), 0);
  const uint8_t want[] = {0xe0, 0x00, 0x1f, 0xd0, 0x00, 0x00};
  expect_encoding(want, sizeof want);
  coap_options_clear(&opts);
}

COAP_TEST(options, encode_extended_lengths) {
  static const struct {
    size_t len;
    uint8_t head[3];
    size_t head_len;
  } cases[] = {
      {12, {0x1c}, 1},
      {13, {0x1d, 0x00}, 2},
      {268, {0x1d, 0xff}, 2},
      {269, {0x1e, 0x00, 0x00}, 3},
      {COAP_OPTION_MAX_LENGTH, {0x1e, 0xff, 0xff}, 3},
  };
  static uint8_t value[COAP_OPTION_MAX_LENGTH];
  static uint8_t want[COAP_OPTION_MAX_LENGTH + 3];
  memset(value, 0x5a, sizeof value);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    coap_options_init(&opts);
    cr_assert_eq(coap_options_add_borrowed(&opts, 1, value, cases[i].len), 0);
    memcpy(want, cases[i].head, cases[i].head_len);
    memcpy(want + cases[i].head_len, value, cases[i].len);
    expect_encoding(want, cases[i].head_len + cases[i].len);
    coap_options_clear(&opts);
  }
}

COAP_TEST(options, encode_never_writes_past_cap) {
  coap_options_init(&opts);
  add_ok(COAP_OPT_URI_HOST, "example.net");
  add_ok(COAP_OPT_URI_PATH, "a-rather-long-path-segment");
  cr_assert_eq(coap_options_add_uint(&opts, 2000, 123456), 0);
  size_t size = coap_options_encoded_size(&opts);
  uint8_t buf[128];
  for (size_t cap = 0; cap < size; cap++) {
    memset(buf, 0xa5, sizeof buf);
    cr_assert_eq(coap_options_encode(&opts, buf, cap), COAP_ENOSPC);
    for (size_t i = cap; i < sizeof buf; i++)
      cr_assert_eq(buf[i], 0xa5);
  }
  cr_assert_eq(coap_options_encode(&opts, buf, size), (int)size);
  coap_options_clear(&opts);
}

COAP_TEST(options, adds_and_own_fail_cleanly_at_every_allocation) {
  char value[40];
  for (long n = 0;; n++) {
    cr_assert_lt(n, 100, "never succeeded");
    coap_options_init(&opts);
    coap_test_fail_after = n;
    int r = 0;
    size_t added = 0;
    for (int i = 0; r == 0 && i < 30; i++) {
      memset(value, 'a' + i % 26, sizeof value);
      r = coap_options_add(&opts, (uint16_t)(30 - i), value, sizeof value);
      added += r == 0;
    }
    char borrowed[300];
    memset(borrowed, 'B', sizeof borrowed);
    if (r == 0)
      r = coap_options_add_borrowed(&opts, 1000, borrowed, sizeof borrowed);
    if (r == 0)
      r = coap_options_own(&opts);
    coap_test_fail_after = -1;
    cr_assert(r == 0 || r == COAP_ENOMEM);
    /* Whatever was added before the failure is intact. */
    cr_assert_geq(coap_options_count(&opts), added);
    for (size_t i = 0; i < added; i++) {
      memset(value, 'a' + (int)i % 26, sizeof value);
      expect_value(coap_options_get(&opts, (uint16_t)(30 - i)),
                   (uint16_t)(30 - i), value, sizeof value);
    }
    coap_options_clear(&opts);
    cr_assert_eq(coap_test_live_allocations, 0);
    if (r == 0)
      break;
  }
}
