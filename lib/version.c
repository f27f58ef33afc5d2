/*
 * The library's version, for a program to check what it runs against.
 */
#include <aiocoap/version.h>

const char *coap_version_string(void) { return AIOCOAP_VERSION_STRING; }
