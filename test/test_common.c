#include "test_common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void coap_test_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("note: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

coap_test_value coap_test_value_signed(long long v) {
  coap_test_value out;
  const char *name = v < 0 && v >= INT32_MIN ? coap_err_name((int)v) : NULL;
  if (name != NULL && strncmp(name, "COAP_E", 6) == 0)
    snprintf(out.text, sizeof out.text, "%lld (%s)", v, name);
  else
    snprintf(out.text, sizeof out.text, "%lld", v);
  return out;
}

coap_test_value coap_test_value_unsigned(unsigned long long v) {
  coap_test_value out;
  snprintf(out.text, sizeof out.text, "%llu (0x%llx)", v, v);
  return out;
}

coap_test_value coap_test_value_double(long double v) {
  coap_test_value out;
  snprintf(out.text, sizeof out.text, "%Lg", v);
  return out;
}

coap_test_value coap_test_value_pointer(const volatile void *v) {
  coap_test_value out;
  if (v == NULL)
    snprintf(out.text, sizeof out.text, "NULL");
  else
    snprintf(out.text, sizeof out.text, "%p", (const void *)v);
  return out;
}

void coap_test_log_comparison(const char *file, int line, const char *actual,
                              coap_test_value a, const char *op,
                              const char *expected, coap_test_value b) {
  cr_log_error("%s:%d: wanted %s %s %s; %s is %s, %s is %s", file, line,
               actual, op, expected, actual, a.text, expected, b.text);
}

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
