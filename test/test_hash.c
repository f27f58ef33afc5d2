/*
 * The keyed hash of the tables a peer's input indexes (hash-internal.h):
 * SipHash-2-4 under a secret key, so that every bit of the key matters and
 * inputs that collide under one key do not under another.
 */
#include "test_common.h"

#include "hash-internal.h"
#include "messagemanager-internal.h"

static const uint8_t input[24] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    0,
                                  0,    0,    0,    0,    0, 0, 0,    1,
                                  0x16, 0x33, 0,    0,    0, 0, 0x12, 0x34};

static coap__hash_key counting_key(void) {
  coap__hash_key key;
  for (size_t i = 0; i < sizeof key.bytes; i++)
    key.bytes[i] = (uint8_t)i;
  return key;
}

/* The reference vector of the SipHash paper (Aumasson and Bernstein,
 * appendix A): key 00..0f, message 00..0e. */
COAP_TEST(hash, is_siphash_2_4) {
  coap__hash_key key = counting_key();
  uint8_t msg[15];
  for (size_t i = 0; i < sizeof msg; i++)
    msg[i] = (uint8_t)i;
  cr_assert_eq(coap__siphash(&key, msg, sizeof msg),
               UINT64_C(0xa129ca6149be45e5));
}

COAP_TEST(hash, differs_across_keys) {
  coap__hash_key a, b;
  coap__hash_key_random(&a);
  coap__hash_key_random(&b);
  cr_assert_neq(memcmp(a.bytes, b.bytes, sizeof a.bytes), 0);
  for (size_t len = 0; len <= sizeof input; len++)
    cr_assert_neq(coap__siphash(&a, input, len), coap__siphash(&b, input, len),
                  "length %zu", len);
}

COAP_TEST(hash, every_key_bit_matters) {
  coap__hash_key key = counting_key();
  uint64_t fixed = coap__siphash(&key, input, sizeof input);
  for (size_t i = 0; i < sizeof key.bytes; i++) {
    for (int bit = 0; bit < 8; bit++) {
      coap__hash_key flipped = key;
      flipped.bytes[i] ^= (uint8_t)(1u << bit);
      uint64_t h = coap__siphash(&flipped, input, sizeof input);
      cr_assert_neq(h, fixed, "key byte %zu bit %d", i, bit);
      /* A bucket index takes the low bits: they move too (a 1 in 2^16
       * chance each that they do not, for this fixed key and input). */
      cr_assert_neq(h & 0xffff, fixed & 0xffff, "key byte %zu bit %d", i, bit);
    }
  }
}

COAP_TEST(hash, every_input_byte_matters) {
  coap__hash_key key = counting_key();
  uint64_t fixed = coap__siphash(&key, input, sizeof input);
  for (size_t i = 0; i < sizeof input; i++) {
    uint8_t changed[sizeof input];
    memcpy(changed, input, sizeof input);
    changed[i] ^= 1;
    cr_assert_neq(coap__siphash(&key, changed, sizeof changed), fixed,
                  "input byte %zu", i);
  }
  cr_assert_neq(coap__siphash(&key, input, sizeof input - 1), fixed);
}

static void no_send(void *u, const coap_remote *r, const uint8_t *d, size_t n) {
  (void)u, (void)r, (void)d, (void)n;
}
static void no_request(void *u, coap_message *m, coap__mm_incoming in) {
  (void)u, (void)m, (void)in;
}
static bool no_response(void *u, coap_message *m) {
  (void)u, (void)m;
  return false;
}

/* Each message layer's dedup table has a key of its own, all 128 bits of
 * it drawn from the layer's seed. */
COAP_TEST(hash, dedup_key_differs_across_seeds) {
  static const coap__mm_callbacks cb = {no_send, no_request, no_response, NULL,
                                        NULL};
  coap__mm_config config = {.dedup_entries = 16,
                            .max_outgoing = 16,
                            .empty_ack_delay_ms = 100,
                            .max_datagram_size = 1152};
  coap_transmission_parameters_default(&config.transmission);
  coap__mm *a, *b;
  cr_assert_eq(coap__mm_new(&config, &cb, NULL, 1, &a), 0);
  cr_assert_eq(coap__mm_new(&config, &cb, NULL, 2, &b), 0);
  for (size_t i = 0; i < 16; i += 8) {
    uint64_t ka, kb;
    memcpy(&ka, a->dedup_key.bytes + i, sizeof ka);
    memcpy(&kb, b->dedup_key.bytes + i, sizeof kb);
    cr_assert_neq(ka, kb, "key half %zu", i / 8);
  }
  coap__mm_free(a);
  coap__mm_free(b);
}

static coap_remote churn_remote(uint32_t i) {
  coap_remote r;
  memset(&r, 0, sizeof r);
  r.addr.sin6_family = AF_INET6;
  r.addr.sin6_addr = in6addr_loopback;
  r.addr.sin6_port = htons((uint16_t)(40000 + i % 7));
  return r;
}

/* The dedup index (open addressing, deletion by backward shift) through
 * growth and thousands of evictions: exactly the newest dedup_entries
 * (remote, MID) pairs are found, each as the entry made for it, and once
 * all have expired none is. */
COAP_TEST(hash, dedup_index_finds_exactly_the_live_entries) {
  static const coap__mm_callbacks cb = {no_send, no_request, no_response, NULL,
                                        NULL};
  enum { LIVE = 300, TOTAL = 6000 };
  coap__mm_config config = {.dedup_entries = LIVE,
                            .max_outgoing = 16,
                            .empty_ack_delay_ms = 100,
                            .max_datagram_size = 1152};
  coap_transmission_parameters_default(&config.transmission);
  coap__mm *mm;
  cr_assert_eq(coap__mm_new(&config, &cb, NULL, 7, &mm), 0);
  static coap__mm_dedup *made[TOTAL];
  for (uint32_t i = 0; i < TOTAL; i++) {
    coap_remote r = churn_remote(i);
    uint16_t mid = (uint16_t)(i * 40503u);
    cr_assert_null(coap__mm_dedup_find(mm, &r, mid), "pair %u", i);
    made[i] = coap__mm_dedup_add(mm, &r, mid, COAP__MM_DEDUP_NON_REQUEST, false, i);
    cr_assert_not_null(made[i]);
    if (i % 97 != 0 && i != TOTAL - 1)
      continue;
    for (uint32_t k = 0; k <= i; k++) {
      coap_remote rk = churn_remote(k);
      coap__mm_dedup *found =
          coap__mm_dedup_find(mm, &rk, (uint16_t)(k * 40503u));
      if (k + LIVE > i)
        cr_assert_eq(found, made[k], "pair %u after %u", k, i);
      else
        cr_assert_null(found, "pair %u after %u", k, i);
    }
  }
  coap__mm_dedup_expire(mm, UINT64_MAX);
  for (uint32_t k = TOTAL - LIVE; k < TOTAL; k++) {
    coap_remote rk = churn_remote(k);
    cr_assert_null(coap__mm_dedup_find(mm, &rk, (uint16_t)(k * 40503u)));
  }
  cr_assert_eq(mm->dedup_index_count, 0);
  coap__mm_free(mm);
}
