/*
 * What the tools share in reading their command lines.
 */
#ifndef AIOCOAP_CLI_ARGS_H
#define AIOCOAP_CLI_ARGS_H

#include <stdbool.h>
#include <stdint.h>

/* Reads text as a whole decimal number in [min, max]: no sign where min is
 * 0, no trailing text, no overflow.  False when it is not one; *out is then
 * untouched. */
bool cli_parse_number(const char *text, long long min, long long max,
                      long long *out);

/* Reads text as a number of seconds, decimals allowed ("0.5"), not
 * negative, at most max_ms milliseconds, into *out in milliseconds
 * (rounded).  False when it is not one; *out is then untouched. */
bool cli_parse_seconds_ms(const char *text, uint32_t max_ms, uint32_t *out);

#endif
