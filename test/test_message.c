#include "test_common.h"

#include "alloc-internal.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

static coap_message msg;

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__})
#define DECODE(...)                                                            \
  coap_message_decode(&msg, BYTES(__VA_ARGS__), sizeof(BYTES(__VA_ARGS__)))

static void expect_encoded(const coap_message *m, const uint8_t *want,
                           size_t len) {
  uint8_t buf[256];
  cr_assert_eq(coap_message_encoded_size(m), len);
  cr_assert_eq(coap_message_encode(m, buf, sizeof buf), (int)len);
  cr_assert_arr_eq(buf, want, len);
}

/* Equal as a peer would see them: header, token, options, payload. */
static void expect_same_message(const coap_message *a, const coap_message *b) {
  cr_assert_eq(a->mtype, b->mtype);
  cr_assert_eq(a->mid, b->mid);
  cr_assert_eq(a->code, b->code);
  cr_assert_eq(a->token_len, b->token_len);
  cr_assert_arr_eq(a->token, b->token, a->token_len);
  size_t n = coap_options_count(&a->opt);
  cr_assert_eq(coap_options_count(&b->opt), n);
  for (size_t i = 0; i < n; i++) {
    const coap_option *x = coap_options_at(&a->opt, i);
    const coap_option *y = coap_options_at(&b->opt, i);
    cr_assert_eq(x->number, y->number);
    cr_assert_eq(x->len, y->len);
    if (x->len > 0)
      cr_assert_arr_eq(x->value, y->value, x->len);
  }
  cr_assert_eq(a->payload_len, b->payload_len);
  if (a->payload_len > 0)
    cr_assert_arr_eq(a->payload, b->payload, a->payload_len);
}

/* RFC 7252 Appendix A, Figure 16: the request. */
static const uint8_t fig16_request[] = {0x40, 0x01, 0x7d, 0x34, 0xbb, 't',
                                        'e',  'm',  'p',  'e',  'r',  'a',
                                        't',  'u',  'r',  'e'};
/* ... and its piggybacked response. */
static const uint8_t fig16_response[] = {0x60, 0x45, 0x7d, 0x34, 0xff, '2',
                                         '2',  '.',  '3',  ' ',  'C'};

COAP_TEST(message, init_sets_unset_type_and_mid) {
  coap_message_init(&msg);
  cr_assert_eq(msg.mtype, COAP_TYPE_UNSET);
  cr_assert_eq(msg.mid, -1);
  cr_assert_eq(msg.code, COAP_CODE_EMPTY);
  cr_assert_eq(msg.payload_len, 0);
  cr_assert_eq(coap_test_total_allocations, 0);
  coap_message *heap;
  cr_assert_eq(coap_message_new(&heap), 0);
  cr_assert_eq(heap->mid, -1);
  coap_message_free(heap);
  coap_message_free(NULL);
}

COAP_TEST(message_encode, rfc7252_figure16_get_and_piggybacked_response) {
  coap_message_init(&msg);
  msg.mtype = COAP_TYPE_CON;
  msg.code = COAP_CODE_GET;
  msg.mid = 0x7d34;
  cr_assert_eq(coap_options_add_uri_path(&msg.opt, "temperature"), 0);
  expect_encoded(&msg, fig16_request, sizeof fig16_request);
  coap_message_clear(&msg);
  msg.mtype = COAP_TYPE_ACK;
  msg.code = COAP_CODE_CONTENT;
  msg.mid = 0x7d34;
  cr_assert_eq(coap_message_set_payload_string(&msg, "22.3 C"), 0);
  expect_encoded(&msg, fig16_response, sizeof fig16_response);
  coap_message_clear(&msg);
}

COAP_TEST(message_decode, rfc7252_figure16_get_and_piggybacked_response) {
  coap_message_init(&msg);
  cr_assert_eq(coap_message_decode(&msg, fig16_request, sizeof fig16_request),
               0);
  cr_assert_eq(msg.mtype, COAP_TYPE_CON);
  cr_assert_eq(msg.code, COAP_CODE_GET);
  cr_assert_eq(msg.mid, 0x7d34);
  cr_assert_eq(msg.token_len, 0);
  char path[32];
  cr_assert_eq(coap_options_get_uri_path_string(&msg.opt, path, 32), 11);
  cr_assert_str_eq(path, "temperature");
  cr_assert_eq(msg.payload_len, 0);
  cr_assert_eq(coap_message_decode(&msg, fig16_response, sizeof fig16_response),
               0);
  cr_assert_eq(msg.mtype, COAP_TYPE_ACK);
  cr_assert_eq(msg.code, COAP_CODE_CONTENT);
  cr_assert_eq(coap_options_count(&msg.opt), 0);
  cr_assert_eq(msg.payload_len, 6);
  cr_assert_arr_eq(msg.payload, "22.3 C", 6);
  /* The payload borrows from the datagram. */
  cr_assert_eq(msg.payload, fig16_response + 5);
  cr_assert_eq(coap_test_total_allocations, 0);
  coap_message_clear(&msg);
}

COAP_TEST(message_encode, rfc7252_appendix_a_token_examples) {
  /* Figure 17: token 0x20, MID 0x7d35. */
  coap_message_init(&msg);
  msg.mtype = COAP_TYPE_CON;
  msg.code = COAP_CODE_GET;
  msg.mid = 0x7d35;
  cr_assert_eq(coap_message_set_token(&msg, "\x20", 1), 0);
  cr_assert_eq(coap_options_add_uri_path(&msg.opt, "temperature"), 0);
  const uint8_t req[] = {0x41, 0x01, 0x7d, 0x35, 0x20, 0xbb, 't', 'e', 'm',
                         'p',  'e',  'r',  'a',  't',  'u',  'r', 'e'};
  expect_encoded(&msg, req, sizeof req);
  coap_message_clear(&msg);
  msg.mtype = COAP_TYPE_ACK;
  msg.code = COAP_CODE_CONTENT;
  msg.mid = 0x7d35;
  cr_assert_eq(coap_message_set_token(&msg, "\x20", 1), 0);
  cr_assert_eq(coap_message_set_payload_string(&msg, "22.5 C"), 0);
  const uint8_t resp[] = {0x61, 0x45, 0x7d, 0x35, 0x20, 0xff,
                          '2',  '2',  '.',  '5',  ' ',  'C'};
  expect_encoded(&msg, resp, sizeof resp);
  coap_message_clear(&msg);
  /* Separate response (RFC 7252 §5.2.2): the empty ACK, then a CON 2.05
   * with a 4-byte token, and the NON request/response pair of §5.2.3. */
  msg.mtype = COAP_TYPE_ACK;
  msg.mid = 0x7d38;
  expect_encoded(&msg, BYTES(0x60, 0x00, 0x7d, 0x38), 4);
  msg.mtype = COAP_TYPE_CON;
  msg.code = COAP_CODE_CONTENT;
  msg.mid = 0xad7b;
  cr_assert_eq(coap_message_set_token(&msg, "\x53\x54\x55\x56", 4), 0);
  cr_assert_eq(coap_message_set_payload_string(&msg, "22.3 C"), 0);
  expect_encoded(&msg,
                 BYTES(0x44, 0x45, 0xad, 0x7b, 0x53, 0x54, 0x55, 0x56, 0xff,
                       '2', '2', '.', '3', ' ', 'C'),
                 15);
  msg.mtype = COAP_TYPE_NON;
  msg.code = COAP_CODE_GET;
  msg.mid = 0x7d40;
  cr_assert_eq(coap_message_set_token(&msg, "\x74", 1), 0);
  cr_assert_eq(coap_message_set_payload(&msg, NULL, 0), 0);
  expect_encoded(&msg, BYTES(0x51, 0x01, 0x7d, 0x40, 0x74), 5);
  coap_message_clear(&msg);
}

COAP_TEST(message_encode, rejects_unset_type_and_mid) {
  coap_message_init(&msg);
  uint8_t buf[16];
  msg.code = COAP_CODE_GET;
  msg.mid = 1;
  cr_assert_eq(coap_message_encode(&msg, buf, sizeof buf), COAP_EINVAL);
  msg.mtype = 4;
  cr_assert_eq(coap_message_encode(&msg, buf, sizeof buf), COAP_EINVAL);
  msg.mtype = COAP_TYPE_CON;
  msg.mid = -1;
  cr_assert_eq(coap_message_encode(&msg, buf, sizeof buf), COAP_EINVAL);
  msg.mid = 65536;
  cr_assert_eq(coap_message_encode(&msg, buf, sizeof buf), COAP_EINVAL);
  msg.mid = 65535;
  cr_assert_eq(coap_message_encode(&msg, buf, sizeof buf), 4);
  coap_message_clear(&msg);
}

COAP_TEST(message_encode, rejects_empty_message_with_content) {
  /* RFC 7252 §4.1: an Empty message is the 4-byte header only. */
  coap_message_init(&msg);
  uint8_t buf[16];
  msg.mtype = COAP_TYPE_RST;
  msg.mid = 7;
  cr_assert_eq(coap_message_encode(&msg, buf, sizeof buf), 4);
  cr_assert_eq(coap_message_set_token(&msg, "t", 1), 0);
  cr_assert_eq(coap_message_encode(&msg, buf, sizeof buf), COAP_EINVAL);
  cr_assert_eq(coap_message_set_token(&msg, NULL, 0), 0);
  cr_assert_eq(coap_options_add_uint(&msg.opt, COAP_OPT_SIZE1, 1), 0);
  cr_assert_eq(coap_message_encode(&msg, buf, sizeof buf), COAP_EINVAL);
  coap_options_clear(&msg.opt);
  coap_message_set_payload_borrowed(&msg, "p", 1);
  cr_assert_eq(coap_message_encode(&msg, buf, sizeof buf), COAP_EINVAL);
  coap_message_clear(&msg);
}

COAP_TEST(message_encode, never_writes_past_cap) {
  coap_message_init(&msg);
  msg.mtype = COAP_TYPE_CON;
  msg.code = COAP_CODE_PUT;
  msg.mid = 99;
  cr_assert_eq(coap_message_set_token(&msg, "abcd", 4), 0);
  cr_assert_eq(coap_options_set_uri_path_string(&msg.opt, "a/bb/ccc"), 0);
  cr_assert_eq(coap_message_set_payload_string(&msg, "payload"), 0);
  size_t size = coap_message_encoded_size(&msg);
  uint8_t buf[64];
  for (size_t cap = 0; cap < size; cap++) {
    memset(buf, 0xa5, sizeof buf);
    cr_assert_eq(coap_message_encode(&msg, buf, cap), COAP_ENOSPC);
    for (size_t i = cap; i < sizeof buf; i++)
      cr_assert_eq(buf[i], 0xa5);
  }
  cr_assert_eq(coap_message_encode(&msg, buf, size), (int)size);
  coap_message_clear(&msg);
}

COAP_TEST(message, set_token_rejects_nine_bytes) {
  coap_message_init(&msg);
  cr_assert_eq(coap_message_set_token(&msg, "123456789", 9), COAP_EINVAL);
  cr_assert_eq(coap_message_set_token(&msg, NULL, 1), COAP_EINVAL);
  cr_assert_eq(coap_message_set_token(&msg, "12345678", 8), 0);
  cr_assert_eq(msg.token_len, 8);
}

COAP_TEST(message, set_payload_reuses_its_buffer) {
  coap_message_init(&msg);
  cr_assert_eq(coap_message_set_payload_string(&msg, "hello world"), 0);
  const uint8_t *first = msg.payload_buf;
  long allocations = coap_test_total_allocations;
  cr_assert_eq(coap_message_set_payload_string(&msg, "bye"), 0);
  cr_assert_eq(msg.payload_buf, first);
  cr_assert_eq(coap_test_total_allocations, allocations);
  cr_assert_arr_eq(msg.payload, "bye", 3);
  /* A slice of the current payload is a valid source. */
  cr_assert_eq(coap_message_set_payload(&msg, msg.payload + 1, 2), 0);
  cr_assert_arr_eq(msg.payload, "ye", 2);
  uint8_t *room = coap_message_reserve_payload(&msg, 100);
  cr_assert_not_null(room);
  memset(room, 'r', 100);
  cr_assert_eq(msg.payload, room);
  cr_assert_eq(msg.payload_len, 100);
  cr_assert_eq(coap_message_set_payload(&msg, NULL, 1), COAP_EINVAL);
  coap_test_fail_after = 0;
  cr_assert_eq(coap_message_set_payload(&msg, room, 101), COAP_ENOMEM);
  cr_assert_null(coap_message_reserve_payload(&msg, 200));
  coap_test_fail_after = -1;
  coap_message_clear(&msg);
}

COAP_TEST(message_decode, own_survives_overwriting_the_datagram) {
  uint8_t wire[300];
  coap_message_init(&msg);
  msg.mtype = COAP_TYPE_NON;
  msg.code = COAP_CODE_POST;
  msg.mid = 4242;
  cr_assert_eq(coap_message_set_token(&msg, "tok", 3), 0);
  for (int i = 0; i < 20; i++)
    cr_assert_eq(coap_options_add_uint(&msg.opt, (uint16_t)(100 + i), i), 0);
  cr_assert_eq(coap_options_set_uri_path_string(&msg.opt, "x/yy/zzz"), 0);
  uint8_t body[150];
  memset(body, 'B', sizeof body);
  cr_assert_eq(coap_message_set_payload(&msg, body, sizeof body), 0);
  int n = coap_message_encode(&msg, wire, sizeof wire);
  cr_assert_gt(n, 0);
  coap_message decoded;
  coap_message_init(&decoded);
  cr_assert_eq(coap_message_decode(&decoded, wire, (size_t)n), 0);
  cr_assert_eq(coap_message_own(&decoded), 0);
  memset(wire, 0, sizeof wire);
  expect_same_message(&msg, &decoded);
  coap_message_clear(&decoded);
  coap_message_clear(&msg);
}

COAP_TEST(message, copy_is_independent) {
  coap_message src, dst;
  coap_message_init(&src);
  coap_message_init(&dst);
  src.mtype = COAP_TYPE_CON;
  src.code = COAP_CODE_GET;
  src.mid = 17;
  cr_assert_eq(coap_message_set_token(&src, "\x01\x02", 2), 0);
  cr_assert_eq(coap_options_set_uri_path_string(&src.opt, "s/1"), 0);
  cr_assert_eq(coap_message_set_payload_string(&src, "body"), 0);
  src.unresolved_remote = coap__strdup("coap://example.com");
  src.request_uri = coap__strdup("coap://example.com/s/1");
  src.remote.addr.sin6_family = AF_INET6;
  src.remote.addr.sin6_port = htons(5683);
  cr_assert_eq(coap_message_set_payload_string(&dst, "old"), 0);
  cr_assert_eq(coap_message_copy(&dst, &src), 0);
  expect_same_message(&src, &dst);
  cr_assert_eq(dst.remote.addr.sin6_port, htons(5683));
  cr_assert_str_eq(dst.unresolved_remote, "coap://example.com");
  cr_assert_str_eq(dst.request_uri, "coap://example.com/s/1");
  cr_assert_neq(dst.unresolved_remote, src.unresolved_remote);
  cr_assert_eq(coap_message_set_payload_string(&src, "BODY"), 0);
  cr_assert_eq(coap_options_set_uri_path_string(&src.opt, "t"), 0);
  coap_message_clear(&src);
  cr_assert_arr_eq(dst.payload, "body", 4);
  char path[8];
  cr_assert_eq(coap_options_get_uri_path_string(&dst.opt, path, 8), 3);
  cr_assert_str_eq(path, "s/1");
  coap_message_clear(&dst);
}

/* A message whose copy needs every kind of allocation. */
static void build_big(coap_message *m) {
  m->mtype = COAP_TYPE_CON;
  m->code = COAP_CODE_POST;
  m->mid = 1;
  for (int i = 0; i < 24; i++)
    cr_assert_eq(
        coap_options_add(&m->opt, (uint16_t)(200 + i), "0123456789abcdef", 16),
        0);
  cr_assert_not_null(coap_message_reserve_payload(m, 2000));
  memset(m->payload_buf, 'p', 2000);
  m->unresolved_remote = coap__strdup("coap://[::1]:61616");
  m->request_uri = coap__strdup("coap://[::1]:61616/big");
}

COAP_TEST(message, copy_fails_cleanly_at_every_allocation) {
  coap_message src, dst;
  coap_message_init(&src);
  coap_message_init(&dst);
  build_big(&src);
  for (long n = 0;; n++) {
    cr_assert_lt(n, 100, "copy never succeeded");
    coap_test_fail_after = n;
    int r = coap_message_copy(&dst, &src);
    coap_test_fail_after = -1;
    if (r == 0)
      break;
    cr_assert_eq(r, COAP_ENOMEM);
    cr_assert_eq(coap_options_count(&dst.opt), 0);
    cr_assert_eq(dst.payload_len, 0);
    cr_assert_null(dst.unresolved_remote);
  }
  expect_same_message(&src, &dst);
  coap_message_clear(&dst);
  coap_message_clear(&src);
}

COAP_TEST(message, cache_key_follows_the_aiocoap_example) {
  /* aiocoap's get_cache_key doctest: Size1 is NoCacheKey (RFC 7252
   * §5.4.6), ETag is not. */
  coap_message m1, m2;
  coap_message_init(&m1);
  coap_message_init(&m2);
  m1.code = m2.code = COAP_CODE_GET;
  cr_assert_eq(coap_options_set_uri_path_string(&m1.opt, "s/1"), 0);
  cr_assert_eq(coap_options_set_uri_path_string(&m2.opt, "s/1"), 0);
  cr_assert_eq(coap_options_set_size1(&m1.opt, 10), 0);
  cr_assert_eq(coap_options_set_size1(&m2.opt, 20), 0);
  uint8_t k1[64], k2[64];
  int n1 = coap_message_get_cache_key(&m1, NULL, 0, k1, sizeof k1);
  int n2 = coap_message_get_cache_key(&m2, NULL, 0, k2, sizeof k2);
  cr_assert_gt(n1, 0);
  cr_assert(n1 == n2 && memcmp(k1, k2, (size_t)n1) == 0);
  cr_assert_eq(coap_options_set_etag(&m2.opt, "000", 3), 0);
  n1 = coap_message_get_cache_key(&m1, NULL, 0, k1, sizeof k1);
  n2 = coap_message_get_cache_key(&m2, NULL, 0, k2, sizeof k2);
  cr_assert(n1 != n2 || memcmp(k1, k2, (size_t)n1) != 0);
  const uint16_t ignore[] = {COAP_OPT_ETAG};
  n1 = coap_message_get_cache_key(&m1, ignore, 1, k1, sizeof k1);
  n2 = coap_message_get_cache_key(&m2, ignore, 1, k2, sizeof k2);
  cr_assert(n1 == n2 && memcmp(k1, k2, (size_t)n1) == 0);
  m2.code = COAP_CODE_FETCH;
  n2 = coap_message_get_cache_key(&m2, ignore, 1, k2, sizeof k2);
  cr_assert(n1 != n2 || memcmp(k1, k2, (size_t)n1) != 0);
  cr_assert_eq(coap_message_get_cache_key(&m1, NULL, 0, k1, (size_t)n1 - 1),
               COAP_ENOSPC);
  coap_message_clear(&m1);
  coap_message_clear(&m2);
}

COAP_TEST(message, describe_matches_aiocoap_repr) {
  coap_message_init(&msg);
  msg.mtype = COAP_TYPE_CON;
  msg.code = COAP_CODE_CONTENT;
  msg.mid = 51187;
  cr_assert_eq(coap_message_set_token(&msg, "\x00\x00\x81\x99", 4), 0);
  cr_assert_eq(coap_options_set_content_format(&msg.opt, 0), 0);
  cr_assert_eq(coap_options_set_max_age(&msg.opt, 60), 0);
  cr_assert_not_null(coap_message_reserve_payload(&msg, 186));
  msg.remote.addr.sin6_family = AF_INET6;
  msg.remote.addr.sin6_addr = in6addr_loopback;
  msg.remote.addr.sin6_port = htons(5683);
  char buf[160];
  const char *want = "<coap_message: CON 2.05 Content (MID 51187, token "
                     "00008199) remote [::1]:5683, 2 option(s), 186 byte(s) "
                     "payload>";
  cr_assert_eq(coap_message_describe(&msg, buf, sizeof buf), (int)strlen(want));
  cr_assert_str_eq(buf, want);
  cr_assert_eq(coap_message_describe(&msg, buf, 10), 9);
  cr_assert_str_eq(buf, "<coap_mes");
  coap_message_clear(&msg);
  want = "<coap_message: no mtype, 0.00 EMPTY (no MID, empty token) remote "
         "(unset)>";
  cr_assert_eq(coap_message_describe(&msg, buf, sizeof buf), (int)strlen(want));
  cr_assert_str_eq(buf, want);
  cr_assert_eq(coap_message_describe(&msg, buf, 0), 0);
}

COAP_TEST(message_decode, rejects_fewer_than_4_bytes) {
  coap_message_init(&msg);
  cr_assert_eq(coap_message_decode(&msg, NULL, 0), COAP_EDECODE_SHORT);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00), COAP_EDECODE_SHORT);
}

COAP_TEST(message_decode, rejects_version_other_than_1) {
  /* RFC 7252 §3: "Implementations of this specification MUST set this field
   * to 1"; other versions are silently ignored, i.e. not decoded. */
  coap_message_init(&msg);
  cr_assert_eq(DECODE(0x00, 0x01, 0x00, 0x01), COAP_EDECODE_VERSION);
  cr_assert_eq(DECODE(0x80, 0x01, 0x00, 0x01), COAP_EDECODE_VERSION);
  cr_assert_eq(DECODE(0xc0, 0x01, 0x00, 0x01), COAP_EDECODE_VERSION);
}

COAP_TEST(message_decode, rejects_token_length_9) {
  /* RFC 7252 §3: lengths 9-15 are reserved and a format error. */
  coap_message_init(&msg);
  uint8_t d[24] = {0x49, 0x01, 0x00, 0x01};
  for (uint8_t tkl = 9; tkl <= 15; tkl++) {
    d[0] = (uint8_t)(0x40 | tkl);
    cr_assert_eq(coap_message_decode(&msg, d, sizeof d),
                 COAP_EDECODE_TOKEN_LENGTH);
  }
}

COAP_TEST(message_decode, rejects_truncated_token_and_options) {
  coap_message_init(&msg);
  cr_assert_eq(DECODE(0x48, 0x01, 0x00, 0x01, 1, 2, 3), COAP_EDECODE_TRUNCATED);
  /* Option value runs past the end. */
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xb5, 'a', 'b'),
               COAP_EDECODE_TRUNCATED);
  /* Extended delta (one byte, two bytes) missing. */
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xd0), COAP_EDECODE_TRUNCATED);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xe0, 0x00),
               COAP_EDECODE_TRUNCATED);
  /* Extended length missing. */
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0x0d), COAP_EDECODE_TRUNCATED);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0x0e, 0x01),
               COAP_EDECODE_TRUNCATED);
  /* A length of 65804 with nothing behind it. */
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0x1e, 0xff, 0xff, 'x'),
               COAP_EDECODE_TRUNCATED);
}

COAP_TEST(message_decode, rejects_nibble_15_outside_payload_marker) {
  /* RFC 7252 §3.1: 15 in delta or length is reserved. */
  coap_message_init(&msg);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xf0), COAP_EDECODE_NIBBLE15);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0x1f, 'x'),
               COAP_EDECODE_NIBBLE15);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xf1, 'x'),
               COAP_EDECODE_NIBBLE15);
}

COAP_TEST(message_decode, rejects_payload_marker_without_payload) {
  /* RFC 7252 §3: a marker followed by a zero-length payload MUST be
   * processed as a message format error. */
  coap_message_init(&msg);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xff),
               COAP_EDECODE_EMPTY_PAYLOAD);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xb1, 'a', 0xff),
               COAP_EDECODE_EMPTY_PAYLOAD);
}

COAP_TEST(message_decode, rejects_empty_message_with_content) {
  /* RFC 7252 §4.1: bytes after the Message ID of an Empty message are a
   * format error. */
  coap_message_init(&msg);
  cr_assert_eq(DECODE(0x41, 0x00, 0x00, 0x01, 0x01),
               COAP_EDECODE_EMPTY_MESSAGE);
  cr_assert_eq(DECODE(0x60, 0x00, 0x00, 0x01, 0x10),
               COAP_EDECODE_EMPTY_MESSAGE);
  cr_assert_eq(DECODE(0x70, 0x00, 0x00, 0x01, 0xff, 'p'),
               COAP_EDECODE_EMPTY_MESSAGE);
  cr_assert_eq(DECODE(0x70, 0x00, 0x12, 0x34), 0);
  cr_assert_eq(msg.mtype, COAP_TYPE_RST);
  cr_assert_eq(msg.mid, 0x1234);
}

COAP_TEST(message_decode, rejects_option_number_above_65535) {
  coap_message_init(&msg);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xe0, 0xff, 0xff),
               COAP_EDECODE_OPTION_NUMBER);
  /* 65535 itself is fine; one more is not. */
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xe0, 0xfe, 0xf2), 0);
  cr_assert_eq(coap_options_at(&msg.opt, 0)->number, 65535);
  cr_assert_eq(DECODE(0x40, 0x01, 0x00, 0x01, 0xe0, 0xfe, 0xf2, 0x10),
               COAP_EDECODE_OPTION_NUMBER);
}

COAP_TEST(message_decode, failure_leaves_message_empty) {
  coap_message_init(&msg);
  cr_assert_eq(coap_message_set_payload_string(&msg, "old"), 0);
  cr_assert_eq(coap_options_add_uint(&msg.opt, COAP_OPT_SIZE1, 1), 0);
  cr_assert_eq(
      DECODE(0x41, 0x01, 0x00, 0x09, 0x07, 0xb1, 'a', 0xc1, 0x00, 0xf0),
      COAP_EDECODE_NIBBLE15);
  cr_assert_eq(msg.mtype, COAP_TYPE_UNSET);
  cr_assert_eq(msg.mid, -1);
  cr_assert_eq(msg.token_len, 0);
  cr_assert_eq(coap_options_count(&msg.opt), 0);
  cr_assert_eq(msg.payload_len, 0);
}

COAP_TEST(message_decode, one_byte_extended_delta_and_length) {
  /* RFC 7252 §3.1: nibble 13 plus a byte of 0 is 13. */
  /* The message borrows from the datagram, so it must outlive the checks. */
  static const uint8_t d[] = {0x40, 0x01, 0x00, 0x01, 0xdd, 0x00, 0x00,
                              'a',  'b',  'c',  'd',  'e',  'f',  'g',
                              'h',  'i',  'j',  'k',  'l',  'm'};
  coap_message_init(&msg);
  cr_assert_eq(coap_message_decode(&msg, d, sizeof d), 0);
  const coap_option *o = coap_options_at(&msg.opt, 0);
  cr_assert_eq(o->number, 13);
  cr_assert_eq(o->len, 13);
  cr_assert_arr_eq(o->value, "abcdefghijklm", 13);
}

COAP_TEST(message_decode, accepts_uint_with_leading_zeros) {
  /* RFC 7252 §3.2 only says a sender SHOULD use the shortest form. */
  static const uint8_t d[] = {0x40, 0x01, 0x00, 0x01, 0xc3, 0, 0, 5};
  coap_message_init(&msg);
  cr_assert_eq(coap_message_decode(&msg, d, sizeof d), 0);
  uint16_t v = 0;
  cr_assert_eq(coap_options_get_content_format(&msg.opt, &v), 0);
  cr_assert_eq(v, 5);
}

COAP_TEST(message_decode, more_than_16_options_use_the_heap) {
  uint8_t wire[128] = {0x40, 0x01, 0x00, 0x01};
  size_t n = 4;
  for (int i = 0; i < 30; i++) {
    wire[n++] = 0x11; /* delta 1, length 1 */
    wire[n++] = (uint8_t)i;
  }
  coap_message_init(&msg);
  cr_assert_eq(coap_message_decode(&msg, wire, n), 0);
  cr_assert_eq(coap_options_count(&msg.opt), 30);
  for (size_t i = 0; i < 30; i++) {
    const coap_option *o = coap_options_at(&msg.opt, i);
    cr_assert_eq(o->number, i + 1);
    cr_assert_eq(o->value, wire + 5 + 2 * i);
  }
  coap_test_fail_after = 0;
  cr_assert_eq(coap_message_decode(&msg, wire, n), COAP_ENOMEM);
  coap_test_fail_after = -1;
  cr_assert_eq(coap_options_count(&msg.opt), 0);
  coap_message_clear(&msg);
}

/* xorshift32: a fixed seed makes every run the same. */
static uint32_t rng_state = 0x9e3779b9u;
static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static void random_message(coap_message *m, uint8_t *scratch) {
  m->mtype = (int)(rng() % 4);
  m->mid = (int32_t)(rng() % 65536);
  m->code = (uint8_t)(rng() % 256);
  if (m->code == COAP_CODE_EMPTY)
    return;
  uint8_t token[8];
  size_t tkl = rng() % 9;
  for (size_t i = 0; i < tkl; i++)
    token[i] = (uint8_t)rng();
  cr_assert_eq(coap_message_set_token(m, token, tkl), 0);
  size_t count = rng() % 24;
  for (size_t i = 0; i < count; i++) {
    uint32_t r = rng();
    uint16_t number = r % 4 == 0 ? (uint16_t)rng() : (uint16_t)(rng() % 300);
    size_t len = r % 16 == 1 ? rng() % 700 : rng() % 20;
    for (size_t j = 0; j < len; j++)
      scratch[j] = (uint8_t)rng();
    cr_assert_eq(coap_options_add(&m->opt, number, scratch, len), 0);
  }
  size_t payload = rng() % 3 == 0 ? 0 : rng() % 300;
  uint8_t *p = coap_message_reserve_payload(m, payload);
  cr_assert_not_null(p);
  for (size_t j = 0; j < payload; j++)
    p[j] = (uint8_t)rng();
}

COAP_TEST(message_codec, random_messages_round_trip) {
  static uint8_t scratch[1024];
  static uint8_t wire[32768], again[32768];
  for (int round = 0; round < 4000; round++) {
    coap_message m, d;
    coap_message_init(&m);
    coap_message_init(&d);
    random_message(&m, scratch);
    int n = coap_message_encode(&m, wire, sizeof wire);
    cr_assert_eq((size_t)n, coap_message_encoded_size(&m));
    cr_assert_eq(coap_message_decode(&d, wire, (size_t)n), 0, "round %d",
                 round);
    expect_same_message(&m, &d);
    /* Our encoding is minimal, so re-encoding gives the same bytes. */
    cr_assert_eq(coap_message_encode(&d, again, sizeof again), n);
    cr_assert_arr_eq(again, wire, (size_t)n);
    coap_message_clear(&d);
    coap_message_clear(&m);
  }
}

COAP_TEST(message_decode, every_truncation_is_handled) {
  coap_message_init(&msg);
  msg.mtype = COAP_TYPE_CON;
  msg.code = COAP_CODE_GET;
  msg.mid = 1000;
  cr_assert_eq(coap_message_set_token(&msg, "abcdefgh", 8), 0);
  uint8_t long_value[300];
  memset(long_value, 'L', sizeof long_value);
  cr_assert_eq(coap_options_add(&msg.opt, COAP_OPT_URI_PATH, long_value, 20),
               0);
  cr_assert_eq(coap_options_add(&msg.opt, 1000, long_value, 300), 0);
  cr_assert_eq(coap_options_add_uint(&msg.opt, 1001, 7), 0);
  cr_assert_eq(coap_message_set_payload_string(&msg, "tail"), 0);
  uint8_t wire[512];
  int n = coap_message_encode(&msg, wire, sizeof wire);
  cr_assert_gt(n, 0);
  coap_message_clear(&msg);
  for (size_t len = 0; len <= (size_t)n; len++) {
    /* An exact-size heap copy lets ASan catch any read past the end. */
    uint8_t *exact = malloc(len > 0 ? len : 1);
    cr_assert_not_null(exact);
    memcpy(exact, wire, len);
    int r = coap_message_decode(&msg, exact, len);
    if (r == 0) {
      cr_assert_leq(coap_message_encoded_size(&msg), len);
    } else {
      cr_assert(r <= COAP_EDECODE_SHORT && r >= COAP_EDECODE_OPTION_NUMBER,
                "length %zu gave %d", len, r);
      cr_assert_eq(coap_options_count(&msg.opt), 0);
    }
    coap_message_clear(&msg);
    free(exact);
  }
}
