/*
 * libFuzzer target for coap_message_decode: any input must decode or fail
 * without touching memory outside it, and whatever decodes must survive
 * encode -> decode unchanged.
 */
#include <aiocoap/aiocoap.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition) {
  if (!condition)
    abort();
}

static void check_same(const coap_message *a, const coap_message *b) {
  check(a->mtype == b->mtype && a->mid == b->mid && a->code == b->code);
  check(a->token_len == b->token_len &&
        memcmp(a->token, b->token, a->token_len) == 0);
  size_t n = coap_options_count(&a->opt);
  check(coap_options_count(&b->opt) == n);
  for (size_t i = 0; i < n; i++) {
    const coap_option *x = coap_options_at(&a->opt, i);
    const coap_option *y = coap_options_at(&b->opt, i);
    check(x->number == y->number && x->len == y->len);
    check(x->len == 0 || memcmp(x->value, y->value, x->len) == 0);
  }
  check(a->payload_len == b->payload_len);
  check(a->payload_len == 0 ||
        memcmp(a->payload, b->payload, a->payload_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  coap_message first, second;
  coap_message_init(&first);
  coap_message_init(&second);
  if (coap_message_decode(&first, data, size) == 0) {
    size_t need = coap_message_encoded_size(&first);
    uint8_t *wire = malloc(need);
    check(wire != NULL);
    int n = coap_message_encode(&first, wire, need);
    check(n >= 0 && (size_t)n == need);
    check(coap_message_decode(&second, wire, need) == 0);
    check_same(&first, &second);
    /* Stronger than the structures being equal, and true today: RFC 7252
     * §3.1's delta and length forms cover disjoint ranges and values are kept
     * verbatim (uints with leading zeros included), so every accepted
     * datagram has exactly one encoding. */
    check(need == size && memcmp(wire, data, size) == 0);
    /* Owning the options must not change them either. */
    check(coap_message_own(&second) == 0);
    check_same(&first, &second);
    free(wire);
  }
  coap_message_clear(&first);
  coap_message_clear(&second);
  return 0;
}
