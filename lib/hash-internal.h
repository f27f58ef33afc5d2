/*
 * FNV-1a, 64 bit: fast, no tables, well enough mixed for the library's hash
 * tables and for ETags that tell one representation from another.  Tables
 * that a peer can aim at start from a secret key instead of the offset
 * basis.
 */
#ifndef AIOCOAP_HASH_INTERNAL_H
#define AIOCOAP_HASH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

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

#endif
