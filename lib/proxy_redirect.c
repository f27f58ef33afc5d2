/*
 * aiocoap.proxy.server's redirectors: where a proxy sends a request that
 * names no destination of its own (a reverse proxy's every request), and
 * aiocoap-proxy's DEST syntax.
 */
#include "alloc-internal.h"
#include "message-internal.h"
#include "proxy-internal.h"

#include <aiocoap/util.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 7252 §5.10: a Uri-Path option is 0..255 bytes. */
#define SEGMENT_MAX 255

typedef enum redirector_kind {
  NAME_BASED,
  SUBDOMAIN,
  SUBRESOURCE,
  UNCONDITIONAL,
} redirector_kind;

struct coap_redirector {
  redirector_kind kind;
  char *match;       /* the name, or the path as "a/b" without leading '/' */
  size_t n_segments; /* SUBRESOURCE: segments of match */
  char remote[COAP__PROXY_TARGET_MAX]; /* "coap://hostinfo" */
  char host[256];                      /* the target's host, for '!' */
  bool rewrite_uri_host;
  bool use_as_proxy;
};

/* Reads "host[:port]" or "coap://host[:port]" into the redirector. */
static int parse_target(coap_redirector *r, const char *target) {
  if (target == NULL || target[0] == '\0')
    return COAP_EINVAL;
  if (strncasecmp(target, "coap://", 7) == 0)
    target += 7;
  if (target[0] == '\0' || strchr(target, '/') != NULL)
    return COAP_EINVAL;
  int port;
  int rc = coap_hostportsplit(target, r->host, sizeof r->host, &port);
  if (rc < 0 || r->host[0] == '\0')
    return COAP_EINVAL;
  char hostinfo[COAP__PROXY_TARGET_MAX - 7];
  rc = coap_hostportjoin(r->host, port, hostinfo, sizeof hostinfo);
  if (rc < 0)
    return COAP_EINVAL;
  snprintf(r->remote, sizeof r->remote, "coap://%s", hostinfo);
  return 0;
}

static int make(redirector_kind kind, const char *match, const char *target,
                bool rewrite, bool as_proxy, coap_redirector **out) {
  if (out == NULL)
    return COAP_EINVAL;
  *out = NULL;
  coap_redirector *r = coap__calloc(1, sizeof *r);
  if (r == NULL)
    return COAP_ENOMEM;
  r->kind = kind;
  r->rewrite_uri_host = rewrite;
  r->use_as_proxy = as_proxy;
  int rc = parse_target(r, target);
  if (rc == 0 && match != NULL) {
    r->match = coap__strdup(match);
    if (r->match == NULL)
      rc = COAP_ENOMEM;
  }
  if (rc < 0) {
    coap_redirector_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

int coap_name_based_virtual_host_new(const char *match_name, const char *target,
                                     bool rewrite_uri_host, bool use_as_proxy,
                                     coap_redirector **out) {
  if (match_name == NULL || match_name[0] == '\0')
    return COAP_EINVAL;
  return make(NAME_BASED, match_name, target, rewrite_uri_host, use_as_proxy,
              out);
}

int coap_subdomain_virtual_host_new(const char *match_name, const char *target,
                                    bool use_as_proxy, coap_redirector **out) {
  if (match_name == NULL || match_name[0] == '\0')
    return COAP_EINVAL;
  return make(SUBDOMAIN, match_name, target, false, use_as_proxy, out);
}

int coap_subresource_virtual_host_new(const char *path, const char *target,
                                      coap_redirector **out) {
  if (path == NULL)
    return COAP_EINVAL;
  if (path[0] == '/')
    path++;
  size_t n = 0;
  for (const char *p = path; *p != '\0';) {
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (len > SEGMENT_MAX)
      return COAP_EINVAL;
    n++;
    if (slash == NULL)
      break;
    p = slash + 1;
    if (*p == '\0')
      n++; /* "a/" ends in an empty segment */
  }
  int rc = make(SUBRESOURCE, path, target, false, false, out);
  if (rc == 0)
    (*out)->n_segments = n;
  return rc;
}

int coap_unconditional_redirector_new(const char *target, bool use_as_proxy,
                                      coap_redirector **out) {
  return make(UNCONDITIONAL, NULL, target, false, use_as_proxy, out);
}

void coap_redirector_free(coap_redirector *redirector) {
  if (redirector == NULL)
    return;
  coap__free(redirector->match);
  coap__free(redirector);
}

static bool host_matches(const coap_redirector *r, const coap_message *msg) {
  const uint8_t *value;
  size_t len;
  if (coap_options_get_opaque(&msg->opt, COAP_OPT_URI_HOST, &value, &len) < 0)
    return false;
  size_t mlen = strlen(r->match);
  if (r->kind == NAME_BASED)
    return len == mlen && strncasecmp((const char *)value, r->match, len) == 0;
  /* SUBDOMAIN: anything.NAME */
  return len > mlen + 1 && value[len - mlen - 1] == '.' &&
         strncasecmp((const char *)value + (len - mlen), r->match, mlen) == 0;
}

/* Whether the first n_segments of Uri-Path are r->match's. */
static bool path_matches(const coap_redirector *r, const coap_message *msg) {
  const char *p = r->match;
  for (size_t i = 0; i < r->n_segments; i++) {
    const coap_option *o =
        coap_options_get_nth(&msg->opt, COAP_OPT_URI_PATH, i);
    if (o == NULL)
      return false;
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    if (o->len != len || (len > 0 && memcmp(o->value, p, len) != 0))
      return false;
    p = slash ? slash + 1 : p + len;
  }
  return true;
}

/* Writes the message's unresolved remote, if any, into Uri-Host (an IPv6
 * literal bracketed, as in a URI) and Uri-Port. */
static int destination_to_options(coap_message *msg) {
  const char *remote = coap_message_get_unresolved_remote(msg);
  coap_uri dest;
  if (remote == NULL || coap_uri_parse(remote, &dest) < 0)
    return 0;
  char host[260];
  if (strchr(dest.host, ':') != NULL)
    snprintf(host, sizeof host, "[%s]", dest.host);
  else
    snprintf(host, sizeof host, "%s", dest.host);
  int rc = coap_options_set_string(&msg->opt, COAP_OPT_URI_HOST, host);
  coap_options_delete(&msg->opt, COAP_OPT_URI_PORT);
  if (rc == 0 && dest.port >= 0 && dest.port != COAP_PORT)
    rc = coap_options_set_uint(&msg->opt, COAP_OPT_URI_PORT,
                               (uint32_t)dest.port);
  return rc;
}

int coap_redirector_apply(const coap_redirector *r, coap_message *msg) {
  if (r == NULL || msg == NULL)
    return COAP_EINVAL;
  bool match;
  switch (r->kind) {
  case NAME_BASED:
  case SUBDOMAIN:
    match = host_matches(r, msg);
    break;
  case SUBRESOURCE:
    match = path_matches(r, msg);
    break;
  default:
    match = true;
  }
  if (!match)
    return 0;
  int rc = 0;
  if (r->kind == SUBRESOURCE)
    rc = coap__message_strip_uri_path(msg, r->n_segments);
  /* RFC 7252 §5.10.2: the next hop is a forward proxy; the request keeps
   * its Uri-Host for it, and a destination already decided (a forward
   * proxy's) goes with it as Uri-Host and Uri-Port. */
  if (rc == 0 && r->use_as_proxy)
    rc = destination_to_options(msg);
  if (rc == 0 && r->use_as_proxy)
    rc = coap_options_set_string(&msg->opt, COAP_OPT_PROXY_SCHEME, "coap");
  if (rc == 0 && r->rewrite_uri_host)
    rc = coap_options_set_string(&msg->opt, COAP_OPT_URI_HOST, r->host);
  if (rc == 0)
    rc = coap_message_set_unresolved_remote(msg, r->remote);
  return rc < 0 ? rc : 1;
}

int coap__proxy_redirect(const coap_proxy *proxy, coap_message *msg) {
  for (size_t i = 0; i < proxy->n_redirectors; i++) {
    int rc = coap_redirector_apply(proxy->redirectors[i], msg);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int coap_proxy_parse_destination(const char *dest, char *target, size_t cap,
                                 bool *rewrite_uri_host, bool *use_as_proxy) {
  if (dest == NULL || target == NULL || rewrite_uri_host == NULL ||
      use_as_proxy == NULL)
    return COAP_EINVAL;
  *rewrite_uri_host = *use_as_proxy = false;
  /* aiocoap's destsplit: '!' first, then '@'. */
  if (dest[0] == '!') {
    *rewrite_uri_host = true;
    dest++;
  }
  if (dest[0] == '@') {
    *use_as_proxy = true;
    dest++;
  }
  coap_redirector probe;
  memset(&probe, 0, sizeof probe);
  int rc = parse_target(&probe, dest);
  if (rc < 0)
    return rc;
  size_t len = strlen(dest);
  if (len >= cap)
    return COAP_ENOSPC;
  memcpy(target, dest, len + 1);
  return 0;
}
