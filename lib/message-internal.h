/*
 * Message operations the library needs and applications do not: sharing a
 * heap message between futures, moving one without copying what it
 * borrows, and resetting one for reuse without giving its buffers back.
 */
#ifndef AIOCOAP_MESSAGE_INTERNAL_H
#define AIOCOAP_MESSAGE_INTERNAL_H

#include <aiocoap/message.h>

/* One more owner for a heap message: each coap_message_free drops one. */
coap_message *coap__message_ref(coap_message *msg);

/*
 * Moves src into dst (dst's old content is cleared first) without copying
 * values: borrowed ones stay borrowed, inline ones are re-pointed at dst's
 * inline storage.  src is left initialised and empty.
 */
void coap__message_move(coap_message *dst, coap_message *src);

/* Empties msg for reuse (as coap_message_init) but keeps its payload
 * buffer, so a pooled message allocates nothing in steady state. */
void coap__message_reset(coap_message *msg);

/* Removes the first k Uri-Path options, keeping the rest in order (a site
 * handing the remainder to a path-capable resource, a subresource
 * redirector stripping its prefix).  Nothing happens when k is 0 or more
 * than there are.  0 or COAP_ENOMEM. */
int coap__message_strip_uri_path(coap_message *msg, size_t k);

#endif
