/*
 * aiocoap-c — aiocoap.util: host/port joining and splitting, and the URI
 * parser used by coap_message_set_request_uri.
 */
#ifndef AIOCOAP_UTIL_H
#define AIOCOAP_UTIL_H

#include "common.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * aiocoap.util.hostportjoin: "host" or "host:port", with IPv6 literals in
 * brackets ("[::1]:61616").  port < 0 means none.  Writes NUL-terminated into
 * buf; returns the length, COAP_EINVAL or COAP_ENOSPC.
 */
AIOCOAP_EXTERN int coap_hostportjoin(const char *host, int port, char *buf,
                                     size_t cap);

/*
 * aiocoap.util.hostportsplit: splits "host", "host:port", "[v6]" or
 * "[v6]:port" into the host (brackets removed, NUL-terminated into host) and
 * port (-1 when absent).  Returns 0, COAP_EINVAL (malformed, port out of
 * 0..65535) or COAP_ENOSPC.
 */
AIOCOAP_EXTERN int coap_hostportsplit(const char *hostport, char *host,
                                      size_t host_cap, int *port);

/* A URI split into its parts (RFC 3986), as coap_uri_parse fills it. */
typedef struct coap_uri {
  char scheme[12];  /* lower-cased: "coap", "coaps", "coap+tcp", ... */
  char host[256];   /* percent-decoded; IPv6 without brackets, zone decoded
                       ("fe80::1%eth0") */
  bool host_is_ip;  /* an IPv4 or IPv6 literal */
  int port;         /* explicit port, or -1 */
  const char *path; /* into the parsed string: from the first '/' to '?', '#'
                       or the end; not decoded */
  size_t path_len;
  const char *query; /* after '?', up to '#' or the end; NULL when absent */
  size_t query_len;
} coap_uri;

/*
 * Parses uri (borrowed; path and query point into it).  Accepts the schemes
 * coap, coaps, coap+tcp, coaps+tcp, coap+ws and coaps+ws only.
 * Returns 0, COAP_EURI or COAP_EURI_SCHEME.
 */
AIOCOAP_EXTERN int coap_uri_parse(const char *uri, coap_uri *out);

/* The default port of a scheme (5683, 5684, 80, 443), or -1 if unknown. */
AIOCOAP_EXTERN int coap_uri_default_port(const char *scheme);

/*
 * Percent-decodes src[0..len) into dst (NUL-terminated).  Returns the decoded
 * length, COAP_EURI on a bad escape, or COAP_ENOSPC.
 */
AIOCOAP_EXTERN int coap_percent_decode(const char *src, size_t len, char *dst,
                                       size_t cap);
/*
 * Percent-encodes src[0..len) for a path segment (is_query false) or a query
 * item (is_query true) per RFC 3986 (unreserved and sub-delims kept, plus ':'
 * and '@'; '/' and '?' kept in a query, '&' escaped there).  NUL-terminated;
 * returns the length or COAP_ENOSPC.
 */
AIOCOAP_EXTERN int coap_percent_encode(const void *src, size_t len,
                                       bool is_query, char *dst, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
