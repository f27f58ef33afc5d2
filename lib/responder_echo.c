/*
 * RFC 9175 §2.4 (Echo for amplification mitigation), with
 * coap_context_config.echo_first_response: a request from a peer the
 * message layer has not validated, whose response would be larger than
 * amplification_factor times the request, is answered 4.01 Unauthorized
 * with an Echo option instead (RFC 9175 §2.3: a 4.01 carrying Echo asks
 * the client to repeat the request with it).  The request repeated with
 * that value proves the client receives at its address: the peer is
 * validated (coap__mm_peer_validate) and served in full.
 *
 * The Echo value is stateless: 8 bytes of SipHash, under a key only this
 * context knows, of the peer's address, port and scope and a 60-second
 * window number.  A value from the current or the previous window is
 * accepted, so it stays valid between 60 and 120 seconds (RFC 9175 §2.2
 * leaves freshness to the server).  The decision is made after render,
 * when the response's size is known: a challenged request is rendered
 * again when it is repeated, which is the price of keeping no state.
 */
#include "context-internal.h"
#include "hash-internal.h"
#include "message-internal.h"
#include "responder-internal.h"

#include <aiocoap/error.h>

#include <string.h>

#define ECHO_WINDOW_MS 60000u
#define ECHO_LEN 8

static void echo_value(const coap_context *ctx, const coap_remote *remote,
                       uint64_t window, uint8_t out[ECHO_LEN]) {
  uint8_t input[16 + 2 + 4 + 8];
  const struct sockaddr_in6 *a = &remote->addr;
  memcpy(input, &a->sin6_addr, 16);
  memcpy(input + 16, &a->sin6_port, 2);
  memcpy(input + 18, &a->sin6_scope_id, 4);
  memcpy(input + 22, &window, 8);
  uint64_t h = coap__siphash(&ctx->echo_key, input, sizeof input);
  memcpy(out, &h, ECHO_LEN);
}

static bool echo_valid(const coap_context *ctx, const coap_message *req,
                       uint64_t now) {
  const uint8_t *value;
  size_t len;
  if (coap_options_get_opaque(&req->opt, COAP_OPT_ECHO, &value, &len) < 0 ||
      len != ECHO_LEN)
    return false;
  /* This window's value, or the previous one's. */
  const uint64_t window = now / ECHO_WINDOW_MS;
  for (unsigned back = 0; back < 2 && back <= window; back++) {
    uint8_t expect[ECHO_LEN];
    echo_value(ctx, &req->remote, window - back, expect);
    if (memcmp(expect, value, ECHO_LEN) == 0)
      return true;
  }
  return false;
}

bool coap__responder_echo(coap__responder *r) {
  coap_context *ctx = r->ctx;
  const uint32_t factor = ctx->config.amplification_factor;
  const coap_message *req = &r->request;
  if (!ctx->config.echo_first_response || factor == 0 ||
      coap__mm_peer_validated(ctx->mm, &req->remote))
    return false;
  const uint64_t now = coap__context_now(ctx);
  if (echo_valid(ctx, req, now)) {
    coap__mm_peer_validate(ctx->mm, &req->remote, now);
    ctx->stats.echo_validated++;
    return false;
  }
  const size_t request_size = coap_message_encoded_size(req);
  coap_message *resp = &r->response;
  /* The token is not set yet: count it as the request's. */
  if (coap_message_encoded_size(resp) + req->token_len <=
      (uint64_t)factor * request_size)
    return false;
  uint8_t value[ECHO_LEN];
  echo_value(ctx, &req->remote, now / ECHO_WINDOW_MS, value);
  coap__message_reset(resp);
  resp->code = COAP_CODE_UNAUTHORIZED;
  if (coap_options_add(&resp->opt, COAP_OPT_ECHO, value, sizeof value) < 0)
    return false;
  ctx->stats.echo_challenges++;
  return true;
}
