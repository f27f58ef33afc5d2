/*
 * aiocoap.proxy.client.ProxyForwarder: sends requests through a forward
 * proxy (RFC 7252 §5.7, §6.4), so that they look to the application as
 * if sent directly.
 */
#include "alloc-internal.h"
#include "request-internal.h"

#include <aiocoap/proxy.h>
#include <aiocoap/util.h>

#include <string.h>

/* RFC 7252 §5.10.2: Proxy-Uri is 1..1034 bytes. */
#define PROXY_URI_MAX 1034

struct coap_proxy_forwarder {
  coap_context *ctx; /* borrowed */
  char remote[300];  /* the proxy, "coap://hostinfo" */
  bool use_proxy_uri;
};

int coap_proxy_forwarder_new(coap_context *ctx, const char *proxy_address,
                             coap_proxy_forwarder **out) {
  if (out == NULL)
    return COAP_EINVAL;
  *out = NULL;
  if (ctx == NULL || proxy_address == NULL)
    return COAP_EINVAL;
  char uri[300];
  /* aiocoap still takes a bare "host[:port]" (deprecated there). */
  int n = strstr(proxy_address, "://") != NULL
              ? snprintf(uri, sizeof uri, "%s", proxy_address)
              : snprintf(uri, sizeof uri, "coap://%s", proxy_address);
  if (n < 0 || (size_t)n >= sizeof uri)
    return COAP_EINVAL;
  coap_uri parsed;
  int rc = coap_uri_parse(uri, &parsed);
  if (rc == COAP_EURI_SCHEME)
    return rc;
  if (rc < 0 || (parsed.path_len > 1) || parsed.query != NULL)
    return COAP_EINVAL;
  if (strcmp(parsed.scheme, "coap") != 0)
    return COAP_EURI_SCHEME;
  coap_proxy_forwarder *fw = coap__calloc(1, sizeof *fw);
  if (fw == NULL)
    return COAP_ENOMEM;
  fw->ctx = ctx;
  char hostinfo[280];
  if (coap_hostportjoin(parsed.host, parsed.port, hostinfo, sizeof hostinfo) <
      0) {
    coap__free(fw);
    return COAP_EINVAL;
  }
  snprintf(fw->remote, sizeof fw->remote, "coap://%s", hostinfo);
  *out = fw;
  return 0;
}

void coap_proxy_forwarder_free(coap_proxy_forwarder *fw) {
  coap__free(fw);
}

void coap_proxy_forwarder_set_use_proxy_uri(coap_proxy_forwarder *fw, bool on) {
  if (fw != NULL)
    fw->use_proxy_uri = on;
}

/* RFC 7252 §6.4 for a proxy: the destination goes into the options. */
static int rewrite(const coap_proxy_forwarder *fw, coap_message *msg,
                   const char *uri) {
  coap_options *opt = &msg->opt;
  int rc;
  if (fw->use_proxy_uri) {
    if (strlen(uri) > PROXY_URI_MAX)
      return COAP_EINVAL;
    coap_options_delete(opt, COAP_OPT_URI_HOST);
    coap_options_delete(opt, COAP_OPT_URI_PORT);
    coap_options_delete(opt, COAP_OPT_URI_PATH);
    coap_options_delete(opt, COAP_OPT_URI_QUERY);
    rc = coap_options_set_string(opt, COAP_OPT_PROXY_URI, uri);
  } else {
    coap_uri dest;
    rc = coap_uri_parse(coap_message_get_unresolved_remote(msg), &dest);
    if (rc < 0)
      return COAP_EINVAL;
    char host[260];
    /* The URI's host as written (RFC 3986 §3.2.2): IPv6 in brackets. */
    if (strchr(dest.host, ':') != NULL)
      snprintf(host, sizeof host, "[%s]", dest.host);
    else
      snprintf(host, sizeof host, "%s", dest.host);
    rc = coap_options_set_string(opt, COAP_OPT_PROXY_SCHEME, dest.scheme);
    if (rc == 0)
      rc = coap_options_set_string(opt, COAP_OPT_URI_HOST, host);
    coap_options_delete(opt, COAP_OPT_URI_PORT);
    if (rc == 0 && dest.port >= 0 && dest.port != COAP_PORT)
      rc = coap_options_set_uint(opt, COAP_OPT_URI_PORT, (uint32_t)dest.port);
  }
  if (rc == 0)
    rc = coap_message_set_unresolved_remote(msg, fw->remote);
  return rc;
}

int coap_proxy_forwarder_request(coap_proxy_forwarder *fw, coap_message *msg,
                                 const coap_request_params *params,
                                 coap_request **out) {
  if (out != NULL)
    *out = NULL;
  if (fw == NULL || msg == NULL || out == NULL) {
    coap_message_free(msg);
    return COAP_EINVAL;
  }
  const char *dest = coap_message_get_unresolved_remote(msg);
  coap_uri parsed;
  char uri[1100];
  int rc = COAP_EINVAL;
  if (dest != NULL && !coap_remote_is_set(&msg->remote) &&
      coap_uri_parse(dest, &parsed) == 0 && strcmp(parsed.scheme, "coap") == 0)
    rc = coap_message_get_request_uri(msg, uri, sizeof uri);
  if (rc >= 0)
    rc = rewrite(fw, msg, uri);
  if (rc < 0) {
    coap_message_free(msg);
    return rc == COAP_ENOSPC ? COAP_EINVAL : rc;
  }
  coap_request *req;
  rc = coap_context_request(fw->ctx, msg, params, &req);
  if (rc < 0)
    return rc;
  /* get_request_uri of the responses: the URI the application asked for,
   * not the proxy's. */
  char *copy = coap__strdup(uri);
  if (copy != NULL) {
    coap__free(req->uri);
    req->uri = copy;
  }
  *out = req;
  return 0;
}
