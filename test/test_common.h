/*
 * Shared by every criterion test: a counting allocator installed through
 * coap_replace_allocator, and a leak check that runs in the test's own
 * worker after the test body, so a leak fails the test that caused it.
 *
 * Criterion forks a worker per test; LeakSanitizer's report at worker exit
 * would not turn the test red, so each test checks explicitly: our own
 * allocations by count, everything else (libuv, libc) through
 * __lsan_do_recoverable_leak_check when built with ASan.
 */
#ifndef AIOCOAP_TEST_COMMON_H
#define AIOCOAP_TEST_COMMON_H

#include <criterion/criterion.h>

#include <aiocoap/aiocoap.h>

#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define COAP_TEST_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COAP_TEST_HAVE_LSAN 1
#endif
#endif
#ifdef COAP_TEST_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* Live allocations made by the library, and the failure injection switch:
 * when coap_test_fail_after is >= 0, that many more allocations succeed and
 * the next one fails (nghttp2's failmalloc idea). */
extern long coap_test_live_allocations;
extern long coap_test_fail_after;
extern long coap_test_total_allocations;

void coap_test_init(void);

/*
 * A test with the allocator installed and the leak check run at the end of
 * its body.  Criterion ignores assertions that fail in a .fini hook, so the
 * check runs inside the test itself: a leak fails the test that caused it.
 */
#define COAP_TEST(suite, name, ...)                                            \
  static void suite##_##name##_body(void);                                     \
  Test(suite, name, .init = coap_test_init, ##__VA_ARGS__) {                   \
    suite##_##name##_body();                                                   \
    coap_test_check_leaks();                                                   \
  }                                                                            \
  static void suite##_##name##_body(void)

/* Asserts that nothing the library allocated is live and, under ASan, that
 * LeakSanitizer finds nothing unreachable. */
void coap_test_check_leaks(void);

#endif
