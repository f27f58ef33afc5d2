/*
 * libFuzzer target for what a proxy does with a peer's message before and
 * after it goes upstream: the request is prepared by a forward proxy and by
 * a reverse proxy with every redirector kind (Proxy-Uri and Proxy-Scheme
 * parsing, Hop-Limit, the unsafe-option check, destination rewriting), the
 * response is translated back (RFC 7252 §5.7 option rules), and both go
 * through the response cache (key and URI building from arbitrary options,
 * storing, freshness, revalidation, invalidation, eviction at small
 * bounds).  Nothing may crash, leak or trip a sanitizer.
 *
 * Input: [n][n bytes: request datagram][response datagram]; the last byte
 * also sets the clock steps.
 */
#include <aiocoap/aiocoap.h>
#include <aiocoap/proxy.h>

#include "proxy-internal.h"
#include "response_cache-internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static coap_context *outgoing;
static coap_proxy *forward_proxy, *reverse_proxy;

static void add(coap_proxy *proxy, int rc, coap_redirector *r) {
  if (rc < 0 || coap_proxy_add_redirector(proxy, r) < 0)
    abort();
}

static void setup(void) {
  coap_redirector *r;
  if (uv_loop_init(&loop) < 0 ||
      coap_context_create_client_context(&loop, NULL, &outgoing) < 0 ||
      coap_forward_proxy_new(outgoing, &forward_proxy) < 0 ||
      coap_reverse_proxy_new(outgoing, &reverse_proxy) < 0)
    abort();
  add(forward_proxy,
      coap_subresource_virtual_host_new("local", "[::1]:5683", &r), r);
  add(reverse_proxy,
      coap_name_based_virtual_host_new("a.example", "[::1]:1", true, false,
                                       &r),
      r);
  add(reverse_proxy,
      coap_subdomain_virtual_host_new("example", "h.example:7", true, &r), r);
  add(reverse_proxy, coap_subresource_virtual_host_new("p", "[::1]:2", &r), r);
  add(reverse_proxy, coap_unconditional_redirector_new("[::1]:3", false, &r),
      r);
}

static void prepare_with(coap_proxy *proxy, const coap_message *request) {
  coap_message *m;
  if (coap_message_new(&m) < 0)
    return;
  if (coap_message_copy(m, request) == 0) {
    const char *diag;
    coap__proxy_prepare(proxy, m, &diag);
    if (diag == NULL)
      abort(); /* always a text, empty when there is nothing to say */
  }
  coap_message_free(m);
}

static void through_cache(const coap_message *req, const coap_message *resp,
                          uint8_t steps) {
  coap__cache_config cfg = {.max_entries = 2, .max_bytes = 2048};
  coap__cache *c;
  if (coap__cache_new(&cfg, &c) < 0)
    return;
  const uint8_t scope[] = "[::1]:5683";
  uint64_t now = 0;
  for (int round = 0; round < 3; round++) {
    coap_message served;
    uint8_t etag[8];
    size_t etag_len = 0;
    coap_message_init(&served);
    int r = coap__cache_lookup(c, scope, sizeof scope, req, now, &served,
                               etag, &etag_len);
    if (r == COAP__CACHE_STALE && (etag_len == 0 || etag_len > 8))
      abort();
    coap_message_clear(&served);
    coap_message_init(&served);
    coap__cache_response(c, scope, sizeof scope, req, resp, now, &served);
    coap_message_clear(&served);
    now += (uint64_t)(steps & 0x0f) * 7919;
  }
  coap__cache_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (outgoing == NULL)
    setup();
  if (size < 2)
    return 0;
  size_t n = data[0];
  if (1 + n > size)
    return 0;
  coap_message req, resp;
  coap_message_init(&req);
  coap_message_init(&resp);
  if (coap_message_decode(&req, data + 1, n) == 0 &&
      coap_message_decode(&resp, data + 1 + n, size - 1 - n) == 0) {
    prepare_with(forward_proxy, &req);
    prepare_with(reverse_proxy, &req);
    coap_message_free(coap__proxy_translate(&resp, 0));
    coap_message_free(coap__proxy_translate(NULL, COAP_ETIMEDOUT));
    through_cache(&req, &resp, data[size - 1]);
  }
  coap_message_clear(&req);
  coap_message_clear(&resp);
  return 0;
}
