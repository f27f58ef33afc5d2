/*
 * The options container (aiocoap.options.Options).
 *
 * Entries are a sorted array: inline_entries until more than
 * COAP_OPTIONS_INLINE_COUNT are needed, then a heap array that doubles.
 * Copied values live in inline_bytes (a bump region) and, when that is full,
 * in one heap chunk (another bump region).  Deleting the most recently stored
 * value gives its bytes back; other deleted bytes are reclaimed by compacting
 * inline_bytes, or by repacking the live values into a fresh chunk when the
 * chunk is full, so repeated set calls never grow memory without bound.
 */
#include "alloc-internal.h"

#include <aiocoap/options.h>

#include <limits.h>
#include <string.h>

/* The heap region for copied values that do not fit inline_bytes.  The
 * container has at most one; `chunks` names it. */
struct coap__option_chunk {
  size_t cap;
  size_t used;
  uint8_t data[];
};

/* Smallest chunk worth allocating; a message rarely carries more. */
#define CHUNK_MIN 256u

/* A zero-initialised container (entries NULL) counts as initialised. */
static const coap_option *entries_of(const coap_options *opts) {
  return opts->entries != NULL ? opts->entries : opts->inline_entries;
}

static void ensure_entries(coap_options *opts) {
  if (opts->entries == NULL) {
    opts->entries = opts->inline_entries;
    opts->cap = COAP_OPTIONS_INLINE_COUNT;
  }
}

static bool entries_on_heap(const coap_options *opts) {
  return opts->entries != NULL && opts->entries != opts->inline_entries;
}

static bool in_inline(const coap_options *opts, const uint8_t *p) {
  return (uintptr_t)p - (uintptr_t)opts->inline_bytes <
         COAP_OPTIONS_INLINE_BYTES;
}

/* Where an owned, non-empty value lives. */
static bool stored_inline(const coap_options *opts, const coap_option *e) {
  return e->owned && e->len > 0 && in_inline(opts, e->value);
}

static bool stored_in_chunk(const coap_options *opts, const coap_option *e) {
  return e->owned && e->len > 0 && !in_inline(opts, e->value);
}

/* Index of the first entry with a number >= number (>, when upper). */
static size_t bound(const coap_options *opts, uint16_t number, bool upper) {
  const coap_option *e = entries_of(opts);
  size_t lo = 0;
  size_t hi = opts->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (e[mid].number < number || (upper && e[mid].number == number))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void coap_options_init(coap_options *opts) {
  opts->entries = opts->inline_entries;
  opts->count = 0;
  opts->cap = COAP_OPTIONS_INLINE_COUNT;
  opts->chunks = NULL;
  opts->inline_used = 0;
}

void coap_options_clear(coap_options *opts) {
  if (entries_on_heap(opts))
    coap__free(opts->entries);
  coap__free(opts->chunks);
  coap_options_init(opts);
}

/* Makes room for at least `want` entries. */
static int reserve_entries(coap_options *opts, size_t want) {
  ensure_entries(opts);
  if (want <= opts->cap)
    return 0;
  size_t cap = opts->cap;
  while (cap < want) {
    if (cap > UINT32_MAX / 2 || cap > SIZE_MAX / 2 / sizeof(coap_option))
      return COAP_ENOMEM;
    cap *= 2;
  }
  coap_option *grown;
  if (entries_on_heap(opts)) {
    grown = coap__realloc(opts->entries, cap * sizeof *grown);
    if (grown == NULL)
      return COAP_ENOMEM;
  } else {
    grown = coap__malloc(cap * sizeof *grown);
    if (grown == NULL)
      return COAP_ENOMEM;
    memcpy(grown, opts->inline_entries, opts->count * sizeof *grown);
  }
  opts->entries = grown;
  opts->cap = (uint32_t)cap;
  return 0;
}

/* Moves the live inline values to the front of inline_bytes. */
static void compact_inline(coap_options *opts) {
  uint8_t packed[COAP_OPTIONS_INLINE_BYTES];
  size_t used = 0;
  for (size_t i = 0; i < opts->count; i++) {
    coap_option *e = &opts->entries[i];
    if (!stored_inline(opts, e))
      continue;
    memcpy(packed + used, e->value, e->len);
    e->value = opts->inline_bytes + used;
    used += e->len;
  }
  memcpy(opts->inline_bytes, packed, used);
  opts->inline_used = used;
}

static size_t live_bytes(const coap_options *opts, bool inline_region) {
  size_t live = 0;
  for (size_t i = 0; i < opts->count; i++) {
    const coap_option *e = &opts->entries[i];
    if (inline_region ? stored_inline(opts, e) : stored_in_chunk(opts, e))
      live += e->len;
  }
  return live;
}

/*
 * Replaces the chunk by one holding its live values and `room` more bytes
 * (doubled unless exact, so a run of adds repacks O(log n) times).  The old
 * chunk is handed back in *old, not freed, because the caller may still be
 * copying from it.
 */
static int repack_chunk(coap_options *opts, size_t room, bool exact,
                        struct coap__option_chunk **old) {
  size_t live = live_bytes(opts, false);
  size_t cap = live + room;
  if (!exact)
    cap *= 2;
  if (cap < CHUNK_MIN)
    cap = CHUNK_MIN;
  struct coap__option_chunk *chunk = coap__malloc(sizeof *chunk + cap);
  if (chunk == NULL)
    return COAP_ENOMEM;
  chunk->cap = cap;
  chunk->used = 0;
  for (size_t i = 0; i < opts->count; i++) {
    coap_option *e = &opts->entries[i];
    if (!stored_in_chunk(opts, e))
      continue;
    memcpy(chunk->data + chunk->used, e->value, e->len);
    e->value = chunk->data + chunk->used;
    chunk->used += e->len;
  }
  *old = opts->chunks;
  opts->chunks = chunk;
  return 0;
}

static int reserve_chunk(coap_options *opts, size_t room, bool exact,
                         struct coap__option_chunk **old) {
  const struct coap__option_chunk *c = opts->chunks;
  *old = NULL;
  if (c != NULL && room <= c->cap - c->used)
    return 0;
  return repack_chunk(opts, room, exact, old);
}

/*
 * Copies src[0..len) into owned storage and sets *out to it.  src may point
 * into this container's own storage (adding a copy of an existing option).
 */
static int store_value(coap_options *opts, const uint8_t *src, size_t len,
                       const uint8_t **out) {
  uint8_t saved[COAP_OPTIONS_INLINE_BYTES];
  if (len == 0) {
    /* Non-NULL so callers may pass it to memcmp and friends. */
    *out = opts->inline_bytes;
    return 0;
  }
  if (len <= COAP_OPTIONS_INLINE_BYTES) {
    if (len > COAP_OPTIONS_INLINE_BYTES - opts->inline_used &&
        live_bytes(opts, true) + len <= COAP_OPTIONS_INLINE_BYTES) {
      if (in_inline(opts, src)) {
        memcpy(saved, src, len);
        src = saved;
      }
      compact_inline(opts);
    }
    if (len <= COAP_OPTIONS_INLINE_BYTES - opts->inline_used) {
      uint8_t *dst = opts->inline_bytes + opts->inline_used;
      memcpy(dst, src, len);
      opts->inline_used += len;
      *out = dst;
      return 0;
    }
  }
  struct coap__option_chunk *old;
  int r = reserve_chunk(opts, len, false, &old);
  if (r < 0)
    return r;
  struct coap__option_chunk *chunk = opts->chunks;
  uint8_t *dst = chunk->data + chunk->used;
  memcpy(dst, src, len);
  chunk->used += len;
  coap__free(old);
  *out = dst;
  return 0;
}

/* Gives a deleted value's bytes back when it was the last one stored. */
static void release_value(coap_options *opts, const coap_option *e) {
  if (stored_inline(opts, e)) {
    if (e->value + e->len == opts->inline_bytes + opts->inline_used)
      opts->inline_used -= e->len;
  } else if (stored_in_chunk(opts, e)) {
    struct coap__option_chunk *c = opts->chunks;
    if (e->value + e->len == c->data + c->used)
      c->used -= e->len;
  }
}

static void delete_range(coap_options *opts, size_t lo, size_t hi) {
  if (lo >= hi)
    return;
  for (size_t i = hi; i-- > lo;)
    release_value(opts, &opts->entries[i]);
  memmove(&opts->entries[lo], &opts->entries[hi],
          (opts->count - hi) * sizeof opts->entries[0]);
  opts->count -= (uint32_t)(hi - lo);
  if (opts->count == 0) {
    opts->inline_used = 0;
    if (opts->chunks != NULL)
      opts->chunks->used = 0;
  }
}

static int validate(const void *value, size_t len) {
  if (len > COAP_OPTION_MAX_LENGTH || (value == NULL && len > 0))
    return COAP_EINVAL;
  return 0;
}

static int insert(coap_options *opts, uint16_t number, const void *value,
                  size_t len, bool copy) {
  int r = validate(value, len);
  if (r < 0)
    return r;
  r = reserve_entries(opts, (size_t)opts->count + 1);
  if (r < 0)
    return r;
  const uint8_t *stored = value;
  if (copy) {
    r = store_value(opts, value, len, &stored);
    if (r < 0)
      return r;
  }
  /* Decoding adds in order: append without searching. */
  size_t pos = opts->count;
  if (pos > 0 && opts->entries[pos - 1].number > number)
    pos = bound(opts, number, true);
  if (pos < opts->count)
    memmove(&opts->entries[pos + 1], &opts->entries[pos],
            (opts->count - pos) * sizeof opts->entries[0]);
  opts->entries[pos] = (coap_option){
      .number = number, .owned = copy, .len = (uint32_t)len, .value = stored};
  opts->count++;
  return 0;
}

int coap_options_add(coap_options *opts, uint16_t number, const void *value,
                     size_t len) {
  return insert(opts, number, value, len, true);
}

int coap_options_add_borrowed(coap_options *opts, uint16_t number,
                              const void *value, size_t len) {
  return insert(opts, number, value, len, false);
}

int coap_options_add_uint(coap_options *opts, uint16_t number, uint32_t value) {
  uint8_t buf[4];
  size_t len = coap_option_uint_encode(value, buf);
  return coap_options_add(opts, number, buf, len);
}

int coap_options_add_string(coap_options *opts, uint16_t number,
                            const char *value) {
  if (value == NULL)
    return COAP_EINVAL;
  return coap_options_add(opts, number, value, strlen(value));
}

int coap_options_copy(coap_options *dst, const coap_options *src) {
  if (dst == src)
    return 0;
  coap_options_clear(dst);
  const coap_option *e = entries_of(src);
  size_t total = 0;
  for (size_t i = 0; i < src->count; i++)
    total += e[i].len;
  /* At most two allocations: the entry array and one exact chunk. */
  int r = reserve_entries(dst, src->count);
  if (r == 0 && total > COAP_OPTIONS_INLINE_BYTES) {
    struct coap__option_chunk *old;
    r = reserve_chunk(dst, total, true, &old);
  }
  for (size_t i = 0; r == 0 && i < src->count; i++)
    r = coap_options_add(dst, e[i].number, e[i].value, e[i].len);
  if (r < 0)
    coap_options_clear(dst);
  return r;
}

int coap_options_own(coap_options *opts) {
  size_t borrowed = 0;
  for (size_t i = 0; i < opts->count; i++)
    if (!opts->entries[i].owned)
      borrowed += opts->entries[i].len;
  size_t inline_free = COAP_OPTIONS_INLINE_BYTES - opts->inline_used;
  if (borrowed > inline_free) {
    struct coap__option_chunk *old;
    int r = reserve_chunk(opts, borrowed, true, &old);
    if (r < 0)
      return r;
    coap__free(old);
  }
  for (size_t i = 0; i < opts->count; i++) {
    coap_option *e = &opts->entries[i];
    if (e->owned)
      continue;
    const uint8_t *stored;
    int r = store_value(opts, e->value, e->len, &stored);
    if (r < 0)
      return r;
    e->value = stored;
    e->owned = 1;
  }
  return 0;
}

size_t coap_options_count(const coap_options *opts) {
  return opts->count;
}

const coap_option *coap_options_at(const coap_options *opts, size_t i) {
  return i < opts->count ? &entries_of(opts)[i] : NULL;
}

int coap_options_set(coap_options *opts, uint16_t number, const void *value,
                     size_t len) {
  /* Add first, then drop the older ones: value may point at one of them,
   * and a failed add leaves the container as it was. */
  int r = coap_options_add(opts, number, value, len);
  if (r < 0)
    return r;
  delete_range(opts, bound(opts, number, false), bound(opts, number, true) - 1);
  return 0;
}

int coap_options_set_uint(coap_options *opts, uint16_t number, uint32_t value) {
  uint8_t buf[4];
  size_t len = coap_option_uint_encode(value, buf);
  return coap_options_set(opts, number, buf, len);
}

int coap_options_set_string(coap_options *opts, uint16_t number,
                            const char *value) {
  if (value == NULL)
    return COAP_EINVAL;
  return coap_options_set(opts, number, value, strlen(value));
}

size_t coap_options_delete(coap_options *opts, uint16_t number) {
  size_t lo = bound(opts, number, false);
  size_t hi = bound(opts, number, true);
  delete_range(opts, lo, hi);
  return hi - lo;
}

const coap_option *coap_options_get(const coap_options *opts, uint16_t number) {
  return coap_options_get_nth(opts, number, 0);
}

const coap_option *coap_options_get_nth(const coap_options *opts,
                                        uint16_t number, size_t n) {
  size_t i = bound(opts, number, false);
  if (n >= opts->count - i)
    return NULL;
  const coap_option *e = &entries_of(opts)[i + n];
  return e->number == number ? e : NULL;
}

size_t coap_options_count_of(const coap_options *opts, uint16_t number) {
  return bound(opts, number, true) - bound(opts, number, false);
}

int coap_option_uint_decode(const uint8_t *value, size_t len, uint32_t *out) {
  if (len > 4)
    return COAP_ERANGE;
  uint32_t v = 0;
  for (size_t i = 0; i < len; i++)
    v = v << 8 | value[i];
  *out = v;
  return 0;
}

size_t coap_option_uint_encode(uint32_t value, uint8_t buf[4]) {
  /* RFC 7252 §3.2: no leading zero bytes, so 0 is the empty string. */
  size_t len = 0;
  for (uint32_t v = value; v != 0; v >>= 8)
    len++;
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t)(value >> (8 * (len - 1 - i)));
  return len;
}

int coap_options_get_uint(const coap_options *opts, uint16_t number,
                          uint32_t *out) {
  const coap_option *e = coap_options_get(opts, number);
  if (e == NULL)
    return COAP_ENOENT;
  return coap_option_uint_decode(e->value, e->len, out);
}

int coap_options_get_observe(const coap_options *opts, uint32_t *out) {
  const coap_option *e = coap_options_get(opts, COAP_OPT_OBSERVE);
  if (e == NULL)
    return COAP_ENOENT;
  if (e->len > 3)
    return COAP_ERANGE;
  return coap_option_uint_decode(e->value, e->len, out);
}

/* Adds the segments of text split at sep; an empty text adds none. */
static int add_split(coap_options *opts, uint16_t number, const char *text,
                     char sep) {
  if (*text == '\0')
    return 0;
  const char *start = text;
  for (;;) {
    const char *end = strchr(start, sep);
    size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
    int r = coap_options_add(opts, number, start, len);
    if (r < 0 || end == NULL)
      return r;
    start = end + 1;
  }
}

/*
 * Adds the new segments (from segments, or from text when segments is NULL)
 * after the old ones, then removes the old ones, so a failure leaves the
 * option as it was.
 */
static int replace_segments(coap_options *opts, uint16_t number,
                            const char *const *segments, size_t n,
                            const char *text, char sep) {
  size_t before = coap_options_count_of(opts, number);
  int r = 0;
  if (segments != NULL) {
    for (size_t i = 0; r == 0 && i < n; i++)
      r = coap_options_add_string(opts, number, segments[i]);
  } else {
    r = add_split(opts, number, text, sep);
  }
  size_t lo = bound(opts, number, false);
  if (r < 0)
    delete_range(opts, lo + before, bound(opts, number, true));
  else
    delete_range(opts, lo, lo + before);
  return r;
}

int coap_options_set_segments(coap_options *opts, uint16_t number,
                              const char *const *segments, size_t n) {
  if (n == 0) {
    coap_options_delete(opts, number);
    return 0;
  }
  if (segments == NULL)
    return COAP_EINVAL;
  return replace_segments(opts, number, segments, n, NULL, 0);
}

int coap_options_set_segments_split(coap_options *opts, uint16_t number,
                                    const char *text, char sep) {
  if (text == NULL || sep == '\0')
    return COAP_EINVAL;
  return replace_segments(opts, number, NULL, 0, text, sep);
}

int coap_options_join_segments(const coap_options *opts, uint16_t number,
                               char sep, char *buf, size_t cap) {
  size_t lo = bound(opts, number, false);
  size_t hi = bound(opts, number, true);
  const coap_option *e = entries_of(opts);
  size_t total = 0;
  for (size_t i = lo; i < hi; i++)
    total += e[i].len + (i > lo);
  if (total >= cap || total > INT_MAX)
    return COAP_ENOSPC;
  char *p = buf;
  for (size_t i = lo; i < hi; i++) {
    if (i > lo)
      *p++ = sep;
    if (e[i].len > 0)
      memcpy(p, e[i].value, e[i].len);
    p += e[i].len;
  }
  *p = '\0';
  return (int)total;
}

int coap_options_get_block(const coap_options *opts, uint16_t number,
                           coap_block *out) {
  const coap_option *e = coap_options_get(opts, number);
  if (e == NULL)
    return COAP_ENOENT;
  /* RFC 7959 §2.2: NUM is at most 20 bits, so the value at most 3 bytes. */
  uint32_t v;
  if (e->len > 3 || coap_option_uint_decode(e->value, e->len, &v) < 0)
    return COAP_EINVAL;
  /* RFC 7959 §2.2: SZX 7 is reserved. */
  if ((v & 7) == 7)
    return COAP_EINVAL;
  out->num = v >> 4;
  out->more = (v & 8) != 0;
  out->szx = (uint8_t)(v & 7);
  return 0;
}

int coap_options_set_block(coap_options *opts, uint16_t number,
                           const coap_block *block) {
  if (block->num >= (1u << 20) || block->szx > 6)
    return COAP_EINVAL;
  uint32_t v = block->num << 4 | (uint32_t)block->more << 3 | block->szx;
  return coap_options_set_uint(opts, number, v);
}

int coap_options_get_opaque(const coap_options *opts, uint16_t number,
                            const uint8_t **value, size_t *len) {
  const coap_option *e = coap_options_get(opts, number);
  if (e == NULL)
    return COAP_ENOENT;
  *value = e->value;
  *len = e->len;
  return 0;
}

int coap_options_get_string(const coap_options *opts, uint16_t number,
                            char *buf, size_t cap) {
  const coap_option *e = coap_options_get(opts, number);
  if (e == NULL)
    return COAP_ENOENT;
  if (e->len >= cap)
    return COAP_ENOSPC;
  if (e->len > 0)
    memcpy(buf, e->value, e->len);
  buf[e->len] = '\0';
  return (int)e->len;
}

int coap_options_check(const coap_options *opts, uint16_t *bad_number) {
  const coap_option *e = entries_of(opts);
  for (size_t i = 0; i < opts->count; i++) {
    const coap_option_info *info = coap_option_info_get(e[i].number);
    if (info == NULL)
      continue;
    bool repeated = i > 0 && e[i - 1].number == e[i].number;
    if (e[i].len < info->min_len || e[i].len > info->max_len ||
        (repeated && !info->repeatable)) {
      if (bad_number != NULL)
        *bad_number = e[i].number;
      return COAP_EINVAL;
    }
  }
  return 0;
}

/* RFC 7252 §3.1: 0..12 fit the nibble, 13 adds one byte (value - 13), 14 adds
 * two (value - 269). */
static size_t extended_size(uint32_t v) {
  return v < 13 ? 0 : v < 269 ? 1 : 2;
}

static uint8_t nibble(uint32_t v) {
  return v < 13 ? (uint8_t)v : v < 269 ? 13 : 14;
}

static uint8_t *put_extended(uint8_t *p, uint32_t v) {
  if (v >= 269) {
    *p++ = (uint8_t)((v - 269) >> 8);
    *p++ = (uint8_t)(v - 269);
  } else if (v >= 13) {
    *p++ = (uint8_t)(v - 13);
  }
  return p;
}

size_t coap_options_encoded_size(const coap_options *opts) {
  const coap_option *e = entries_of(opts);
  size_t size = 0;
  uint16_t prev = 0;
  for (size_t i = 0; i < opts->count; i++) {
    size += 1 + extended_size((uint32_t)(e[i].number - prev)) +
            extended_size(e[i].len) + e[i].len;
    prev = e[i].number;
  }
  return size;
}

int coap_options_encode(const coap_options *opts, uint8_t *buf, size_t cap) {
  /* One pass, checking room before each option; the return is an int. */
  if (cap > INT_MAX)
    cap = INT_MAX;
  const coap_option *e = entries_of(opts);
  uint8_t *p = buf;
  size_t left = cap;
  uint16_t prev = 0;
  for (size_t i = 0; i < opts->count; i++) {
    uint32_t delta = (uint32_t)(e[i].number - prev);
    size_t need = 1 + extended_size(delta) + extended_size(e[i].len) + e[i].len;
    if (need > left)
      return COAP_ENOSPC;
    *p++ = (uint8_t)(nibble(delta) << 4 | nibble(e[i].len));
    p = put_extended(p, delta);
    p = put_extended(p, e[i].len);
    if (e[i].len > 0)
      memcpy(p, e[i].value, e[i].len);
    p += e[i].len;
    left -= need;
    prev = e[i].number;
  }
  return (int)(cap - left);
}
