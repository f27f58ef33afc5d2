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

/*
 * Comparisons that say what they saw.  Criterion's cr_assert_eq and its
 * siblings report only that "(a) == (b)" was false; every comparison in
 * these tests goes through the definition below instead, which evaluates
 * each side once and, when the comparison fails, logs both values (an
 * error code also by name, e.g. -110 (COAP_ETIMEDOUT)) beside criterion's
 * own message, so a red test says what it got and what it waited for.
 * The conditional promotes bit-fields, chars and enums to an integer type
 * (and arrays to pointers) that __typeof__ can hold.
 */
typedef struct {
  char text[64];
} coap_test_value;

/* A line on stderr saying what a wait saw when it ran out ("note: ...").
 * Not a criterion log: criterion exits non-zero after any warning, and
 * some waits are meant to run out. */
void coap_test_note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

coap_test_value coap_test_value_signed(long long v);
coap_test_value coap_test_value_unsigned(unsigned long long v);
coap_test_value coap_test_value_double(long double v);
coap_test_value coap_test_value_pointer(const volatile void *v);
void coap_test_log_comparison(const char *file, int line, const char *actual,
                              coap_test_value a, const char *op,
                              const char *expected, coap_test_value b);

#define COAP_TEST_VALUE(x)                                                     \
  _Generic((x),                                                                \
      float: coap_test_value_double,                                           \
      double: coap_test_value_double,                                          \
      long double: coap_test_value_double,                                     \
      int: coap_test_value_signed,                                             \
      long: coap_test_value_signed,                                            \
      long long: coap_test_value_signed,                                       \
      unsigned: coap_test_value_unsigned,                                      \
      unsigned long: coap_test_value_unsigned,                                 \
      unsigned long long: coap_test_value_unsigned,                            \
      default: coap_test_value_pointer)(x)

#undef cr_assert_op_
#define cr_assert_op_(Fail, Op, Actual, Expected, ...)                         \
  do {                                                                         \
    __typeof__(1 ? (Actual) : (Actual)) coap_test_a__ = (Actual);                         \
    __typeof__(1 ? (Expected) : (Expected)) coap_test_b__ = (Expected);                     \
    if (!(coap_test_a__ Op coap_test_b__))                                     \
      coap_test_log_comparison(__FILE__, __LINE__, CR_STR(Actual),             \
                               COAP_TEST_VALUE(coap_test_a__), CR_STR(Op),     \
                               CR_STR(Expected),                               \
                               COAP_TEST_VALUE(coap_test_b__));                \
    CR_EXPAND(cr_assert_impl(Fail, coap_test_a__ Op coap_test_b__, dummy,      \
                             CRITERION_ASSERT_MSG_EXPR_FALSE,                  \
                             (CR_STR((Actual) Op (Expected))), __VA_ARGS__));  \
  } while (0)

#endif
