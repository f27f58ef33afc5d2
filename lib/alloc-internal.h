/* Internal allocation entry points: every library allocation goes here so
 * coap_replace_allocator (and the fail-Nth-malloc tests) see it. */
#ifndef AIOCOAP_ALLOC_INTERNAL_H
#define AIOCOAP_ALLOC_INTERNAL_H

#include <stddef.h>

void *coap__malloc(size_t size);
void *coap__calloc(size_t count, size_t size);
void *coap__realloc(void *ptr, size_t size);
void coap__free(void *ptr);
/* strdup through the hooks; NULL on allocation failure. */
char *coap__strdup(const char *s);
char *coap__strndup(const char *s, size_t n);

#define coap__container_of(ptr, type, member)                                  \
  ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
