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

/*
 * Removes the first k Uri-Path options, keeping the rest in order.  The
 * remaining values may point into the container's own storage, which
 * deleting releases, so they are copied out first and added back as copies
 * (short paths fit the container's inline bytes and allocate nothing).
 */
int coap__message_strip_uri_path(coap_message *msg, size_t k) {
  coap_options *opt = &msg->opt;
  size_t total = coap_options_count_of(opt, COAP_OPT_URI_PATH);
  if (k == 0 || total < k)
    return 0;
  size_t remaining = total - k;
  size_t bytes = 0;
  for (size_t i = 0; i < remaining; i++)
    bytes += coap_options_get_nth(opt, COAP_OPT_URI_PATH, k + i)->len;
  /* The lengths, then the bytes, in one buffer. */
  uint32_t stack[128];
  size_t need = remaining * sizeof stack[0] + bytes;
  uint32_t *lens = stack;
  if (need > sizeof stack) {
    lens = coap__malloc(need);
    if (lens == NULL)
      return COAP_ENOMEM;
  }
  uint8_t *saved = (uint8_t *)(lens + remaining);
  size_t used = 0;
  for (size_t i = 0; i < remaining; i++) {
    const coap_option *o = coap_options_get_nth(opt, COAP_OPT_URI_PATH, k + i);
    lens[i] = o->len;
    if (o->len > 0)
      memcpy(saved + used, o->value, o->len);
    used += o->len;
  }
  coap_options_delete(opt, COAP_OPT_URI_PATH);
  int r = 0;
  used = 0;
  for (size_t i = 0; r == 0 && i < remaining; i++) {
    r = coap_options_add(opt, COAP_OPT_URI_PATH, saved + used, lens[i]);
    used += lens[i];
  }
  if (lens != stack)
    coap__free(lens);
  return r;
}
