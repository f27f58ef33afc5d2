/*
 * aiocoap-c — the options container (aiocoap.options.Options) and its typed
 * views.
 *
 * Options are kept in option-number order; options with the same number keep
 * the order they were added in.  A value is either copied into storage the
 * container owns (coap_options_add*) or borrowed from memory the caller keeps
 * alive (coap_options_add_borrowed, and every option of a decoded message,
 * which points into the datagram).  A container holding up to
 * COAP_OPTIONS_INLINE_COUNT options with COAP_OPTIONS_INLINE_BYTES bytes of
 * copied values allocates nothing.
 *
 * A coap_options lives inside its coap_message and must not be copied with
 * memcpy or assignment; use coap_options_copy.
 */
#ifndef AIOCOAP_OPTIONS_H
#define AIOCOAP_OPTIONS_H

#include "common.h"
#include "error.h"
#include "numbers.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RFC 7252 §3.1: extended length reaches 65535 + 269. */
#define COAP_OPTION_MAX_LENGTH 65804u
#define COAP_OPTIONS_INLINE_COUNT 16
#define COAP_OPTIONS_INLINE_BYTES 64

typedef struct coap_option {
  /* read-only */
  uint16_t number;
  /* private: nonzero when the container owns value (a copy); zero when value
   * is borrowed.  Sits in what would be padding, so the struct stays 16
   * bytes. */
  uint8_t owned;
  /* read-only */
  uint32_t len;
  const uint8_t *value; /* len bytes; not NUL-terminated */
} coap_option;

struct coap__option_chunk;

typedef struct coap_options {
  /* private */
  coap_option *entries; /* inline_entries or a heap array */
  uint32_t count;
  uint32_t cap;
  struct coap__option_chunk *chunks; /* heap storage for copied values */
  size_t inline_used;
  coap_option inline_entries[COAP_OPTIONS_INLINE_COUNT];
  uint8_t inline_bytes[COAP_OPTIONS_INLINE_BYTES];
} coap_options;

/* Block1 / Block2 value (RFC 7959 §2.2). */
typedef struct coap_block {
  uint32_t num; /* block number, < 2**20 */
  bool more;    /* M bit */
  uint8_t szx;  /* size exponent 0..6; block size is 2**(szx + 4) */
} coap_block;

/* 2**(szx + 4); szx must be 0..6. */
static inline size_t coap_block_size(uint8_t szx) {
  return (size_t)1 << (szx + 4);
}
/* Offset of the block's first byte. */
static inline size_t coap_block_start(const coap_block *b) {
  return (size_t)b->num << (b->szx + 4);
}

/* Initialises an empty container; allocates nothing.  Never fails. */
AIOCOAP_EXTERN void coap_options_init(coap_options *opts);
/* Frees what the container owns and leaves it empty and reusable. */
AIOCOAP_EXTERN void coap_options_clear(coap_options *opts);
/*
 * Makes dst (initialised; its old content is cleared) a deep copy of src: every
 * value, borrowed or not, is copied.  Returns 0 or COAP_ENOMEM (dst is then
 * empty).
 */
AIOCOAP_EXTERN int coap_options_copy(coap_options *dst,
                                     const coap_options *src);
/* Copies every borrowed value into owned storage.  0 or COAP_ENOMEM. */
AIOCOAP_EXTERN int coap_options_own(coap_options *opts);

/* Number of options, and the i-th in option-number order (NULL past the end).
 * The pointer stays valid until the container is next changed. */
AIOCOAP_EXTERN size_t coap_options_count(const coap_options *opts);
AIOCOAP_EXTERN const coap_option *coap_options_at(const coap_options *opts,
                                                  size_t i);

/*
 * Adds an option after any others with the same number.  value is copied
 * (NULL is allowed when len is 0).  Returns 0, COAP_EINVAL (len above
 * COAP_OPTION_MAX_LENGTH, or value NULL with len > 0) or COAP_ENOMEM.  The
 * registry's length bounds are not enforced here: an application may send
 * what it likes; coap_options_check_lengths tells.
 */
AIOCOAP_EXTERN int coap_options_add(coap_options *opts, uint16_t number,
                                    const void *value, size_t len);
/* As coap_options_add, but value is borrowed: the caller keeps it alive and
 * unchanged as long as the option is in the container. */
AIOCOAP_EXTERN int coap_options_add_borrowed(coap_options *opts,
                                             uint16_t number, const void *value,
                                             size_t len);
/* Adds a uint option in its shortest form (RFC 7252 §3.2; 0 is empty). */
AIOCOAP_EXTERN int coap_options_add_uint(coap_options *opts, uint16_t number,
                                         uint32_t value);
/* Adds a string option (copied, without its NUL). */
AIOCOAP_EXTERN int coap_options_add_string(coap_options *opts, uint16_t number,
                                           const char *value);

/* Delete every option with this number, then add one; same returns as add. */
AIOCOAP_EXTERN int coap_options_set(coap_options *opts, uint16_t number,
                                    const void *value, size_t len);
AIOCOAP_EXTERN int coap_options_set_uint(coap_options *opts, uint16_t number,
                                         uint32_t value);
AIOCOAP_EXTERN int coap_options_set_string(coap_options *opts, uint16_t number,
                                           const char *value);

/* Removes every option with this number; returns how many were removed. */
AIOCOAP_EXTERN size_t coap_options_delete(coap_options *opts, uint16_t number);

/* First option with this number, or NULL. */
AIOCOAP_EXTERN const coap_option *coap_options_get(const coap_options *opts,
                                                   uint16_t number);
/* The n-th (from 0) option with this number, or NULL. */
AIOCOAP_EXTERN const coap_option *
coap_options_get_nth(const coap_options *opts, uint16_t number, size_t n);
/* How many options carry this number. */
AIOCOAP_EXTERN size_t coap_options_count_of(const coap_options *opts,
                                            uint16_t number);
static inline bool coap_options_has(const coap_options *opts, uint16_t number) {
  return coap_options_get(opts, number) != NULL;
}

/*
 * Reads the first option of this number as a uint.  Returns 0, COAP_ENOENT
 * when absent, or COAP_ERANGE when its value is longer than 4 bytes.
 */
AIOCOAP_EXTERN int coap_options_get_uint(const coap_options *opts,
                                         uint16_t number, uint32_t *out);
/* Decodes a uint value of up to 4 bytes; COAP_ERANGE when longer. */
AIOCOAP_EXTERN int coap_option_uint_decode(const uint8_t *value, size_t len,
                                           uint32_t *out);
/* Writes value's shortest encoding into buf; returns its length (0..4). */
AIOCOAP_EXTERN size_t coap_option_uint_encode(uint32_t value, uint8_t buf[4]);

/*
 * Repeatable segment options (Uri-Path, Uri-Query, Location-Path,
 * Location-Query): replace them all with the n given NUL-terminated segments.
 * Same returns as coap_options_add.
 */
AIOCOAP_EXTERN int coap_options_set_segments(coap_options *opts,
                                             uint16_t number,
                                             const char *const *segments,
                                             size_t n);
/*
 * Replaces them with the pieces of text split at sep ("a/b/c" with '/').  An
 * empty text removes them all.  No percent-decoding.
 */
AIOCOAP_EXTERN int coap_options_set_segments_split(coap_options *opts,
                                                   uint16_t number,
                                                   const char *text, char sep);
/*
 * Writes the segments joined by sep, NUL-terminated, into buf.  Returns the
 * length without the NUL, or COAP_ENOSPC when cap is too small.
 */
AIOCOAP_EXTERN int coap_options_join_segments(const coap_options *opts,
                                              uint16_t number, char sep,
                                              char *buf, size_t cap);

/*
 * Block options.  get returns 0, COAP_ENOENT when absent, or COAP_EINVAL when
 * the value is longer than 3 bytes or its SZX is 7 (reserved over UDP).
 * set returns 0, COAP_EINVAL (num >= 2**20 or szx > 6) or COAP_ENOMEM.
 */
AIOCOAP_EXTERN int coap_options_get_block(const coap_options *opts,
                                          uint16_t number, coap_block *out);
AIOCOAP_EXTERN int coap_options_set_block(coap_options *opts, uint16_t number,
                                          const coap_block *block);

/*
 * Reads the first option of this number as an opaque or string value:
 * *value points into the container (valid until it changes), not
 * NUL-terminated.  Returns 0 or COAP_ENOENT.
 */
AIOCOAP_EXTERN int coap_options_get_opaque(const coap_options *opts,
                                           uint16_t number,
                                           const uint8_t **value, size_t *len);
/*
 * Copies a string option NUL-terminated into buf.  Returns its length,
 * COAP_ENOENT, or COAP_ENOSPC.
 */
AIOCOAP_EXTERN int coap_options_get_string(const coap_options *opts,
                                           uint16_t number, char *buf,
                                           size_t cap);

/*
 * Checks every known option against the registry's length bounds and
 * repeatability.  Returns 0, or COAP_EINVAL with *bad_number set to the first
 * offending option number.
 */
AIOCOAP_EXTERN int coap_options_check(const coap_options *opts,
                                      uint16_t *bad_number);

/* Wire form (RFC 7252 §3.1), without payload marker.  Returns the number of
 * bytes written, or COAP_ENOSPC (buf[0..cap) may then hold a partial
 * encoding; nothing past cap is written). */
AIOCOAP_EXTERN size_t coap_options_encoded_size(const coap_options *opts);
AIOCOAP_EXTERN int coap_options_encode(const coap_options *opts, uint8_t *buf,
                                       size_t cap);

/* Typed views, as aiocoap's Options properties.  Getters return 0 or
 * COAP_ENOENT (and the errors of the generic getter they call); setters
 * replace any earlier value and return 0, COAP_EINVAL or COAP_ENOMEM. */
#define COAP__UINT_VIEW(name, number, type)                                    \
  static inline int coap_options_get_##name(const coap_options *o, type *v) {  \
    uint32_t u;                                                                \
    int r = coap_options_get_uint(o, number, &u);                              \
    if (r == 0) {                                                              \
      if (u > (type) ~(type)0)                                                 \
        return COAP_ERANGE;                                                    \
      *v = (type)u;                                                            \
    }                                                                          \
    return r;                                                                  \
  }                                                                            \
  static inline int coap_options_set_##name(coap_options *o, type v) {         \
    return coap_options_set_uint(o, number, v);                                \
  }

/* RFC 7641 §2: Observe is 0..3 bytes; RFC 7252 §5.4.3: a longer one is
 * unrecognised (and, elective, ignored), so it gives COAP_ERANGE and leaves
 * *v alone. */
AIOCOAP_EXTERN int coap_options_get_observe(const coap_options *o, uint32_t *v);
static inline int coap_options_set_observe(coap_options *o, uint32_t v) {
  return coap_options_set_uint(o, COAP_OPT_OBSERVE, v);
}
COAP__UINT_VIEW(uri_port, COAP_OPT_URI_PORT, uint16_t)
COAP__UINT_VIEW(content_format, COAP_OPT_CONTENT_FORMAT, uint16_t)
COAP__UINT_VIEW(accept, COAP_OPT_ACCEPT, uint16_t)
COAP__UINT_VIEW(max_age, COAP_OPT_MAX_AGE, uint32_t)
COAP__UINT_VIEW(size1, COAP_OPT_SIZE1, uint32_t)
COAP__UINT_VIEW(size2, COAP_OPT_SIZE2, uint32_t)
COAP__UINT_VIEW(no_response, COAP_OPT_NO_RESPONSE, uint8_t)
COAP__UINT_VIEW(hop_limit, COAP_OPT_HOP_LIMIT, uint8_t)

#define COAP__OPAQUE_VIEW(name, number)                                        \
  static inline int coap_options_get_##name(const coap_options *o,             \
                                            const uint8_t **v, size_t *len) {  \
    return coap_options_get_opaque(o, number, v, len);                         \
  }                                                                            \
  static inline int coap_options_set_##name(coap_options *o, const void *v,    \
                                            size_t len) {                      \
    return coap_options_set(o, number, v, len);                                \
  }

/* Single ETag as in responses; etags (requests) are the repeated options,
 * read with coap_options_get_nth(o, COAP_OPT_ETAG, i). */
COAP__OPAQUE_VIEW(etag, COAP_OPT_ETAG)
COAP__OPAQUE_VIEW(echo, COAP_OPT_ECHO)
COAP__OPAQUE_VIEW(request_tag, COAP_OPT_REQUEST_TAG)
COAP__OPAQUE_VIEW(uri_host, COAP_OPT_URI_HOST)
COAP__OPAQUE_VIEW(proxy_uri, COAP_OPT_PROXY_URI)
COAP__OPAQUE_VIEW(proxy_scheme, COAP_OPT_PROXY_SCHEME)

static inline int coap_options_add_etag(coap_options *o, const void *v,
                                        size_t len) {
  return coap_options_add(o, COAP_OPT_ETAG, v, len);
}
static inline int coap_options_add_if_match(coap_options *o, const void *v,
                                            size_t len) {
  return coap_options_add(o, COAP_OPT_IF_MATCH, v, len);
}
static inline bool coap_options_get_if_none_match(const coap_options *o) {
  return coap_options_has(o, COAP_OPT_IF_NONE_MATCH);
}
static inline int coap_options_set_if_none_match(coap_options *o, bool on) {
  coap_options_delete(o, COAP_OPT_IF_NONE_MATCH);
  return on ? coap_options_add(o, COAP_OPT_IF_NONE_MATCH, NULL, 0) : 0;
}

#define COAP__BLOCK_VIEW(name, number)                                         \
  static inline int coap_options_get_##name(const coap_options *o,             \
                                            coap_block *b) {                   \
    return coap_options_get_block(o, number, b);                               \
  }                                                                            \
  static inline int coap_options_set_##name(coap_options *o,                   \
                                            const coap_block *b) {             \
    return coap_options_set_block(o, number, b);                               \
  }
COAP__BLOCK_VIEW(block1, COAP_OPT_BLOCK1)
COAP__BLOCK_VIEW(block2, COAP_OPT_BLOCK2)

#define COAP__SEGMENT_VIEW(name, number, sep)                                  \
  static inline int coap_options_set_##name(                                   \
      coap_options *o, const char *const *segs, size_t n) {                    \
    return coap_options_set_segments(o, number, segs, n);                      \
  }                                                                            \
  static inline int coap_options_set_##name##_string(coap_options *o,          \
                                                     const char *text) {       \
    return coap_options_set_segments_split(o, number, text, sep);              \
  }                                                                            \
  static inline int coap_options_add_##name(coap_options *o,                   \
                                            const char *seg) {                 \
    return coap_options_add_string(o, number, seg);                            \
  }                                                                            \
  static inline int coap_options_get_##name##_string(const coap_options *o,    \
                                                     char *buf, size_t cap) {  \
    return coap_options_join_segments(o, number, sep, buf, cap);               \
  }
COAP__SEGMENT_VIEW(uri_path, COAP_OPT_URI_PATH, '/')
COAP__SEGMENT_VIEW(uri_query, COAP_OPT_URI_QUERY, '&')
COAP__SEGMENT_VIEW(location_path, COAP_OPT_LOCATION_PATH, '/')
COAP__SEGMENT_VIEW(location_query, COAP_OPT_LOCATION_QUERY, '&')

#ifdef __cplusplus
}
#endif

#endif
