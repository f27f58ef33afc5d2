/*
 * The insides of a responder, shared by responder.c (dispatch, answer) and
 * responder_blockwise.c (RFC 7959 on the server side, issue 4).
 */
#ifndef AIOCOAP_RESPONDER_INTERNAL_H
#define AIOCOAP_RESPONDER_INTERNAL_H

#include "context-internal.h"

typedef struct coap__responder {
  coap__owner_kind kind; /* first: the message layer's owner tag */
  coap_context *ctx;
  coap__queue link; /* ctx->responders while waiting, else the pool */
  coap__mm_incoming in;
  coap_message request;
  coap_message response;
  coap_future *later;
} coap__responder;

int coap__responder_dispatch(coap__responder *r);
int coap__responder_send(coap__responder *r);

#endif
