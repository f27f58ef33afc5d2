/*
 * The coap transport (RFC 7252 over plain UDP): a coap__udp6 socket seen
 * through transport.h.
 */
#ifndef AIOCOAP_UDP_H
#define AIOCOAP_UDP_H

#include "transports/transport.h"
#include "transports/udp6.h"

/* Opens the socket bound to bind_addr ([::]:0 when NULL); batch and
 * max_datagram as coap__udp6_open.  Returns 0 or what coap__udp6_open
 * does. */
int coap__udp_open(uv_loop_t *loop, const struct sockaddr_in6 *bind_addr,
                   uint32_t batch, uint32_t max_datagram,
                   const coap__transport_callbacks *callbacks,
                   void *user_data, coap__transport **out);

/* The socket under a transport coap__udp_open made (for its buffers and
 * the tests' send filters); NULL for any other transport. */
coap__udp6 *coap__udp_socket(coap__transport *t);

#endif
