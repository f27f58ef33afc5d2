/*
 * aiocoap-c — common definitions shared by every public header.
 */
#ifndef AIOCOAP_COMMON_H
#define AIOCOAP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define AIOCOAP_EXTERN __attribute__((visibility("default")))
#else
#define AIOCOAP_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Allocator hooks, in the manner of uv_replace_allocator().  Every allocation
 * the library makes goes through these.  Returns 0, or COAP_EINVAL when any
 * pointer is NULL.  Call before creating any object; memory allocated with the
 * old functions must not be freed with the new ones.
 */
typedef void *(*coap_malloc_func)(size_t size);
typedef void *(*coap_realloc_func)(void *ptr, size_t size);
typedef void *(*coap_calloc_func)(size_t count, size_t size);
typedef void (*coap_free_func)(void *ptr);

AIOCOAP_EXTERN int coap_replace_allocator(coap_malloc_func malloc_func,
                                          coap_realloc_func realloc_func,
                                          coap_calloc_func calloc_func,
                                          coap_free_func free_func);

#ifdef __cplusplus
}
#endif

#endif
