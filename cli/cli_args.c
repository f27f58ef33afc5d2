/*
 * Command-line number parsing for the tools (cli_args.h): a malformed or
 * out-of-range number is a usage error, never a silent 0 or a wrap.
 */
#include "cli_args.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

bool cli_parse_number(const char *text, long long min, long long max,
                      long long *out) {
  if (text == NULL || *text == '\0' || isspace((unsigned char)*text))
    return false;
  if (min >= 0 && (*text == '-' || *text == '+'))
    return false;
  char *end;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max)
    return false;
  *out = v;
  return true;
}

bool cli_parse_seconds_ms(const char *text, uint32_t max_ms, uint32_t *out) {
  if (text == NULL || *text == '\0' || !isdigit((unsigned char)*text))
    return false;
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (errno != 0 || *end != '\0' || !(v >= 0) || v * 1000.0 > max_ms)
    return false;
  *out = (uint32_t)(v * 1000.0 + 0.5);
  return true;
}
