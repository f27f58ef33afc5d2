#include "alloc-internal.h"
#include "message-internal.h"

#include <string.h>

coap_message *coap__message_ref(coap_message *msg) {
  msg->extra_refs++;
  return msg;
}

static bool points_into(const void *p, const void *base, size_t size) {
  return (uintptr_t)p - (uintptr_t)base < size;
}

static void options_move(coap_options *dst, coap_options *src) {
  memcpy(dst, src, sizeof *dst);
  bool inline_entries =
      src->entries == NULL || src->entries == src->inline_entries;
  if (inline_entries)
    dst->entries = dst->inline_entries;
  /* Values copied into the inline byte area move with the struct. */
  for (uint32_t i = 0; i < dst->count; i++) {
    coap_option *e = &dst->entries[i];
    if (e->owned && e->len > 0 &&
        points_into(e->value, src->inline_bytes, COAP_OPTIONS_INLINE_BYTES))
      e->value = dst->inline_bytes + (e->value - src->inline_bytes);
  }
  coap_options_init(src);
}

void coap__message_move(coap_message *dst, coap_message *src) {
  coap_message_clear(dst);
  coap_options opt;
  options_move(&opt, &src->opt);
  memcpy(dst, src, sizeof *dst);
  options_move(&dst->opt, &opt);
  dst->extra_refs = 0;
  /* src gave everything away: forget it without freeing, then start over. */
  src->payload_buf = NULL;
  src->payload_cap = 0;
  src->unresolved_remote = NULL;
  src->request_uri = NULL;
  coap_message_init(src);
}

void coap__message_reset(coap_message *msg) {
  uint8_t *buf = msg->payload_buf;
  size_t cap = msg->payload_cap;
  msg->payload_buf = NULL;
  msg->payload_cap = 0;
  coap_message_clear(msg);
  msg->payload_buf = buf;
  msg->payload_cap = cap;
}
