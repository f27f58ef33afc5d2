/*
 * aiocoap.util: host/port joining and splitting, and percent-encoding
 * (RFC 3986 §2.1).
 */
#include "uri-internal.h"

#include <aiocoap/error.h>
#include <aiocoap/util.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

int coap__parse_port(const char *s, size_t len, int *port) {
  long value = 0;

  if (len == 0) {
    *port = -1;
    return 0;
  }
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return COAP_EINVAL;
    value = value * 10 + (s[i] - '0');
    /* Leading zeros are allowed (RFC 3986 §3.2.3 port = *DIGIT), so the
     * length alone does not bound the value: stop as soon as it is too big. */
    if (value > 65535)
      return COAP_EINVAL;
  }
  *port = (int)value;
  return 0;
}

int coap_hostportjoin(const char *host, int port, char *buf, size_t cap) {
  char port_text[8] = "";
  size_t host_len;
  size_t need;
  bool bracket;

  if (host == NULL || buf == NULL || host[0] == '\0' || port > 65535)
    return COAP_EINVAL;
  host_len = strlen(host);
  /* As aiocoap: a host with a ':' is an IPv6 literal and needs brackets
   * (RFC 3986 §3.2.2), unless it already has them. */
  bracket = memchr(host, ':', host_len) != NULL &&
            !(host[0] == '[' && host[host_len - 1] == ']');
  if (port >= 0)
    snprintf(port_text, sizeof(port_text), ":%d", port);
  need = host_len + (bracket ? 2 : 0) + strlen(port_text);
  if (need > INT_MAX)
    return COAP_EINVAL;
  if (need >= cap)
    return COAP_ENOSPC;
  snprintf(buf, cap, "%s%s%s%s", bracket ? "[" : "", host, bracket ? "]" : "",
           port_text);
  return (int)need;
}

int coap_hostportsplit(const char *hostport, char *host, size_t host_cap,
                       int *port) {
  const char *host_start = hostport;
  const char *host_end;
  const char *rest;
  size_t host_len;

  if (hostport == NULL || host == NULL || port == NULL)
    return COAP_EINVAL;
  if (hostport[0] == '[') {
    host_start = hostport + 1;
    host_end = strchr(host_start, ']');
    if (host_end == NULL)
      return COAP_EINVAL;
    rest = host_end + 1;
    if (*rest != '\0' && *rest != ':')
      return COAP_EINVAL;
  } else {
    const char *colon = strchr(hostport, ':');
    /* An unbracketed IPv6 literal cannot be told from host:port; aiocoap
     * raises here rather than guess. */
    if (colon != NULL && strchr(colon + 1, ':') != NULL)
      return COAP_EINVAL;
    host_end = colon != NULL ? colon : hostport + strlen(hostport);
    rest = host_end;
    if (memchr(hostport, ']', (size_t)(host_end - hostport)) != NULL)
      return COAP_EINVAL;
  }
  host_len = (size_t)(host_end - host_start);
  if (host_len == 0)
    return COAP_EINVAL;
  if (*rest == ':') {
    if (coap__parse_port(rest + 1, strlen(rest + 1), port) != 0)
      return COAP_EINVAL;
  } else {
    *port = -1;
  }
  if (host_len >= host_cap)
    return COAP_ENOSPC;
  memcpy(host, host_start, host_len);
  host[host_len] = '\0';
  return 0;
}

int coap_percent_decode(const char *src, size_t len, char *dst, size_t cap) {
  size_t out = 0;

  if (src == NULL && len > 0)
    return COAP_EURI;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '%') {
      /* RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG. */
      int hi, lo;
      if (len - i < 3)
        return COAP_EURI;
      hi = coap__uri_hex_value((unsigned char)src[i + 1]);
      lo = coap__uri_hex_value((unsigned char)src[i + 2]);
      if (hi < 0 || lo < 0)
        return COAP_EURI;
      c = (unsigned char)(hi << 4 | lo);
      i += 2;
    }
    /* Keep scanning past a full buffer so a bad escape later is still
     * reported as COAP_EURI. */
    if (out < cap)
      dst[out] = (char)c;
    out++;
  }
  if (out >= cap || out > INT_MAX)
    return COAP_ENOSPC;
  dst[out] = '\0';
  return (int)out;
}

bool coap__uri_is_allowed(unsigned char c, coap__uri_part part) {
  if (coap__uri_is_unreserved(c))
    return true;
  switch (part) {
  case COAP__URI_SEGMENT:
    /* RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" /
     * "@". */
    return coap__uri_is_sub_delim(c) || c == ':' || c == '@';
  case COAP__URI_QUERY:
    /* RFC 3986 §3.4: query = *( pchar / "/" / "?" ).  RFC 7252 §6.4 step 9
     * splits the query at '&', so an '&' inside an item is escaped (which
     * §6.5 step 8 omits) or the item would not survive the round trip. */
    return (coap__uri_is_sub_delim(c) && c != '&') || c == ':' || c == '@' ||
           c == '/' || c == '?';
  case COAP__URI_HOST:
    /* RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ).
     */
    return coap__uri_is_sub_delim(c);
  case COAP__URI_ZONE:
    /* RFC 6874 §2: ZoneID = 1*( unreserved / pct-encoded ). */
    return false;
  }
  return false;
}

int coap__percent_encode(const void *src, size_t len, coap__uri_part part,
                         char *dst, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *in = src;
  size_t need = 0;

  if (src == NULL && len > 0)
    return COAP_EINVAL;
  for (size_t i = 0; i < len; i++)
    need += coap__uri_is_allowed(in[i], part) ? 1 : 3;
  if (need >= cap || need > INT_MAX)
    return COAP_ENOSPC;
  for (size_t i = 0, out = 0; i < len; i++) {
    if (coap__uri_is_allowed(in[i], part)) {
      dst[out++] = (char)in[i];
    } else {
      /* RFC 3986 §2.1: uppercase hex digits are the normal form. */
      dst[out++] = '%';
      dst[out++] = hex[in[i] >> 4];
      dst[out++] = hex[in[i] & 0x0f];
    }
  }
  dst[need] = '\0';
  return (int)need;
}

int coap_percent_encode(const void *src, size_t len, bool is_query, char *dst,
                        size_t cap) {
  return coap__percent_encode(
      src, len, is_query ? COAP__URI_QUERY : COAP__URI_SEGMENT, dst, cap);
}
