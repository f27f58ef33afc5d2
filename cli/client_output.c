/*
 * What aiocoap-client writes and where, as aiocoap's client does: a
 * successful response's body on stdout byte for byte (a newline added only
 * on a terminal), an unsuccessful code and its body on stderr, notes and
 * logs on stderr, colour only where a terminal shows it (or as forced).
 */
#include "client.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RED "\033[31m"
#define GREEN "\033[32m"
#define YELLOW "\033[33m"
#define GREY "\033[90m"
#define RESET "\033[0m"

void client_output_init(client_output *out, const client_opts *o) {
  out->stdout_tty = isatty(STDOUT_FILENO) == 1;
  out->stderr_tty = isatty(STDERR_FILENO) == 1;
  /* Automatic colour only on a terminal, and never against NO_COLOR
   * (no-color.org). */
  bool auto_color = out->stderr_tty && getenv("NO_COLOR") == NULL;
  out->color = o->color >= 0 ? o->color == 1 : auto_color;
  out->pretty = o->pretty >= 0 ? o->pretty == 1 : out->stdout_tty;
  out->verbosity = o->verbose - o->quiet;
}

/* aiocoap's configure_logging: 0 warnings, -q errors, -qq nothing; -vv
 * the library's info, -vvv its debug output (-v shows the messages). */
int client_output_log_level(int verbosity) {
  if (verbosity <= -2)
    return -1;
  if (verbosity == -1)
    return COAP_LOG_ERROR;
  if (verbosity <= 1)
    return COAP_LOG_WARNING;
  if (verbosity == 2)
    return COAP_LOG_INFO;
  return COAP_LOG_DEBUG;
}

void client_output_log(coap_log_level level, const char *message,
                       void *user_data) {
  const client_output *out = user_data;
  static const char *const names[] = {"error", "warning", "info", "debug"};
  static const char *const colors[] = {RED, YELLOW, "", GREY};
  const int l = (int)level >= 0 && level <= COAP_LOG_DEBUG ? (int)level : 3;
  const bool color = out != NULL && out->color;
  fprintf(stderr, "%s%s%s: %s\n", color ? colors[l] : "", names[l],
          color ? RESET : "", message);
}

void client_output_error(const client_output *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (out->color)
    fputs(RED, stderr);
  vfprintf(stderr, fmt, ap);
  if (out->color)
    fputs(RESET, stderr);
  fputc('\n', stderr);
  va_end(ap);
}

static void put_quoted(FILE *f, const uint8_t *v, size_t len) {
  fputc('\'', f);
  for (size_t i = 0; i < len; i++) {
    if (v[i] >= 0x20 && v[i] < 0x7f && v[i] != '\'' && v[i] != '\\')
      fputc(v[i], f);
    else
      fprintf(f, "\\x%02x", v[i]);
  }
  fputc('\'', f);
}

static void put_value(FILE *f, const coap_option *opt) {
  const coap_option_info *info = coap_option_info_get(opt->number);
  uint32_t u;
  if (info != NULL && info->format == COAP_FORMAT_UINT &&
      coap_option_uint_decode(opt->value, opt->len, &u) == 0) {
    fprintf(f, "%lu", (unsigned long)u);
    if (opt->number == COAP_OPT_BLOCK1 || opt->number == COAP_OPT_BLOCK2) {
      /* RFC 7959 §2.2: NUM, M, SZX. */
      fprintf(f, " (block %lu%s, %zu bytes)", (unsigned long)(u >> 4),
              (u & 8) ? ", more" : "", coap_block_size((uint8_t)(u & 7)));
    } else if (opt->number == COAP_OPT_CONTENT_FORMAT ||
               opt->number == COAP_OPT_ACCEPT) {
      const char *name = coap_content_format_name((uint16_t)u);
      if (name != NULL)
        fprintf(f, " (%s)", name);
    }
    return;
  }
  if (info != NULL && info->format == COAP_FORMAT_STRING) {
    put_quoted(f, opt->value, opt->len);
    return;
  }
  if (opt->len == 0) {
    fputs("''", f);
    return;
  }
  fputs("0x", f);
  for (size_t i = 0; i < opt->len; i++)
    fprintf(f, "%02x", opt->value[i]);
}

void client_output_describe(const client_output *out, const coap_message *m,
                            const char *direction, FILE *f) {
  client_output_describe_streamed(out, m, direction, f, m->payload,
                                  m->payload_len, m->payload_len);
}

void client_output_describe_streamed(const client_output *out,
                                     const coap_message *m,
                                     const char *direction, FILE *f,
                                     const uint8_t *head, size_t head_len,
                                     uint64_t total) {
  char line[512];
  coap_message_describe(m, line, sizeof line);
  fprintf(f, "%s%s%s %s\n", out->color ? GREY : "", direction,
          out->color ? RESET : "", line);
  for (size_t i = 0; i < coap_options_count(&m->opt); i++) {
    const coap_option *opt = coap_options_at(&m->opt, i);
    const coap_option_info *info = coap_option_info_get(opt->number);
    if (info != NULL)
      fprintf(f, "- %s (%u): ", info->name, opt->number);
    else
      fprintf(f, "- %u: ", opt->number);
    put_value(f, opt);
    fputc('\n', f);
  }
  if (total == 0) {
    fputs("No payload\n", f);
    return;
  }
  const size_t limit = 16;
  fputs("Payload: ", f);
  for (size_t i = 0; i < head_len && i < limit; i++)
    fprintf(f, "%02x", head[i]);
  fprintf(f, "%s (%llu bytes%s)\n", total > limit ? "..." : "",
          (unsigned long long)total, total > limit ? " total" : "");
}

void client_output_code(const client_output *out, uint8_t code) {
  char dotted[5];
  const char *name = coap_code_name(code);
  client_output_error(out, "%s%s%s", coap_code_dotted(code, dotted),
                      name != NULL ? " " : "", name != NULL ? name : "");
}

/* Appends the options of number, percent-encoded, each after sep. */
static size_t join_options(const coap_message *m, uint16_t number,
                           const char *sep, bool is_query, char *buf,
                           size_t cap, size_t n) {
  for (size_t i = 0; i < coap_options_count(&m->opt); i++) {
    const coap_option *opt = coap_options_at(&m->opt, i);
    if (opt->number != number)
      continue;
    if (n + strlen(sep) + 1 >= cap)
      break;
    strcpy(buf + n, sep);
    n += strlen(sep);
    int w =
        coap_percent_encode(opt->value, opt->len, is_query, buf + n, cap - n);
    if (w < 0)
      break;
    n += (size_t)w;
  }
  buf[n] = '\0';
  return n;
}

void client_output_location(const client_output *out, const coap_message *m) {
  if (out->verbosity < 0 ||
      (coap_options_get(&m->opt, COAP_OPT_LOCATION_PATH) == NULL &&
       coap_options_get(&m->opt, COAP_OPT_LOCATION_QUERY) == NULL))
    return;
  char ref[2048];
  size_t n =
      join_options(m, COAP_OPT_LOCATION_PATH, "/", false, ref, sizeof ref, 0);
  if (n == 0) {
    strcpy(ref, "/");
    n = 1;
  }
  /* RFC 7252 §5.10.7: the query items joined with '&' after a '?'. */
  size_t before = n;
  n = join_options(m, COAP_OPT_LOCATION_QUERY, "&", true, ref, sizeof ref, n);
  if (n > before)
    ref[before] = '?';
  fprintf(stderr, "%sLocation options indicate new resource: %s%s\n",
          out->color ? GREEN : "", ref, out->color ? RESET : "");
}

static int write_all(FILE *f, const void *data, size_t len, bool newline) {
  int rc = 0;
  if (len > 0 && fwrite(data, 1, len, f) != len)
    rc = -1;
  if (newline && (len == 0 || ((const uint8_t *)data)[len - 1] != '\n') &&
      fputc('\n', f) == EOF)
    rc = -1;
  if (fflush(f) != 0)
    rc = -1;
  return rc;
}

int client_output_body(const client_output *out, int content_format,
                       const uint8_t *data, size_t len, FILE *f,
                       bool always_newline) {
  const bool tty = f == stdout ? out->stdout_tty : out->stderr_tty;
  const bool newline = always_newline || tty;
  if (len == 0)
    return always_newline ? write_all(f, data, 0, true) : 0;
  if (out->pretty) {
    const char *note = NULL;
    char *text =
        client_pretty(client_kind_of(content_format), data, len, &note);
    if (note != NULL && out->verbosity >= 0) {
      fflush(f);
      fprintf(stderr, "%s# %s%s\n", out->color ? GREY : "", note,
              out->color ? RESET : "");
    }
    if (text != NULL) {
      int rc = write_all(f, text, strlen(text), newline);
      free(text);
      return rc;
    }
  }
  return write_all(f, data, len, newline);
}

void client_output_separator(const client_output *out) {
  const bool color = out->color && out->stdout_tty;
  fprintf(stdout, "%s---%s\n", color ? GREY : "", color ? RESET : "");
  fflush(stdout);
}
