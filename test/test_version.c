/*
 * The version macros and coap_version_string() agree with each other and
 * with the version meson wrote into version.h.
 */
#include <aiocoap/aiocoap.h>

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(version, string_is_the_header_version) {
  cr_assert_str_eq(coap_version_string(), AIOCOAP_VERSION_STRING);
}

Test(version, parts_match_string) {
  char parts[32];
  snprintf(parts, sizeof parts, "%d.%d.%d", AIOCOAP_VERSION_MAJOR,
           AIOCOAP_VERSION_MINOR, AIOCOAP_VERSION_PATCH);
  cr_assert_str_eq(parts, coap_version_string());
}

Test(version, static_storage) {
  cr_assert_eq(coap_version_string(), coap_version_string());
  cr_assert_gt(strlen(coap_version_string()), 4);
}
