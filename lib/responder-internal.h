/*
 * The insides of a responder, shared by responder.c (dispatch, answer) and
 * responder_blockwise.c (RFC 7959 on the server side, issue 4).
 * observation_server.c makes each notification in a responder of its own
 * (coap__responder_dispatch and the blockwise functions below), so that it
 * is rendered and sliced exactly as a response is.
 */
#ifndef AIOCOAP_RESPONDER_INTERNAL_H
#define AIOCOAP_RESPONDER_INTERNAL_H

#include "context-internal.h"

/* The request's cache key (RFC 7252 §5.4.6) kept for Block2 caching
 * (responder_blockwise.c); a longer key is not cached. */
#define COAP__BLOCKWISE_KEY_MAX 256

/* What responder_blockwise.c knows of one request between its arrival and
 * the response. */
typedef struct coap__responder_blockwise {
  bool assembly;     /* the resource wants whole bodies (RFC 7959 here) */
  bool block1_final; /* the last block of an upload: echo it (§2.3) */
  bool has_block2;   /* the request asked for a block of the response */
  bool size2;        /* the request asked for Size2 (RFC 7959 §4) */
  coap_block block1, block2;
  const void *cached; /* the representation a block is served from */
  /* The resource the site routes the request to (a reference, or NULL),
   * for telling whether a kept representation is still current. */
  coap_resource *resource;
  size_t key_len;     /* 0 when the key did not fit */
  uint8_t key[COAP__BLOCKWISE_KEY_MAX];
} coap__responder_blockwise;

typedef struct coap__responder {
  coap__owner_kind kind; /* first: the message layer's owner tag */
  coap_context *ctx;
  coap__queue link; /* ctx->responders while waiting, else the pool */
  coap__mm_incoming in;
  coap_message request;
  coap_message response;
  coap_future *later;
  coap__timer leisure; /* holding a multicast answer back (RFC 7252 §8.2) */
  coap__responder_blockwise bw;
} coap__responder;

int coap__responder_dispatch(coap__responder *r);
/* responder_echo.c (RFC 9175 §2.4): with echo_first_response, validates
 * the peer of a request carrying a valid Echo, or replaces a response too
 * large for an unvalidated peer with 4.01 and an Echo (true). */
bool coap__responder_echo(coap__responder *r);
int coap__responder_send(coap__responder *r);

/* responder_blockwise.c: RFC 7959 for resources that want whole bodies. */
/* Forgets the previous request's state (a responder from the pool). */
void coap__responder_blockwise_init(coap__responder *r);
/*
 * Before rendering: a Block1 block is collected (answered 2.31 Continue,
 * 4.08, 4.13 or 5.03) or, the last one, becomes the request's whole body;
 * a later Block2 block of a representation still kept is served without
 * rendering.  Returns 1 when r->response is the answer, 0 to render.
 */
int coap__responder_blockwise_request(coap__responder *r);
/* Before sending: slices a response too large for one block (§2.4) and
 * echoes the last Block1 (§2.3). */
void coap__responder_blockwise_response(coap__responder *r);
/* When r goes back to the pool: gives back bodies larger than a datagram. */
void coap__responder_blockwise_release(coap__responder *r);

#endif
