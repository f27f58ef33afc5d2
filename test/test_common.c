#include "test_common.h"

#include <stdint.h>
#include <string.h>

long coap_test_live_allocations;
long coap_test_fail_after = -1;
long coap_test_total_allocations;

/* Each block carries its size in a header so realloc and free can keep the
 * live count right. */
typedef struct {
  size_t size;
  max_align_t align;
} header;

static int should_fail(void) {
  if (coap_test_fail_after < 0)
    return 0;
  if (coap_test_fail_after == 0)
    return 1;
  coap_test_fail_after--;
  return 0;
}

static void *counting_malloc(size_t size) {
  if (should_fail())
    return NULL;
  header *h = malloc(sizeof(header) + size);
  if (h == NULL)
    return NULL;
  h->size = size;
  coap_test_live_allocations++;
  coap_test_total_allocations++;
  return h + 1;
}

static void counting_free(void *ptr) {
  if (ptr == NULL)
    return;
  header *h = (header *)ptr - 1;
  coap_test_live_allocations--;
  free(h);
}

static void *counting_calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size)
    return NULL;
  void *p = counting_malloc(count * size);
  if (p != NULL)
    memset(p, 0, count * size);
  return p;
}

static void *counting_realloc(void *ptr, size_t size) {
  if (ptr == NULL)
    return counting_malloc(size);
  if (should_fail())
    return NULL;
  header *h = (header *)ptr - 1;
  header *n = realloc(h, sizeof(header) + size);
  if (n == NULL)
    return NULL;
  n->size = size;
  coap_test_total_allocations++;
  return n + 1;
}

void coap_test_init(void) {
  coap_test_live_allocations = 0;
  coap_test_total_allocations = 0;
  coap_test_fail_after = -1;
  coap_replace_allocator(counting_malloc, counting_realloc, counting_calloc,
                         counting_free);
}

void coap_test_check_leaks(void) {
  cr_assert_eq(coap_test_live_allocations, 0,
               "%ld library allocation(s) not freed",
               coap_test_live_allocations);
#ifdef COAP_TEST_HAVE_LSAN
  cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
               "LeakSanitizer found leaks (report above)");
#endif
}
