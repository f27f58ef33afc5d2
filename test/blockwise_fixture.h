/*
 * What the blockwise tests share: a resource holding a body of patterned
 * bytes, a server and a client context with a configuration each, and
 * requests with or without the client's blockwise handling.
 */
#ifndef AIOCOAP_TEST_BLOCKWISE_FIXTURE_H
#define AIOCOAP_TEST_BLOCKWISE_FIXTURE_H

#include "context_fixture.h"

/* A resource holding a body: GET gives it, PUT replaces it, POST echoes the
 * request body; every render is counted.  data is malloc'd. */
typedef struct blob {
  uint8_t *data;
  size_t len;
  int renders;
} blob;

extern const coap_resource_methods blob_methods;

/* Byte i of the test pattern, and len bytes of it (malloc'd). */
uint8_t pattern_byte(size_t i);
uint8_t *pattern(size_t len);
/* Fails the test unless m's payload is the first len bytes of the pattern. */
void payload_is_pattern(const coap_message *m, size_t len);
/* Makes b hold the first len bytes of the pattern. */
void blob_set(blob *b, size_t len);

/* The defaults, with room for 2 MiB bodies. */
void config_for_test(coap_context_config *c);
/* fixture_start with a configuration for each side. */
void start_pair(fixture *fx, const coap_context_config *server,
                const coap_context_config *client);
/* start_pair with config_for_test on both sides and b at /blob. */
void start(fixture *fx, blob *b);
/* fixture_stop, then frees b's body. */
void stop(fixture *fx, blob *b);
uint64_t requests_handled(const fixture *fx);

/* fixture_request with request parameters (NULL for the defaults),
 * waiting at most limit_ms of loop time; a request still pending then is
 * cancelled and COAP_EAGAIN returned. */
int request_within(fixture *fx, coap_message *msg,
                   const coap_request_params *params, coap_message **resp,
                   uint64_t limit_ms);
/* request_within 20 s, failing the test when the request did not end. */
int request_with(fixture *fx, coap_message *msg,
                 const coap_request_params *params, coap_message **resp);
/* A request sent as it is, its first response delivered raw
 * (handle_blockwise false). */
int raw_request(fixture *fx, coap_message *msg, coap_message **resp);

#endif
