/*
 * Resources and requests shared by the resource-module tests
 * (test_resource.c: resources and sites; test_linkformat.c: link format,
 * /.well-known/core and hashing ETags).
 */
#ifndef AIOCOAP_TEST_RESOURCE_FIXTURE_H
#define AIOCOAP_TEST_RESOURCE_FIXTURE_H

#include "test_common.h"

/* What a recording renderer saw. */
typedef struct seen {
  int calls;
  char path[4096];
  int destroyed;
} seen;

int render_text(coap_resource *r, coap_message *request, coap_message *response,
                coap_future **later);
int render_record(coap_resource *r, coap_message *request,
                  coap_message *response, coap_future **later);
int render_created(coap_resource *r, coap_message *request,
                   coap_message *response, coap_future **later);
int render_forbidden(coap_resource *r, coap_message *request,
                     coap_message *response, coap_future **later);
void destroy_record(coap_resource *r);

/* GET answering the resource's user_data string. */
extern const coap_resource_methods text_get;
/* Every method recorded into a seen. */
extern const coap_resource_methods all_methods;
extern const coap_resource_vtable record_vtable;

coap_resource *text_resource(const char *text);
coap_resource *record_resource(seen *s, bool path_capable);
/* Adds r at path and drops the caller's reference: the site keeps it. */
void add(coap_site *site, const char *path, coap_resource *r);
void request_init(coap_message *req, uint8_t code, const char *path);
/* Renders a request for path through site, synchronously. */
int render_path(coap_site *site, uint8_t code, const char *path,
                coap_message *response);
void expect_payload(const coap_message *m, const char *text);

#endif
