/*
 * CBOR for aiocoap-client: libcbor decodes, and the printer below writes
 * diagnostic notation (RFC 8949 §8, with §8.1's "_" for indefinite
 * lengths), indented like JSON; jansson reads JSON text, the subset of
 * diagnostic notation that --payload accepts, which is then encoded with
 * libcbor.
 */
#include "client.h"

#include <cbor.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const bool client_cbor_available = true;

/* Nesting deeper than this is shown as "..." (the printer recurses). */
#define DIAG_MAX_DEPTH 128

typedef struct strbuf {
  char *data;
  size_t len, cap;
  bool failed;
} strbuf;

static void reserve(strbuf *b, size_t more) {
  if (b->failed || b->len + more + 1 <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1)
    cap *= 2;
  char *grown = realloc(b->data, cap);
  if (grown == NULL) {
    b->failed = true;
    return;
  }
  b->data = grown;
  b->cap = cap;
}

static void put_bytes(strbuf *b, const char *s, size_t n) {
  reserve(b, n);
  if (b->failed)
    return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void put(strbuf *b, const char *s) {
  put_bytes(b, s, strlen(s));
}

#if defined(__GNUC__) || defined(__clang__)
static void putf(strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#endif

static void putf(strbuf *b, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0)
    put_bytes(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void indent(strbuf *b, int depth) {
  for (int i = 0; i < depth; i++)
    put(b, "  ");
}

static void put_hex(strbuf *b, const unsigned char *data, size_t len) {
  put(b, "h'");
  for (size_t i = 0; i < len; i++)
    putf(b, "%02x", data[i]);
  put(b, "'");
}

/* A text string as JSON writes it (RFC 8949 §8: diagnostic notation's
 * strings are JSON's). */
static void put_text(strbuf *b, const unsigned char *s, size_t len) {
  put(b, "\"");
  for (size_t i = 0; i < len; i++) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      put_bytes(b, esc, 2);
    } else if (c == '\n') {
      put(b, "\\n");
    } else if (c == '\t') {
      put(b, "\\t");
    } else if (c == '\r') {
      put(b, "\\r");
    } else if (c < 0x20 || c == 0x7f) {
      putf(b, "\\u%04x", c);
    } else {
      put_bytes(b, (const char *)&c, 1);
    }
  }
  put(b, "\"");
}

/* The shortest decimal that reads back as the same double, with a point
 * or exponent so that it reads as a float (RFC 8949 §8). */
static void put_float(strbuf *b, double v) {
  if (isnan(v)) {
    put(b, "NaN");
    return;
  }
  if (isinf(v)) {
    put(b, v > 0 ? "Infinity" : "-Infinity");
    return;
  }
  char tmp[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (strtod(tmp, NULL) == v)
      break;
  }
  put(b, tmp);
  if (strpbrk(tmp, ".e") == NULL)
    put(b, ".0");
}

static void put_item(strbuf *b, const cbor_item_t *item, int depth);

static void put_container_end(strbuf *b, size_t n, int depth, const char *end) {
  if (n > 0) {
    put(b, "\n");
    indent(b, depth);
  }
  put(b, end);
}

static void put_array(strbuf *b, const cbor_item_t *item, int depth) {
  size_t n = cbor_array_size(item);
  put(b, cbor_array_is_indefinite(item) ? "[_ " : "[");
  cbor_item_t **items = cbor_array_handle(item);
  for (size_t i = 0; i < n; i++) {
    put(b, i ? ",\n" : "\n");
    indent(b, depth + 1);
    put_item(b, items[i], depth + 1);
  }
  put_container_end(b, n, depth, "]");
}

static void put_map(strbuf *b, const cbor_item_t *item, int depth) {
  size_t n = cbor_map_size(item);
  put(b, cbor_map_is_indefinite(item) ? "{_ " : "{");
  struct cbor_pair *pairs = cbor_map_handle(item);
  for (size_t i = 0; i < n; i++) {
    put(b, i ? ",\n" : "\n");
    indent(b, depth + 1);
    put_item(b, pairs[i].key, depth + 1);
    put(b, ": ");
    put_item(b, pairs[i].value, depth + 1);
  }
  put_container_end(b, n, depth, "}");
}

/* Indefinite-length strings: (_ chunk, chunk) (RFC 8949 §8.1). */
static void put_chunks(strbuf *b, cbor_item_t **chunks, size_t n, bool text) {
  put(b, "(_ ");
  for (size_t i = 0; i < n; i++) {
    if (i)
      put(b, ", ");
    if (text)
      put_text(b, cbor_string_handle(chunks[i]), cbor_string_length(chunks[i]));
    else
      put_hex(b, cbor_bytestring_handle(chunks[i]),
              cbor_bytestring_length(chunks[i]));
  }
  put(b, ")");
}

static void put_simple(strbuf *b, const cbor_item_t *item) {
  if (cbor_float_get_width(item) != CBOR_FLOAT_0) {
    put_float(b, cbor_float_get_float(item));
    return;
  }
  uint8_t v = cbor_ctrl_value(item);
  switch (v) {
  case 20:
    put(b, "false");
    break;
  case 21:
    put(b, "true");
    break;
  case 22:
    put(b, "null");
    break;
  case 23:
    put(b, "undefined");
    break;
  default:
    putf(b, "simple(%u)", v);
  }
}

static void put_item(strbuf *b, const cbor_item_t *item, int depth) {
  if (depth > DIAG_MAX_DEPTH) {
    put(b, "...");
    return;
  }
  switch (cbor_typeof(item)) {
  case CBOR_TYPE_UINT:
    putf(b, "%llu", (unsigned long long)cbor_get_int(item));
    break;
  case CBOR_TYPE_NEGINT: {
    /* -1 - n; for n = 2**64 - 1 that is -2**64, beyond any C integer. */
    uint64_t n = cbor_get_int(item);
    if (n == UINT64_MAX)
      put(b, "-18446744073709551616");
    else
      putf(b, "-%llu", (unsigned long long)n + 1);
    break;
  }
  case CBOR_TYPE_BYTESTRING:
    if (cbor_bytestring_is_indefinite(item))
      put_chunks(b, cbor_bytestring_chunks_handle(item),
                 cbor_bytestring_chunk_count(item), false);
    else
      put_hex(b, cbor_bytestring_handle(item), cbor_bytestring_length(item));
    break;
  case CBOR_TYPE_STRING:
    if (cbor_string_is_indefinite(item))
      put_chunks(b, cbor_string_chunks_handle(item),
                 cbor_string_chunk_count(item), true);
    else
      put_text(b, cbor_string_handle(item), cbor_string_length(item));
    break;
  case CBOR_TYPE_ARRAY:
    put_array(b, item, depth);
    break;
  case CBOR_TYPE_MAP:
    put_map(b, item, depth);
    break;
  case CBOR_TYPE_TAG: {
    putf(b, "%llu(", (unsigned long long)cbor_tag_value(item));
    cbor_item_t *inner = cbor_tag_item(item);
    put_item(b, inner, depth);
    cbor_decref(&inner);
    put(b, ")");
    break;
  }
  case CBOR_TYPE_FLOAT_CTRL:
    put_simple(b, item);
    break;
  }
}

/* Walks the item's headers without recursion (RFC 8949 §3) and says
 * whether it is one well-formed item nested at most DIAG_MAX_DEPTH deep
 * whose declared counts could be there: libcbor decodes and frees nested
 * items recursively and allocates a definite array's slots up front, so a
 * body of a few MiB of 0x81 or one 0x9b header would otherwise take the
 * stack or the memory. */
static bool shape_ok(const uint8_t *p, size_t len) {
  struct {
    uint64_t remaining;
    bool indefinite;
  } stack[DIAG_MAX_DEPTH];
  size_t depth = 0, pos = 0;
  bool one = false;
  while (pos < len) {
    if (one && depth == 0)
      return false; /* bytes after the item */
    uint8_t ib = p[pos++];
    uint8_t major = ib >> 5, ai = ib & 31;
    bool leaf = true;
    if (ib == 0xff) {
      if (depth == 0 || !stack[depth - 1].indefinite)
        return false;
      depth--;
    } else {
      uint64_t val = ai;
      if (ai >= 24 && ai <= 27) {
        size_t n = (size_t)1 << (ai - 24);
        if (n > len - pos)
          return false;
        val = 0;
        for (size_t i = 0; i < n; i++)
          val = val << 8 | p[pos++];
      } else if (ai >= 28 && ai <= 30) {
        return false;
      }
      const bool indefinite = ai == 31;
      if (indefinite && (major < 2 || major == 6 || major == 7))
        return false;
      if ((major == 2 || major == 3) && !indefinite) {
        if (val > len - pos)
          return false;
        pos += (size_t)val;
      } else if (major >= 2 && major <= 6 && (indefinite || major >= 4)) {
        uint64_t count = major == 5 ? val * 2 : major == 6 ? 1 : val;
        if (!indefinite &&
            (count > len - pos || (major == 5 && val > UINT64_MAX / 2)))
          return false; /* each item takes a byte at least */
        if (indefinite || count > 0) {
          if (depth == DIAG_MAX_DEPTH)
            return false;
          stack[depth].remaining = count;
          stack[depth].indefinite = indefinite;
          depth++;
          leaf = false;
        }
      }
    }
    if (!leaf)
      continue;
    /* An item is complete: it counts for its container, which may be
     * complete in turn. */
    while (depth > 0 && !stack[depth - 1].indefinite &&
           --stack[depth - 1].remaining == 0)
      depth--;
    if (depth == 0)
      one = true;
  }
  return one && depth == 0;
}

char *client_cbor_diagnostic(const uint8_t *data, size_t len) {
  if (!shape_ok(data, len))
    return NULL;
  struct cbor_load_result result;
  cbor_item_t *item = cbor_load(data, len, &result);
  if (item == NULL)
    return NULL;
  if (result.read != len) { /* trailing bytes: not one CBOR item */
    cbor_decref(&item);
    return NULL;
  }
  strbuf b = {0};
  put_item(&b, item, 0);
  cbor_decref(&item);
  if (b.failed) {
    free(b.data);
    return NULL;
  }
  return b.data;
}

/* RFC 8949 §4.2.1: an integer in its shortest form (libcbor builds the
 * width it is asked for). */
static cbor_item_t *build_int(uint64_t n, bool negative) {
  cbor_item_t *item;
  if (n <= UINT8_MAX)
    item = cbor_build_uint8((uint8_t)n);
  else if (n <= UINT16_MAX)
    item = cbor_build_uint16((uint16_t)n);
  else if (n <= UINT32_MAX)
    item = cbor_build_uint32((uint32_t)n);
  else
    item = cbor_build_uint64(n);
  if (item != NULL && negative)
    cbor_mark_negint(item);
  return item;
}

/* JSON value → CBOR item (RFC 8949 §6.2's JSON-to-CBOR direction). */
static cbor_item_t *from_json(const json_t *v, int depth) {
  if (depth > DIAG_MAX_DEPTH)
    return NULL;
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    cbor_item_t *map = cbor_new_definite_map(json_object_size(v));
    const char *key;
    json_t *value;
    if (map == NULL)
      return NULL;
    json_object_foreach((json_t *)v, key, value) {
      cbor_item_t *k = cbor_build_string(key);
      cbor_item_t *val = from_json(value, depth + 1);
      bool ok = k != NULL && val != NULL &&
                cbor_map_add(map, (struct cbor_pair){.key = k, .value = val});
      if (k != NULL)
        cbor_decref(&k);
      if (val != NULL)
        cbor_decref(&val);
      if (!ok) {
        cbor_decref(&map);
        return NULL;
      }
    }
    return map;
  }
  case JSON_ARRAY: {
    cbor_item_t *array = cbor_new_definite_array(json_array_size(v));
    if (array == NULL)
      return NULL;
    for (size_t i = 0; i < json_array_size(v); i++) {
      cbor_item_t *e = from_json(json_array_get(v, i), depth + 1);
      bool ok = e != NULL && cbor_array_push(array, e);
      if (e != NULL)
        cbor_decref(&e);
      if (!ok) {
        cbor_decref(&array);
        return NULL;
      }
    }
    return array;
  }
  case JSON_STRING:
    return cbor_build_stringn(json_string_value(v), json_string_length(v));
  case JSON_INTEGER: {
    json_int_t n = json_integer_value(v);
    return n >= 0 ? build_int((uint64_t)n, false)
                  : build_int((uint64_t)(-(n + 1)), true);
  }
  case JSON_REAL: {
    /* RFC 8949 §4.2.2's preference for the shorter float where it is
     * exact (half precision is left out). */
    double d = json_real_value(v);
    if ((double)(float)d == d)
      return cbor_build_float4((float)d);
    return cbor_build_float8(d);
  }
  case JSON_TRUE:
    return cbor_build_bool(true);
  case JSON_FALSE:
    return cbor_build_bool(false);
  case JSON_NULL:
    return cbor_new_null();
  }
  return NULL;
}

int client_cbor_from_json(const char *text, uint8_t **out, size_t *len,
                          char *err, size_t cap) {
  json_error_t error;
  json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
  if (value == NULL) {
    snprintf(err, cap, "%s at character %d", error.text, error.position);
    return -1;
  }
  cbor_item_t *item = from_json(value, 0);
  json_decref(value);
  if (item == NULL) {
    snprintf(err, cap, "cannot encode it (nested too deep, or no memory)");
    return -1;
  }
  unsigned char *buf = NULL;
  size_t buf_size;
  *len = cbor_serialize_alloc(item, &buf, &buf_size);
  cbor_decref(&item);
  if (*len == 0) {
    free(buf);
    snprintf(err, cap, "out of memory");
    return -1;
  }
  *out = buf;
  return 0;
}
