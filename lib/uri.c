/*
 * The URI parser behind coap_message_set_request_uri: RFC 3986 §3 split into
 * scheme, host, port, path and query, for the CoAP schemes only (RFC 7252
 * §6, RFC 8323 §8).
 */
#include "uri-internal.h"

#include <aiocoap/error.h>
#include <aiocoap/util.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

static const struct {
  const char *scheme;
  int port;
} schemes[] = {
    {"coap", 5683},                       /* RFC 7252 §6.1 */
    {"coaps", 5684},                      /* RFC 7252 §6.2 */
    {"coap+tcp", 5683},                   /* RFC 8323 §8.1 */
    {"coaps+tcp", 5684}, {"coap+ws", 80}, /* RFC 8323 §8.3 */
    {"coaps+ws", 443},
};

int coap_uri_default_port(const char *scheme) {
  if (scheme == NULL)
    return -1;
  for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
    if (strcasecmp(scheme, schemes[i].scheme) == 0)
      return schemes[i].port;
  return -1;
}

/* RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
static int parse_scheme(const char *uri, coap_uri *out, const char **rest) {
  size_t len = 0;

  for (;; len++) {
    unsigned char c = (unsigned char)uri[len];
    if (c == ':')
      break;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (len > 0 &&
           ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))))
      return COAP_EURI;
  }
  if (len == 0)
    return COAP_EURI;
  if (len >= sizeof(out->scheme))
    return COAP_EURI_SCHEME;
  for (size_t i = 0; i < len; i++) {
    char c = uri[i];
    out->scheme[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  out->scheme[len] = '\0';
  /* RFC 3986 §3.1: schemes are case-insensitive. */
  if (coap_uri_default_port(out->scheme) < 0)
    return COAP_EURI_SCHEME;
  *rest = uri + len + 1;
  return 0;
}

/* Checks that s[0..len) holds only characters allowed in part, characters
 * from extra, or valid pct-encoded triplets (RFC 3986 §2.1). */
static bool valid_encoded(const char *s, size_t len, coap__uri_part part,
                          const char *extra) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      if (len - i < 3 || coap__uri_hex_value((unsigned char)s[i + 1]) < 0 ||
          coap__uri_hex_value((unsigned char)s[i + 2]) < 0)
        return false;
      i += 2;
    } else if (!coap__uri_is_allowed(c, part) &&
               (c == '\0' || strchr(extra, c) == NULL)) {
      return false;
    }
  }
  return true;
}

/*
 * IP-literal = "[" ( IPv6address / IPv6addrz ) "]" (RFC 3986 §3.2.2 with RFC
 * 6874 §2: IPv6addrz = IPv6address "%25" ZoneID).  IPvFuture is rejected:
 * no transport could reach such an address.
 */
static int parse_ip_literal(const char *s, size_t len, coap_uri *out) {
  const char *zone = NULL;
  size_t addr_len = len;
  char addr[INET6_ADDRSTRLEN];
  struct in6_addr parsed;
  int zone_len = 0;

  for (size_t i = 0; i < len; i++) {
    if (s[i] == '%') {
      if (len - i < 3 || s[i + 1] != '2' || s[i + 2] != '5')
        return COAP_EURI;
      addr_len = i;
      zone = s + i + 3;
      break;
    }
  }
  if (addr_len == 0 || addr_len >= sizeof(addr))
    return COAP_EURI;
  memcpy(addr, s, addr_len);
  addr[addr_len] = '\0';
  if (inet_pton(AF_INET6, addr, &parsed) != 1)
    return COAP_EURI;
  memcpy(out->host, addr, addr_len + 1);
  if (zone != NULL) {
    size_t zone_enc_len = len - (size_t)(zone - s);
    if (zone_enc_len == 0 ||
        !valid_encoded(zone, zone_enc_len, COAP__URI_ZONE, ""))
      return COAP_EURI;
    out->host[addr_len] = '%';
    zone_len = coap_percent_decode(zone, zone_enc_len, out->host + addr_len + 1,
                                   sizeof(out->host) - addr_len - 1);
    /* A zone is an interface name, never binary. */
    if (zone_len < 0 ||
        memchr(out->host + addr_len + 1, '\0', (size_t)zone_len) != NULL)
      return COAP_EURI;
  }
  out->host_is_ip = true;
  return 0;
}

/* reg-name or IPv4address (RFC 3986 §3.2.2); the host is percent-decoded. */
static int parse_reg_name(const char *s, size_t len, coap_uri *out) {
  struct in_addr v4;
  int host_len;

  if (len == 0 || !valid_encoded(s, len, COAP__URI_HOST, ""))
    return COAP_EURI;
  host_len = coap_percent_decode(s, len, out->host, sizeof(out->host));
  /* A host name is text: a decoded NUL could not be carried on. */
  if (host_len <= 0 || memchr(out->host, '\0', (size_t)host_len) != NULL)
    return COAP_EURI;
  /* RFC 3986 §3.2.2: a host matching IPv4address is one, even though
   * reg-name would match it too. */
  out->host_is_ip = inet_pton(AF_INET, out->host, &v4) == 1;
  return 0;
}

static int parse_authority(const char *s, size_t len, coap_uri *out) {
  const char *port_start = NULL;
  int rc;

  /* RFC 7252 §6.1 has no userinfo in coap URIs; aiocoap refuses it too. */
  if (memchr(s, '@', len) != NULL)
    return COAP_EURI;
  if (len > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', len);
    if (close == NULL)
      return COAP_EURI;
    rc = parse_ip_literal(s + 1, (size_t)(close - s - 1), out);
    if (rc != 0)
      return rc;
    if (close + 1 < s + len) {
      if (close[1] != ':')
        return COAP_EURI;
      port_start = close + 2;
    }
  } else {
    const char *colon = memchr(s, ':', len);
    rc = parse_reg_name(s, colon != NULL ? (size_t)(colon - s) : len, out);
    if (rc != 0)
      return rc;
    if (colon != NULL)
      port_start = colon + 1;
  }
  out->port = -1;
  /* RFC 3986 §3.2.3: an empty port ("host:") means none. */
  if (port_start != NULL &&
      coap__parse_port(port_start, (size_t)(s + len - port_start),
                       &out->port) != 0)
    return COAP_EURI;
  return 0;
}

int coap_uri_parse(const char *uri, coap_uri *out) {
  const char *p;
  size_t len;
  int rc;

  if (uri == NULL || out == NULL)
    return COAP_EURI;
  memset(out, 0, sizeof(*out));
  out->port = -1;
  rc = parse_scheme(uri, out, &p);
  if (rc != 0)
    return rc;
  /* RFC 7252 §6.1: coap-URI = "coap:" "//" host [ ":" port ] path-abempty
   * [ "?" query ]; the authority is required. */
  if (p[0] != '/' || p[1] != '/')
    return COAP_EURI;
  p += 2;
  len = strcspn(p, "/?#");
  rc = parse_authority(p, len, out);
  if (rc != 0)
    return rc;
  p += len;

  out->path = p;
  out->path_len = strcspn(p, "?#");
  /* path-abempty = *( "/" segment ), segment = *pchar (RFC 3986 §3.3). */
  if (!valid_encoded(out->path, out->path_len, COAP__URI_SEGMENT, "/"))
    return COAP_EURI;
  p += out->path_len;

  if (*p == '?') {
    out->query = p + 1;
    out->query_len = strcspn(out->query, "#");
    /* query = *( pchar / "/" / "?" ) (RFC 3986 §3.4); '&' is a sub-delim. */
    if (!valid_encoded(out->query, out->query_len, COAP__URI_QUERY, "&"))
      return COAP_EURI;
  }
  /* A fragment (RFC 3986 §3.5) concerns only the client and has no option
   * to travel in, so it is dropped here, as an HTTP client drops it.  RFC
   * 7252 §6.4 step 4 would fail instead; this API is lenient on purpose. */
  return 0;
}
