/* Internal URI helpers shared by util.c, uri.c and message_uri.c: the
 * RFC 3986 §2 character classes and percent-encoding for each URI part. */
#ifndef AIOCOAP_URI_INTERNAL_H
#define AIOCOAP_URI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static inline bool coap__uri_is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 §2.2: "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" /
 * "=". */
static inline bool coap__uri_is_sub_delim(unsigned char c) {
  return c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' ||
         c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=';
}

/* The value of a hex digit, or -1. */
static inline int coap__uri_hex_value(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Which URI part a string is encoded for: each keeps a different set of
 * characters unescaped. */
typedef enum coap__uri_part {
  COAP__URI_SEGMENT, /* RFC 3986 §3.3 pchar */
  COAP__URI_QUERY,   /* RFC 3986 §3.4, with '&' escaped (the separator) */
  COAP__URI_HOST,    /* RFC 3986 §3.2.2 reg-name */
  COAP__URI_ZONE     /* RFC 6874 ZoneID: unreserved only */
} coap__uri_part;

/* True when c may stand unescaped in that part. */
bool coap__uri_is_allowed(unsigned char c, coap__uri_part part);

/* Parses the decimal port s[0..len) (RFC 3986 §3.2.3: DIGITs, here
 * 0..65535) into *port; an empty string gives -1.  0 or COAP_EINVAL. */
int coap__parse_port(const char *s, size_t len, int *port);

/* Percent-encodes src[0..len) for part into dst (NUL-terminated, uppercase
 * hex).  Returns the length or COAP_ENOSPC. */
int coap__percent_encode(const void *src, size_t len, coap__uri_part part,
                         char *dst, size_t cap);

#endif
