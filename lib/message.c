/*
 * The CoAP message (aiocoap.message.Message): fields, payload storage, wire
 * encoding and decoding (RFC 7252 §3), copy and cache key.  Request URIs live
 * in message_uri.c, the one-line description in message_describe.c.
 */
#include "alloc-internal.h"

#include <aiocoap/message.h>

#include <limits.h>
#include <stddef.h>
#include <string.h>

/* coap_message_init zeroes the fields around opt and remote by range; a field
 * added between them must be added there too. */
_Static_assert(offsetof(coap_message, remote) ==
                   offsetof(coap_message, opt) + sizeof(coap_options),
               "a field between opt and remote");
_Static_assert(offsetof(coap_message, payload) ==
                   offsetof(coap_message, remote) + sizeof(coap_remote),
               "a field between remote and payload");

void coap_message_init(coap_message *msg) {
  /* Zero everything but the options, whose inline storage is most of the
   * struct and needs no zeroing: decode runs this per datagram. */
  memset(msg, 0, offsetof(coap_message, opt));
  coap_options_init(&msg->opt);
  /* Two small memsets compile to a few vector stores; one spanning both
   * becomes a slower `rep stos`. */
  memset(&msg->remote, 0, sizeof msg->remote);
  const size_t tail = offsetof(coap_message, payload);
  memset((char *)msg + tail, 0, sizeof *msg - tail);
  msg->mtype = COAP_TYPE_UNSET;
  msg->mid = -1;
}

void coap_message_clear(coap_message *msg) {
  coap__free(msg->payload_buf);
  coap__free(msg->unresolved_remote);
  coap__free(msg->request_uri);
  coap_options_clear(&msg->opt);
  coap_message_init(msg);
}

int coap_message_new(coap_message **out) {
  coap_message *msg = coap__malloc(sizeof *msg);
  if (msg == NULL)
    return COAP_ENOMEM;
  coap_message_init(msg);
  *out = msg;
  return 0;
}

void coap_message_free(coap_message *msg) {
  if (msg == NULL)
    return;
  /* A response shared by a request's futures has one owner per future. */
  if (msg->extra_refs > 0) {
    msg->extra_refs--;
    return;
  }
  coap_message_clear(msg);
  coap__free(msg);
}

void coap_message_free_result(void *message) {
  coap_message_free(message);
}

int coap_message_set_token(coap_message *msg, const void *token, size_t len) {
  if (len > COAP_TOKEN_MAX_LENGTH || (token == NULL && len > 0))
    return COAP_EINVAL;
  if (len > 0)
    memmove(msg->token, token, len);
  msg->token_len = (uint8_t)len;
  return 0;
}

/* Makes payload_buf hold at least len bytes; its old content is lost only
 * when it has to grow. */
static int reserve_buf(coap_message *msg, size_t len) {
  if (msg->payload_buf != NULL && len <= msg->payload_cap)
    return 0;
  uint8_t *buf = coap__malloc(len);
  if (buf == NULL)
    return COAP_ENOMEM;
  coap__free(msg->payload_buf);
  msg->payload_buf = buf;
  msg->payload_cap = len;
  return 0;
}

int coap_message_set_payload(coap_message *msg, const void *data, size_t len) {
  if (data == NULL && len > 0)
    return COAP_EINVAL;
  if (len == 0) {
    msg->payload = msg->payload_buf;
    msg->payload_len = 0;
    return 0;
  }
  if (msg->payload_buf != NULL && len <= msg->payload_cap) {
    /* data may be a slice of the buffer itself. */
    memmove(msg->payload_buf, data, len);
  } else {
    uint8_t *buf = coap__malloc(len);
    if (buf == NULL)
      return COAP_ENOMEM;
    memcpy(buf, data, len);
    coap__free(msg->payload_buf);
    msg->payload_buf = buf;
    msg->payload_cap = len;
  }
  msg->payload = msg->payload_buf;
  msg->payload_len = len;
  return 0;
}

void coap_message_set_payload_borrowed(coap_message *msg, const void *data,
                                       size_t len) {
  msg->payload = data;
  msg->payload_len = len;
}

int coap_message_set_payload_string(coap_message *msg, const char *text) {
  if (text == NULL)
    return COAP_EINVAL;
  return coap_message_set_payload(msg, text, strlen(text));
}

uint8_t *coap_message_reserve_payload(coap_message *msg, size_t len) {
  if (reserve_buf(msg, len) < 0)
    return NULL;
  msg->payload = msg->payload_buf;
  msg->payload_len = len;
  return msg->payload_buf;
}

size_t coap_message_encoded_size(const coap_message *msg) {
  size_t size = COAP_HEADER_LENGTH + msg->token_len +
                coap_options_encoded_size(&msg->opt);
  /* RFC 7252 §3: the payload marker only precedes a non-empty payload. */
  if (msg->payload_len > 0)
    size += 1 + msg->payload_len;
  return size;
}

int coap_message_encode(const coap_message *msg, uint8_t *buf, size_t cap) {
  if (msg->mtype < COAP_TYPE_CON || msg->mtype > COAP_TYPE_RST ||
      msg->mid < 0 || msg->mid > 0xffff ||
      msg->token_len > COAP_TOKEN_MAX_LENGTH ||
      (msg->payload == NULL && msg->payload_len > 0))
    return COAP_EINVAL;
  /* RFC 7252 §4.1: an Empty message is the 4-byte header only. */
  if (msg->code == COAP_CODE_EMPTY &&
      (msg->token_len > 0 || coap_options_count(&msg->opt) > 0 ||
       msg->payload_len > 0))
    return COAP_EINVAL;
  /* One pass: each part checks the room left before writing. */
  if (cap > INT_MAX)
    cap = INT_MAX;
  if (cap < COAP_HEADER_LENGTH + (size_t)msg->token_len)
    return COAP_ENOSPC;
  uint8_t *p = buf;
  const uint8_t *end = buf + cap;
  /* RFC 7252 §3: Ver (1) | T | TKL, Code, Message ID in network order. */
  *p++ = (uint8_t)(1 << 6 | msg->mtype << 4 | msg->token_len);
  *p++ = msg->code;
  *p++ = (uint8_t)(msg->mid >> 8);
  *p++ = (uint8_t)msg->mid;
  if (msg->token_len > 0)
    memcpy(p, msg->token, msg->token_len);
  p += msg->token_len;
  int r = coap_options_encode(&msg->opt, p, (size_t)(end - p));
  if (r < 0)
    return r;
  p += r;
  if (msg->payload_len > 0) {
    if (msg->payload_len >= (size_t)(end - p))
      return COAP_ENOSPC;
    *p++ = 0xff;
    memcpy(p, msg->payload, msg->payload_len);
    p += msg->payload_len;
  }
  return (int)(p - buf);
}

/* A bounds-checked read position in a datagram (STYLE.md: wire parsing). */
typedef struct cursor {
  const uint8_t *p;
  const uint8_t *end;
} cursor;

static size_t cursor_left(const cursor *c) {
  return (size_t)(c->end - c->p);
}

static int cursor_take(cursor *c, size_t len, const uint8_t **out) {
  if (len > cursor_left(c))
    return COAP_EDECODE_TRUNCATED;
  *out = c->p;
  c->p += len;
  return 0;
}

/* RFC 7252 §3.1: a delta or length nibble, with its extended bytes. */
static int read_extended(cursor *c, uint8_t nibble, uint32_t *out) {
  const uint8_t *ext;
  int r;
  switch (nibble) {
  case 13:
    r = cursor_take(c, 1, &ext);
    if (r < 0)
      return r;
    *out = 13u + ext[0];
    return 0;
  case 14:
    r = cursor_take(c, 2, &ext);
    if (r < 0)
      return r;
    *out = 269u + ((uint32_t)ext[0] << 8 | ext[1]);
    return 0;
  default:
    *out = nibble;
    return 0;
  }
}

/* Parses options and payload; everything borrows from the datagram. */
static int decode_body(coap_message *msg, cursor *c) {
  uint32_t number = 0;
  while (cursor_left(c) > 0) {
    uint8_t head = *c->p++;
    if (head == 0xff) {
      /* RFC 7252 §3: a marker followed by a zero-length payload MUST be
       * processed as a message format error. */
      if (cursor_left(c) == 0)
        return COAP_EDECODE_EMPTY_PAYLOAD;
      msg->payload = c->p;
      msg->payload_len = cursor_left(c);
      c->p = c->end;
      return 0;
    }
    uint8_t delta_nibble = head >> 4;
    uint8_t len_nibble = head & 0x0f;
    /* RFC 7252 §3.1: 15 is reserved outside the payload marker. */
    if (delta_nibble == 15 || len_nibble == 15)
      return COAP_EDECODE_NIBBLE15;
    uint32_t delta, len;
    int r = read_extended(c, delta_nibble, &delta);
    if (r < 0)
      return r;
    if (delta > 0xffffu - number)
      return COAP_EDECODE_OPTION_NUMBER;
    number += delta;
    r = read_extended(c, len_nibble, &len);
    if (r < 0)
      return r;
    const uint8_t *value;
    r = cursor_take(c, len, &value);
    if (r < 0)
      return r;
    r = coap_options_add_borrowed(&msg->opt, (uint16_t)number, value, len);
    if (r < 0)
      return r;
  }
  return 0;
}

static int decode(coap_message *msg, const uint8_t *data, size_t len) {
  if (len < COAP_HEADER_LENGTH)
    return COAP_EDECODE_SHORT;
  cursor c = {data, data + len};
  const uint8_t *header;
  (void)cursor_take(&c, COAP_HEADER_LENGTH, &header);
  if (header[0] >> 6 != 1)
    return COAP_EDECODE_VERSION;
  uint8_t tkl = header[0] & 0x0f;
  /* RFC 7252 §3: lengths 9-15 are reserved. */
  if (tkl > COAP_TOKEN_MAX_LENGTH)
    return COAP_EDECODE_TOKEN_LENGTH;
  /* RFC 7252 §4.1: bytes after the Message ID of an Empty message are a
   * format error, token included. */
  if (header[1] == COAP_CODE_EMPTY && (tkl > 0 || cursor_left(&c) > 0))
    return COAP_EDECODE_EMPTY_MESSAGE;
  const uint8_t *token;
  int r = cursor_take(&c, tkl, &token);
  if (r < 0)
    return r;
  msg->mtype = (header[0] >> 4) & 3;
  msg->code = header[1];
  msg->mid = (int32_t)((uint32_t)header[2] << 8 | header[3]);
  msg->token_len = tkl;
  if (tkl > 0)
    memcpy(msg->token, token, tkl);
  return decode_body(msg, &c);
}

int coap_message_decode(coap_message *msg, const uint8_t *data, size_t len) {
  coap_message_clear(msg);
  int r = decode(msg, data, len);
  if (r < 0)
    coap_message_clear(msg);
  return r;
}

int coap_message_own(coap_message *msg) {
  if (msg->payload_len > 0 && msg->payload != msg->payload_buf) {
    int r = coap_message_set_payload(msg, msg->payload, msg->payload_len);
    if (r < 0)
      return r;
  }
  return coap_options_own(&msg->opt);
}

static int copy_string(char **dst, const char *src) {
  if (src == NULL)
    return 0;
  *dst = coap__strdup(src);
  return *dst != NULL ? 0 : COAP_ENOMEM;
}

int coap_message_copy(coap_message *dst, const coap_message *src) {
  if (dst == src)
    return 0;
  coap_message_clear(dst);
  dst->mtype = src->mtype;
  dst->mid = src->mid;
  dst->code = src->code;
  dst->token_len = src->token_len;
  memcpy(dst->token, src->token, sizeof dst->token);
  dst->remote = src->remote;
  int r = coap_options_copy(&dst->opt, &src->opt);
  if (r == 0 && src->payload_len > 0)
    r = coap_message_set_payload(dst, src->payload, src->payload_len);
  if (r == 0)
    r = copy_string(&dst->unresolved_remote, src->unresolved_remote);
  if (r == 0)
    r = copy_string(&dst->request_uri, src->request_uri);
  if (r < 0)
    coap_message_clear(dst);
  return r;
}

static uint8_t *put_be(uint8_t *p, uint32_t v, size_t n) {
  for (size_t i = n; i-- > 0;)
    *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static bool ignored(uint16_t number, const uint16_t *ignore, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ignore[i] == number)
      return true;
  return false;
}

int coap_message_get_cache_key(const coap_message *msg, const uint16_t *ignore,
                               size_t n_ignore, uint8_t *buf, size_t cap) {
  /* Code, then each cache-key option as number (2 bytes), length (4 bytes)
   * and value: fixed-width fields keep the encoding unambiguous. */
  size_t n = coap_options_count(&msg->opt);
  size_t size = 1;
  for (size_t i = 0; i < n; i++) {
    const coap_option *o = coap_options_at(&msg->opt, i);
    if (coap_option_is_cache_key(o->number) &&
        !ignored(o->number, ignore, n_ignore))
      size += 6 + o->len;
  }
  if (size > cap || size > INT_MAX)
    return COAP_ENOSPC;
  uint8_t *p = buf;
  *p++ = msg->code;
  for (size_t i = 0; i < n; i++) {
    const coap_option *o = coap_options_at(&msg->opt, i);
    if (!coap_option_is_cache_key(o->number) ||
        ignored(o->number, ignore, n_ignore))
      continue;
    p = put_be(p, o->number, 2);
    p = put_be(p, o->len, 4);
    if (o->len > 0)
      memcpy(p, o->value, o->len);
    p += o->len;
  }
  return (int)size;
}
