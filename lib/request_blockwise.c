/*
 * RFC 7959 on the client side of a request.  (Issue 4 completes this:
 * Block1 uploads and Block2 downloads; until then every request goes out
 * whole and the first response is final.)
 */
#include "alloc-internal.h"
#include "request-internal.h"

int coap__request_blockwise_start(coap_request *req) {
  return coap__request_send(req, req->msg);
}

void coap__request_blockwise_response(coap_request *req, coap_message *msg) {
  coap__request_finish_with(req, msg);
}

void coap__request_blockwise_free(coap_request *req) { (void)req; }
