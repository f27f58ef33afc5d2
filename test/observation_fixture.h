/*
 * Shared by the Observe tests: an observable resource whose state a test
 * sets, counters of what the server saw, and helpers that drive the loop
 * until a future, a count or a datagram arrives.
 */
#ifndef AIOCOAP_TEST_OBSERVATION_FIXTURE_H
#define AIOCOAP_TEST_OBSERVATION_FIXTURE_H

#include "context_fixture.h"

#include <netinet/in.h>
#include <sys/types.h>

/* The observed resource's representation and what it saw. */
extern char state[4096];
extern size_t state_len;
extern size_t observers_now; /* from update_observation_count */
extern int count_calls;
extern int observe0_renders; /* renders with Observe 0 (registrations and the
                                notifications made from them) */
extern int deregistrations;  /* GETs rendered with Observe 1 */
extern uint32_t max_age;     /* 0: no Max-Age option */
extern bool gone;            /* render fails with 4.04 */

void set_state(const char *text);
int state_get(coap_resource *res, coap_message *req, coap_message *resp,
              coap_future **later);
void on_count(coap_resource *res, size_t n);
void reset_resource_state(void);
/* An observable resource rendering state, at path (the site holds it). */
coap_resource *add_observable(fixture *fx, const char *path);

/* Runs the loop until f is done or limit_ms pass; true when done.  When
 * time runs out, the test's log names the future's expression and where
 * it was waited for. */
bool wait_future_at(fixture *fx, coap_future *f, uint64_t limit_ms,
                    const char *what, const char *file, int line);
#define wait_future(fx, f, limit_ms)                                           \
  wait_future_at(fx, f, limit_ms, #f, __FILE__, __LINE__)
/* Runs until the observer count is want; logs the count it ended with
 * when limit_ms ran out. */
void wait_observers(fixture *fx, size_t want, uint64_t limit_ms);
void run_for(fixture *fx, uint64_t ms);
void payload_is(const coap_message *m, const char *text);
/* Sends GET path with Observe 0 and waits for the first response. */
coap_request *observe(fixture *fx, const char *path, coap_observation **obs);
const coap_message *first_response(coap_request *req);
/* The next notification (the future's reference is the caller's). */
coap_future *next_notification(fixture *fx, coap_observation *obs,
                               uint64_t limit_ms);
/* Runs the loop until a datagram arrives on fd; its length or -1. */
ssize_t raw_recv_from(int fd, fixture *fx, uint8_t *buf, size_t cap,
                      struct sockaddr_in6 *from);

#endif
