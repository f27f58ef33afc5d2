/*
 * A message's place in the URI space: aiocoap's Message.get_request_uri and
 * set_request_uri (RFC 7252 §6.4 and §6.5), the unresolved remote, and the
 * remote's hostinfo.
 */
#include "alloc-internal.h"
#include "transports/transport.h"
#include "uri-internal.h"

#include <aiocoap/message.h>
#include <aiocoap/util.h>

#include <arpa/inet.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

bool coap_remote_is_set(const coap_remote *remote) {
  return remote != NULL && remote->addr.sin6_family != 0;
}

bool coap_remote_equal(const coap_remote *a, const coap_remote *b) {
  bool a_set = coap_remote_is_set(a);
  bool b_set = coap_remote_is_set(b);

  if (!a_set || !b_set)
    return a_set == b_set;
  /* The scope matters: fe80::1 on eth0 and on wlan0 are different peers
   * (RFC 4007 §6). */
  /* The same address over two transports (coap and coaps) is two peers;
   * a remote the application made names no transport and matches on the
   * address alone. */
  if (a->endpoint != NULL && b->endpoint != NULL && a->endpoint != b->endpoint)
    return false;
  return a->addr.sin6_family == b->addr.sin6_family &&
         memcmp(&a->addr.sin6_addr, &b->addr.sin6_addr,
                sizeof(a->addr.sin6_addr)) == 0 &&
         a->addr.sin6_port == b->addr.sin6_port &&
         a->addr.sin6_scope_id == b->addr.sin6_scope_id;
}

/* Appends to a caller's buffer, always NUL-terminated, remembering overflow
 * so the composing code need not check every step. */
typedef struct uri_writer {
  char *buf;
  size_t cap;
  size_t len;
  bool overflow;
} uri_writer;

static void writer_init(uri_writer *w, char *buf, size_t cap) {
  w->buf = buf;
  w->cap = cap;
  w->len = 0;
  w->overflow = buf == NULL || cap == 0;
  if (!w->overflow)
    buf[0] = '\0';
}

static void put_bytes(uri_writer *w, const void *bytes, size_t n) {
  if (w->overflow || n >= w->cap - w->len) {
    w->overflow = true;
    return;
  }
  memcpy(w->buf + w->len, bytes, n);
  w->len += n;
  w->buf[w->len] = '\0';
}

static void put_string(uri_writer *w, const char *text) {
  put_bytes(w, text, strlen(text));
}

/* Writes ":PORT".  The buffer holds any int, so that no compiler (at any
 * optimisation level, -Wformat-truncation) sees room for truncation; the
 * callers pass 0..65535 anyway. */
static void put_port(uri_writer *w, int port) {
  char text[sizeof ":-2147483648"];
  snprintf(text, sizeof(text), ":%d", port);
  put_string(w, text);
}

static void put_encoded(uri_writer *w, const void *bytes, size_t n,
                        coap__uri_part part) {
  int written;

  if (w->overflow)
    return;
  written =
      coap__percent_encode(bytes, n, part, w->buf + w->len, w->cap - w->len);
  if (written < 0)
    w->overflow = true;
  else
    w->len += (size_t)written;
}

static int writer_finish(const uri_writer *w) {
  if (w->overflow || w->len > INT_MAX)
    return COAP_ENOSPC;
  return (int)w->len;
}

/*
 * Writes a host as it stands in a URI: an IPv6 literal in brackets with its
 * zone as "%25" ZoneID (RFC 6874 §2), anything else as a percent-encoded
 * reg-name (RFC 3986 §3.2.2).  host[0..len) is decoded text, as Uri-Host
 * carries it (RFC 7252 §6.4 step 5).
 */
static void put_host(uri_writer *w, const char *host, size_t len) {
  const char *zone = memchr(host, '%', len);
  size_t addr_len = zone != NULL ? (size_t)(zone - host) : len;

  if (memchr(host, ':', addr_len) == NULL) {
    put_encoded(w, host, len, COAP__URI_HOST);
    return;
  }
  put_string(w, "[");
  put_encoded(w, host, addr_len, COAP__URI_SEGMENT);
  if (zone != NULL) {
    put_string(w, "%25");
    put_encoded(w, zone + 1, len - addr_len - 1, COAP__URI_ZONE);
  }
  put_string(w, "]");
}

/*
 * Writes the remote's address as a URI host.  With unmap_v4, a v4-mapped
 * address (RFC 4291 §2.5.5.2) is written as the IPv4 address it stands for,
 * the form a URI for that peer uses; aiocoap's hostinfo keeps the mapped
 * form.
 */
static void put_remote_host(uri_writer *w, const coap_remote *remote,
                            bool unmap_v4) {
  const struct in6_addr *addr = &remote->addr.sin6_addr;
  char text[INET6_ADDRSTRLEN];
  uint32_t scope = remote->addr.sin6_scope_id;

  if (unmap_v4 && IN6_IS_ADDR_V4MAPPED(addr)) {
    inet_ntop(AF_INET, &addr->s6_addr[12], text, sizeof(text));
    put_string(w, text);
    return;
  }
  inet_ntop(AF_INET6, addr, text, sizeof(text));
  put_string(w, "[");
  put_string(w, text);
  if (scope != 0) {
    /* RFC 6874 §2: the zone by interface name where the system knows one,
     * else by its index, which RFC 4007 §11.2 allows too. */
    char zone[IF_NAMESIZE + 12];
    if (if_indextoname(scope, zone) == NULL)
      snprintf(zone, sizeof(zone), "%u", (unsigned)scope);
    put_string(w, "%25");
    put_encoded(w, zone, strlen(zone), COAP__URI_ZONE);
  }
  put_string(w, "]");
}

int coap_remote_hostinfo(const coap_remote *remote, char *buf, size_t cap) {
  uri_writer w;
  char port[8];

  if (!coap_remote_is_set(remote))
    return COAP_EINVAL;
  writer_init(&w, buf, cap);
  put_remote_host(&w, remote, false);
  snprintf(port, sizeof(port), ":%u", (unsigned)ntohs(remote->addr.sin6_port));
  put_string(&w, port);
  return writer_finish(&w);
}

/*
 * Reads the unresolved remote: "scheme://hostinfo" as set_request_uri stores
 * it, or a bare hostinfo (aiocoap's older "host[:port]" form), which leaves
 * out->scheme empty.
 */
static int parse_unresolved(const char *text, coap_uri *out) {
  if (strstr(text, "://") != NULL)
    return coap_uri_parse(text, out) == 0 ? 0 : COAP_EINVAL;
  memset(out, 0, sizeof(*out));
  return coap_hostportsplit(text, out->host, sizeof(out->host), &out->port) == 0
             ? 0
             : COAP_EINVAL;
}

/* The port the URI names explicitly, or -1: Uri-Port, else the unresolved
 * remote's, else the remote's (RFC 7252 §6.5 step 4). */
static int request_port(const coap_message *msg, const coap_uri *unresolved) {
  uint16_t uri_port;

  if (coap_options_get_uri_port(&msg->opt, &uri_port) == 0)
    return uri_port;
  if (unresolved != NULL)
    return unresolved->port;
  if (coap_remote_is_set(&msg->remote))
    return ntohs(msg->remote.addr.sin6_port);
  return -1;
}

/* Writes "/" and the path segments, then "?" and the query items (RFC 7252
 * §6.5 steps 6 to 8); an empty path is written as "/" (step 7, and aiocoap). */
static void put_path_query(uri_writer *w, const coap_options *opt) {
  const coap_option *o;

  for (size_t i = 0; (o = coap_options_get_nth(opt, COAP_OPT_URI_PATH, i));
       i++) {
    put_string(w, "/");
    /* A segment "." or ".." would be removed as a dot segment when the URI
     * is read again (RFC 3986 §5.2.4); escaped, it stays a segment. */
    if ((o->len == 1 || o->len == 2) && memcmp(o->value, "..", o->len) == 0)
      put_string(w, o->len == 1 ? "%2E" : "%2E%2E");
    else
      put_encoded(w, o->value, o->len, COAP__URI_SEGMENT);
  }
  if (!coap_options_has(opt, COAP_OPT_URI_PATH))
    put_string(w, "/");
  for (size_t i = 0; (o = coap_options_get_nth(opt, COAP_OPT_URI_QUERY, i));
       i++) {
    put_string(w, i == 0 ? "?" : "&");
    put_encoded(w, o->value, o->len, COAP__URI_QUERY);
  }
}

int coap_message_get_request_uri(const coap_message *msg, char *buf,
                                 size_t cap) {
  coap_uri unresolved;
  const coap_uri *have_unresolved = NULL;
  const uint8_t *value;
  size_t len;
  char scheme[16] = "coap";
  int default_port;
  int port;
  uri_writer w;

  if (msg == NULL)
    return COAP_EINVAL;
  /* A message that came over (or is bound for) a secure transport names
   * its scheme. */
  snprintf(scheme, sizeof scheme, "%s", coap__remote_scheme(&msg->remote));
  writer_init(&w, buf, cap);
  /* A response answers for the URI its request was sent to. */
  if (msg->request_uri != NULL) {
    put_string(&w, msg->request_uri);
    return writer_finish(&w);
  }
  /* RFC 7252 §5.10.2: Proxy-Uri is the whole absolute URI. */
  if (coap_options_get_proxy_uri(&msg->opt, &value, &len) == 0) {
    put_bytes(&w, value, len);
    return writer_finish(&w);
  }
  if (msg->unresolved_remote != NULL) {
    if (parse_unresolved(msg->unresolved_remote, &unresolved) != 0)
      return COAP_EINVAL;
    have_unresolved = &unresolved;
  }

  if (coap_options_get_proxy_scheme(&msg->opt, &value, &len) == 0) {
    /* RFC 7252 §5.10.2: Proxy-Scheme names the scheme. */
    put_bytes(&w, value, len);
    default_port = -1;
    if (len < sizeof(scheme)) {
      memcpy(scheme, value, len);
      scheme[len] = '\0';
      default_port = coap_uri_default_port(scheme);
    }
  } else {
    if (have_unresolved != NULL && unresolved.scheme[0] != '\0')
      snprintf(scheme, sizeof(scheme), "%s", unresolved.scheme);
    put_string(&w, scheme);
    default_port = coap_uri_default_port(scheme);
  }
  put_string(&w, "://");

  if (coap_options_get_uri_host(&msg->opt, &value, &len) == 0)
    put_host(&w, (const char *)value, len);
  else if (have_unresolved != NULL)
    put_host(&w, unresolved.host, strlen(unresolved.host));
  else if (coap_remote_is_set(&msg->remote))
    put_remote_host(&w, &msg->remote, true);
  else
    return COAP_EINVAL;

  /* RFC 7252 §6.5 step 5: the default port is left out. */
  port = request_port(msg, have_unresolved);
  if (port >= 0 && port != default_port) {
    put_port(&w, port);
  }
  put_path_query(&w, &msg->opt);
  return writer_finish(&w);
}

/* Removes the last "/segment" of out[0..n); returns the new length. */
static size_t drop_last_segment(const char *out, size_t n) {
  while (n > 0 && out[n - 1] != '/')
    n--;
  return n > 0 ? n - 1 : 0;
}

/* True when the input left starts with text. */
static bool input_is(const char *in, size_t left, const char *text) {
  size_t n = strlen(text);
  return left >= n && memcmp(in, text, n) == 0;
}

/*
 * RFC 3986 §5.2.4 remove_dot_segments on in[0..len), written to out (which
 * holds len bytes: the output is never longer than the input).  Returns the
 * output length.  Works on the encoded path, so "%2E" is not a dot segment
 * and "a%2Fb" stays one segment.
 */
static size_t remove_dot_segments(const char *in, size_t len, char *out) {
  const char *end = in + len;
  size_t n = 0;

  while (in < end) {
    size_t left = (size_t)(end - in);
    if (input_is(in, left, "../")) { /* step 2A */
      in += 3;
    } else if (input_is(in, left, "./")) {
      in += 2;
    } else if (input_is(in, left, "/./")) { /* step 2B */
      in += 2;
    } else if (left == 2 && input_is(in, left, "/.")) {
      out[n++] = '/';
      in = end;
    } else if (input_is(in, left, "/../")) { /* step 2C */
      in += 3;
      n = drop_last_segment(out, n);
    } else if (left == 3 && input_is(in, left, "/..")) {
      n = drop_last_segment(out, n);
      out[n++] = '/';
      in = end;
    } else if ((left == 1 && in[0] == '.') ||
               (left == 2 && input_is(in, left, ".."))) { /* step 2D */
      in = end;
    } else { /* step 2E: move "/segment" or "segment" to the output */
      const char *stop = in + (in[0] == '/');
      while (stop < end && *stop != '/')
        stop++;
      memcpy(out + n, in, (size_t)(stop - in));
      n += (size_t)(stop - in);
      in = stop;
    }
  }
  return n;
}

/* Adds one option per sep-separated piece of text[0..len), each
 * percent-decoded into scratch (at least len + 1 bytes). */
static int add_decoded_pieces(coap_options *opt, uint16_t number,
                              const char *text, size_t len, char sep,
                              char *scratch) {
  const char *end = text + len;

  for (;;) {
    const char *stop = memchr(text, sep, (size_t)(end - text));
    int decoded;
    int rc;
    if (stop == NULL)
      stop = end;
    decoded =
        coap_percent_decode(text, (size_t)(stop - text), scratch, len + 1);
    if (decoded < 0)
      return decoded;
    rc = coap_options_add(opt, number, scratch, (size_t)decoded);
    if (rc != 0)
      return rc;
    if (stop == end)
      return 0;
    text = stop + 1;
  }
}

static void lowercase_ascii(char *text, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (text[i] >= 'A' && text[i] <= 'Z')
      text[i] = (char)(text[i] - 'A' + 'a');
}

/* "scheme://hostinfo" with the port only when it is not the scheme's
 * default, into storage the caller frees; NULL on COAP_ENOMEM. */
static char *format_unresolved(const coap_uri *uri) {
  /* Every host byte may grow to "%XX"; brackets, "://", ":65535" and the NUL
   * fit in the 16 more. */
  size_t cap = sizeof(uri->scheme) + 3 * sizeof(uri->host) + 16;
  char *text = coap__malloc(cap);
  uri_writer w;

  if (text == NULL)
    return NULL;
  writer_init(&w, text, cap);
  put_string(&w, uri->scheme);
  put_string(&w, "://");
  put_host(&w, uri->host, strlen(uri->host));
  if (uri->port >= 0 && uri->port != coap_uri_default_port(uri->scheme)) {
    put_port(&w, uri->port);
  }
  return text;
}

/* Fills Uri-Host, Uri-Path and Uri-Query from uri (RFC 7252 §6.4 steps 5,
 * 8 and 9); scratch holds 2 * (path_len + query_len) + 2 bytes. */
static int set_uri_options(coap_options *opt, const coap_uri *uri,
                           bool set_uri_host, char *scratch) {
  char *path = scratch;
  char *decode_buf = scratch + uri->path_len + 1;
  size_t path_len = remove_dot_segments(uri->path, uri->path_len, path);
  int rc;

  coap_options_delete(opt, COAP_OPT_URI_HOST);
  coap_options_delete(opt, COAP_OPT_URI_PORT);
  coap_options_delete(opt, COAP_OPT_URI_PATH);
  coap_options_delete(opt, COAP_OPT_URI_QUERY);
  /* Step 5: an IP literal is never sent as Uri-Host; the request goes to
   * that address, which says it all. */
  if (set_uri_host && !uri->host_is_ip) {
    rc = coap_options_add(opt, COAP_OPT_URI_HOST, uri->host, strlen(uri->host));
    if (rc != 0)
      return rc;
  }
  /* Step 8: a path of "" or "/" gives no Uri-Path; otherwise every segment
   * after the leading '/' does, the empty last one of "/a/" included. */
  if (path_len > 1 || (path_len == 1 && path[0] != '/')) {
    size_t skip = path[0] == '/';
    rc = add_decoded_pieces(opt, COAP_OPT_URI_PATH, path + skip,
                            path_len - skip, '/', decode_buf);
    if (rc != 0)
      return rc;
  }
  /* Step 9: the query splits at '&'; an empty one gives no Uri-Query. */
  if (uri->query != NULL && uri->query_len > 0)
    return add_decoded_pieces(opt, COAP_OPT_URI_QUERY, uri->query,
                              uri->query_len, '&', decode_buf);
  return 0;
}

int coap_message_set_request_uri(coap_message *msg, const char *uri,
                                 bool set_uri_host) {
  coap_uri parsed;
  char *unresolved;
  char *scratch;
  size_t host_len;
  int rc;

  if (msg == NULL || uri == NULL)
    return COAP_EINVAL;
  rc = coap_uri_parse(uri, &parsed);
  if (rc != 0)
    return rc;
  /* RFC 3986 §3.2.2: the host is case-insensitive; RFC 7252 §6.4 step 5
   * sends it lower-cased.  A zone names an interface and keeps its case. */
  host_len = strcspn(parsed.host, parsed.host_is_ip ? "%" : "");
  lowercase_ascii(parsed.host, host_len);

  unresolved = format_unresolved(&parsed);
  if (unresolved == NULL)
    return COAP_ENOMEM;
  /* Everything fallible but the option adds comes first, so most failures
   * leave the message as it was. */
  scratch = coap__malloc(2 * (parsed.path_len + parsed.query_len) + 2);
  if (scratch == NULL) {
    coap__free(unresolved);
    return COAP_ENOMEM;
  }
  rc = set_uri_options(&msg->opt, &parsed, set_uri_host, scratch);
  coap__free(scratch);
  if (rc != 0) {
    coap__free(unresolved);
    return rc;
  }
  coap__free(msg->unresolved_remote);
  msg->unresolved_remote = unresolved;
  return 0;
}

const char *coap_message_get_unresolved_remote(const coap_message *msg) {
  return msg != NULL ? msg->unresolved_remote : NULL;
}

int coap_message_set_unresolved_remote(coap_message *msg, const char *uri) {
  char *copy = NULL;

  if (msg == NULL)
    return COAP_EINVAL;
  if (uri != NULL) {
    copy = coap__strdup(uri);
    if (copy == NULL)
      return COAP_ENOMEM;
  }
  coap__free(msg->unresolved_remote);
  msg->unresolved_remote = copy;
  return 0;
}
