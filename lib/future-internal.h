/*
 * The per-loop scheduler behind coap_future: a uv_check_t that runs queued
 * done callbacks after each poll and a uv_idle_t that keeps poll from
 * blocking while callbacks wait.  Found again from a loop by uv_walk (the
 * library keeps no global state); a context holds a reference so the
 * scheduler, and its free list of futures, lives as long as the context.
 */
#ifndef AIOCOAP_FUTURE_INTERNAL_H
#define AIOCOAP_FUTURE_INTERNAL_H

#include <aiocoap/future.h>

typedef struct coap__scheduler coap__scheduler;

/* The loop's scheduler, created when missing, with a reference for the
 * caller.  0 or COAP_ENOMEM. */
int coap__scheduler_acquire(uv_loop_t *loop, coap__scheduler **out);
/* Drops a reference; the last one closes the handles (freed from the loop). */
void coap__scheduler_release(coap__scheduler *scheduler);

#endif
