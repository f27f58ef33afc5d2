/*
 * A server context and a client context on one loop over loopback UDP, for
 * the integration tests.
 */
#ifndef AIOCOAP_TEST_CONTEXT_FIXTURE_H
#define AIOCOAP_TEST_CONTEXT_FIXTURE_H

#include "test_common.h"

typedef struct fixture {
  uv_loop_t loop;
  coap_site *site;
  coap_context *server;
  coap_context *client;
  char base[64]; /* "coap://[::1]:PORT" */
  uint16_t port;
} fixture;

/* Starts both contexts; the site is empty and owned by the fixture. */
void fixture_start(fixture *fx, const coap_context_config *config);
/* Shuts both down, runs the loop dry, frees everything, checks the loop
 * closes. */
void fixture_stop(fixture *fx);
/* The two halves of fixture_stop: shut the contexts down and run the loop;
 * then free the site and check the loop closes. */
void fixture_shutdown(fixture *fx);
void fixture_close(fixture *fx);
/* Adds a methods resource at path. */
coap_resource *fixture_add(fixture *fx, const char *path,
                           const coap_resource_methods *methods, void *data);
/* A request message for base + path. */
coap_message *fixture_message(fixture *fx, uint8_t code, const char *path);
/* Sends msg and waits (at most limit_ms of loop time) for the response
 * future: returns its error (0 when a response came), the response in
 * *resp (a reference the caller frees with coap_message_free) when set. */
int fixture_request(fixture *fx, coap_message *msg, coap_message **resp,
                    uint64_t limit_ms);
/* As fixture_request, with request parameters (NULL for the defaults). */
int fixture_request_params(fixture *fx, coap_message *msg,
                           const coap_request_params *params,
                           coap_message **resp, uint64_t limit_ms);
/* Runs the loop until *flag becomes true or limit_ms passes.  When time
 * runs out with the flag still false, the test's log says where it waited,
 * how long and for what (the flag expression, or what). */
void fixture_run_until_at(fixture *fx, const bool *flag, uint64_t limit_ms,
                          const char *what, const char *file, int line);
#define fixture_run_until(fx, flag, limit_ms)                                  \
  fixture_run_until_at(fx, flag, limit_ms, #flag, __FILE__, __LINE__)
/* The same without the log, for waits that are meant to run out. */
void fixture_run_for_or_until(fixture *fx, const bool *flag,
                              uint64_t limit_ms);

#endif
