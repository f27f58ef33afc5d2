/*
 * aiocoap-plugtest-server's resources: the ETSI CoAP#4 plugtest set
 * (TD_COAP_CORE, TD_COAP_LINK, TD_COAP_BLOCK, TD_COAP_OBS), one file per
 * group (plugtest_core.c, plugtest_separate.c, plugtest_block.c,
 * plugtest_observe.c, plugtest_link.c), put together by plugtest_site.c.
 * The program (plugtest_main.c) and the tests (test/test_plugtest.c) serve
 * the same site.
 */
#ifndef AIOCOAP_CLI_PLUGTEST_H
#define AIOCOAP_CLI_PLUGTEST_H

#include <aiocoap/aiocoap.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct plugtest_config {
  /* How often the observable resources change (default 5000 ms). */
  uint32_t obs_period_ms;
  /* How long /separate takes to answer (default 1500 ms: "one to two
   * seconds"). */
  uint32_t separate_delay_ms;
} plugtest_config;

#define PLUGTEST_OBS_PERIOD_DEFAULT_MS 5000u
#define PLUGTEST_SEPARATE_DELAY_DEFAULT_MS 1500u
/* Resources /large-create keeps at once; the oldest goes for a new one. */
#define PLUGTEST_LARGE_CREATE_MAX 16u
/* Largest representation a PUT or POST may store (bytes); larger ones are
 * refused with 4.13 (the context's max_body_size bounds uploads too). */
#define PLUGTEST_BODY_MAX (64u * 1024u)

void plugtest_config_default(plugtest_config *config);

/* A stored representation: what PUT and POST leave behind. */
typedef struct plugtest_body {
  uint8_t *data; /* malloc'd; NULL when len is 0 */
  size_t len;
  uint16_t cf;
  bool has_cf;
} plugtest_body;

/* Copies the request's payload and Content-Format into body.  0,
 * COAP_EREQUEST_ENTITY_TOO_LARGE (beyond PLUGTEST_BODY_MAX) or
 * COAP_ENOMEM; body is unchanged on failure. */
int plugtest_body_set(plugtest_body *body, const coap_message *request);
void plugtest_body_clear(plugtest_body *body);
/* Puts body into response (borrowed: the body must not change before the
 * response is sent, which holds for answers given at once) with its
 * Content-Format, text/plain when it has none. */
void plugtest_body_answer(const plugtest_body *body, coap_message *response);

typedef struct plugtest_site plugtest_site;

/*
 * Makes every resource of the set on loop.  config is copied (NULL for
 * the defaults).  The observable resources start changing at once.  0,
 * COAP_EINVAL or COAP_ENOMEM.
 */
int plugtest_site_new(uv_loop_t *loop, const plugtest_config *config,
                      plugtest_site **out);
/* The site to serve (borrowed; take a reference to keep it). */
coap_site *plugtest_site_site(plugtest_site *s);
/* The resource at path ("obs", "large-create/3"), borrowed; NULL for
 * none.  For tests and logs. */
coap_resource *plugtest_site_resource(plugtest_site *s, const char *path);
/*
 * Stops the timers, drops the site and frees everything once the loop has
 * closed the handles (run the loop afterwards).  Shut the context serving
 * the site down first.  NULL is ignored.
 */
void plugtest_site_free(plugtest_site *s);

/* ---- what the group files share with plugtest_site.c ---- */

typedef struct plugtest_core plugtest_core;
typedef struct plugtest_separate plugtest_separate;
typedef struct plugtest_block plugtest_block;
typedef struct plugtest_observe plugtest_observe;

struct plugtest_site {
  uv_loop_t *loop;
  plugtest_config config;
  coap_site *site;
  plugtest_core *core;
  plugtest_separate *separate;
  plugtest_block *block;
  plugtest_observe *observe;
  unsigned closing; /* handles still closing; freed at 0 */
};

/* Adds a resource made from methods at path, with attrs (may be NULL);
 * observable when observable is true.  *out (may be NULL) borrows it from
 * the site.  0, COAP_EINVAL or COAP_ENOMEM. */
int plugtest_add(plugtest_site *s, const char *path,
                 const coap_resource_methods *methods, void *data,
                 const coap_link_attributes *attrs, bool observable,
                 coap_resource **out);
/* A handle of s was closed: frees s with the last one. */
void plugtest_handle_closed(plugtest_site *s);

/* Each group adds its resources (0 or an error; what it added so far is
 * freed with the site) and frees its own state. */
int plugtest_core_add(plugtest_site *s);
void plugtest_core_free(plugtest_site *s);
int plugtest_separate_add(plugtest_site *s);
/* Closes the timers of answers still pending (each counted in closing). */
void plugtest_separate_free(plugtest_site *s);
int plugtest_block_add(plugtest_site *s);
void plugtest_block_free(plugtest_site *s);
int plugtest_observe_add(plugtest_site *s);
void plugtest_observe_free(plugtest_site *s);
int plugtest_link_add(plugtest_site *s);

#endif
