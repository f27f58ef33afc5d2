/*
 * The rest of a Block2 answer (RFC 7959 §2.4, §2.6, §2.8): given the first
 * block a server sent (in answer to a multicast request, or a notification),
 * asks that server alone for the later blocks by unicast, one after
 * another, and hands on the whole representation as one message.
 */
#ifndef AIOCOAP_BLOCK2_FETCH_INTERNAL_H
#define AIOCOAP_BLOCK2_FETCH_INTERNAL_H

#include "context-internal.h"

typedef struct coap__block2_fetch coap__block2_fetch;

/* The outcome, from the loop (a request's done callback), once: err 0 and
 * whole (taken by the callee: the first block's message with the whole
 * body, without Block2), or an error (COAP_ERESOURCE_CHANGED: a block of
 * another representation, or an unsuccessful answer; the request's error;
 * COAP_EREQUEST_ENTITY_TOO_LARGE beyond max_body_size) and whole NULL. */
typedef void (*coap__block2_fetch_cb)(void *user_data, int err,
                                      coap_message *whole);

/*
 * Starts fetching what follows first (a response with Block2 more=1, block
 * 0) from remote: request is the template (borrowed; copied for each block,
 * without Observe), uri labels the result (borrowed, may be NULL).  0 with
 * *out, or a negative error (then cb never fires).
 */
int coap__block2_fetch_start(coap_context *ctx, const coap_message *request,
                             const coap_remote *remote,
                             const coap_message *first, const char *uri,
                             coap__block2_fetch_cb cb, void *user_data,
                             coap__block2_fetch **out);

/* Stops it: cb does not fire; the record goes when its request ends. */
void coap__block2_fetch_abandon(coap__block2_fetch *fetch);

#endif
