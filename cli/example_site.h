/*
 * The example server's resources (aiocoap's server.py), shared by
 * aiocoap-server and the server fuzz target so that fuzzing drives the
 * resources users run, not a copy of them.
 *
 *   /.well-known/core   RFC 6690 resource discovery
 *   /time               the current time, observable: while it has
 *                       observers it notifies them once a second
 *   /other/block        a larger text that GET reads and PUT replaces
 *   /other/separate     answers after 3 seconds, as a separate response
 */
#ifndef AIOCOAP_CLI_EXAMPLE_SITE_H
#define AIOCOAP_CLI_EXAMPLE_SITE_H

#include <aiocoap/aiocoap.h>

typedef struct example_site example_site;

/* The resources on a new site, with timers on loop.  0, or a COAP_E*
 * code. */
int example_site_new(uv_loop_t *loop, example_site **out);
/* The site to serve (borrowed: owned by the example site). */
coap_site *example_site_site(example_site *site);
/* Closes the timers and frees everything; call once the server context
 * has shut down, then run the loop so the handles finish closing. */
void example_site_free(example_site *site);

#endif
