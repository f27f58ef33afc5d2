/*
 * bench-hash: nanoseconds per hash of the inputs the library's tables hash
 * (a token, 8 bytes; a remote and a MID, 24 bytes; a remote and a token,
 * 30 bytes) with libsodium's keyed hashes, beside FNV-1a for scale.  A
 * program, not a test: it prints figures.
 */
#include "hash-internal.h"

#include <stdio.h>
#include <uv.h>

#define ROUNDS 20000000u

static volatile uint64_t sink;

static double per_hash_ns(uint64_t (*fn)(const coap__hash_key *, uint8_t *,
                                         size_t),
                          const coap__hash_key *key, size_t len) {
  uint8_t in[32] = {0};
  uint64_t acc = 0;
  uint64_t start = uv_hrtime();
  for (uint32_t i = 0; i < ROUNDS; i++) {
    memcpy(in + len - 4, &i, 4); /* a new input each time, as in a table */
    acc += fn(key, in, len);
  }
  sink = acc;
  return (double)(uv_hrtime() - start) / ROUNDS;
}

static uint64_t siphash24(const coap__hash_key *key, uint8_t *in, size_t len) {
  return coap__siphash(key, in, len);
}

static uint64_t siphashx24(const coap__hash_key *key, uint8_t *in, size_t len) {
  uint8_t out[crypto_shorthash_siphashx24_BYTES];
  crypto_shorthash_siphashx24(out, in, len, key->bytes);
  uint64_t h;
  memcpy(&h, out, sizeof h);
  return h;
}

static uint64_t fnv1a(const coap__hash_key *key, uint8_t *in, size_t len) {
  uint64_t basis;
  memcpy(&basis, key->bytes, sizeof basis);
  return coap__fnv1a(COAP__FNV_OFFSET_BASIS ^ basis, in, len);
}

int main(void) {
  if (sodium_init() < 0)
    return 1;
  coap__hash_key key;
  coap__hash_key_random(&key);
  static const size_t lens[] = {8, 24, 30};
  static const struct {
    const char *name;
    uint64_t (*fn)(const coap__hash_key *, uint8_t *, size_t);
  } fns[] = {{"crypto_shorthash (SipHash-2-4, 64 bit)", siphash24},
             {"crypto_shorthash_siphashx24 (128 bit)", siphashx24},
             {"FNV-1a, key in the basis (unkeyed in effect)", fnv1a}};
  for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
    printf("%-46s", fns[f].name);
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
      printf("  %2zu B: %5.1f ns", lens[l],
             per_hash_ns(fns[f].fn, &key, lens[l]));
    printf("\n");
  }
  return 0;
}
