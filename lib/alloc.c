#include "alloc-internal.h"

#include <aiocoap/common.h>
#include <aiocoap/error.h>

#include <stdlib.h>
#include <string.h>

/* The allocator hooks are the library's only global mutable state
 * (STYLE.md: "no global mutable state beyond the allocator hooks"). */
static struct {
  coap_malloc_func malloc_func;
  coap_realloc_func realloc_func;
  coap_calloc_func calloc_func;
  coap_free_func free_func;
} allocator = {malloc, realloc, calloc, free};

int coap_replace_allocator(coap_malloc_func malloc_func,
                           coap_realloc_func realloc_func,
                           coap_calloc_func calloc_func,
                           coap_free_func free_func) {
  if (malloc_func == NULL || realloc_func == NULL || calloc_func == NULL ||
      free_func == NULL)
    return COAP_EINVAL;
  allocator.malloc_func = malloc_func;
  allocator.realloc_func = realloc_func;
  allocator.calloc_func = calloc_func;
  allocator.free_func = free_func;
  return 0;
}

void *coap__malloc(size_t size) {
  if (size == 0)
    size = 1;
  return allocator.malloc_func(size);
}

void *coap__calloc(size_t count, size_t size) {
  if (count == 0 || size == 0)
    count = size = 1;
  return allocator.calloc_func(count, size);
}

void *coap__realloc(void *ptr, size_t size) {
  if (size == 0)
    size = 1;
  return allocator.realloc_func(ptr, size);
}

void coap__free(void *ptr) {
  if (ptr != NULL)
    allocator.free_func(ptr);
}

char *coap__strndup(const char *s, size_t n) {
  char *copy = coap__malloc(n + 1);
  if (copy == NULL)
    return NULL;
  memcpy(copy, s, n);
  copy[n] = '\0';
  return copy;
}

char *coap__strdup(const char *s) {
  return coap__strndup(s, strlen(s));
}
