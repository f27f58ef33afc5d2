/*
 * The library's hashes.
 *
 * FNV-1a, 64 bit: fast, no tables, well enough mixed for ETags that tell one
 * representation from another and for tables whose keys we choose.
 *
 * SipHash-2-4 (libsodium's crypto_shorthash) with a secret 128-bit key, for
 * every table keyed by what a peer chooses (its address, port, MIDs,
 * tokens): a keyed pseudo-random function, so that without the key a peer
 * cannot pick inputs that share a bucket (hash flooding), and every bit of
 * the key reaches every bit of the result.  FNV-1a with a secret XORed into
 * its basis is no such thing: multiplication only carries upwards, so the
 * low bits a bucket index uses depend on the low bits of the key alone.
 */
#ifndef AIOCOAP_HASH_INTERNAL_H
#define AIOCOAP_HASH_INTERNAL_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define COAP__FNV_OFFSET_BASIS UINT64_C(0xcbf29ce484222325)
#define COAP__FNV_PRIME UINT64_C(0x100000001b3)

/* Continues hash over len bytes of data. */
static inline uint64_t coap__fnv1a(uint64_t hash, const void *data,
                                   size_t len) {
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++) {
    hash ^= p[i];
    hash *= COAP__FNV_PRIME;
  }
  return hash;
}

/* A SipHash key: each table has its own. */
typedef struct coap__hash_key {
  uint8_t bytes[crypto_shorthash_KEYBYTES];
} coap__hash_key;

/* A fresh key from the system's CSPRNG (getrandom(2) behind libsodium's
 * randombytes_buf; context creation has called sodium_init). */
static inline void coap__hash_key_random(coap__hash_key *key) {
  randombytes_buf(key->bytes, sizeof key->bytes);
}

/* SipHash-2-4 of len bytes of data under key.  crypto_shorthash is the
 * fastest of libsodium's keyed hashes for inputs of a few dozen bytes
 * (cli/bench-hash); its 64-bit result is what the tables keep anyway. */
static inline uint64_t coap__siphash(const coap__hash_key *key,
                                     const void *data, size_t len) {
  uint8_t out[crypto_shorthash_BYTES];
  crypto_shorthash(out, data, len, key->bytes);
  uint64_t hash;
  memcpy(&hash, out, sizeof hash);
  return hash;
}

#endif
