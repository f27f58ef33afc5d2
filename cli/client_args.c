/*
 * aiocoap-client's command line: aiocoap's flags (argparse spellings:
 * "--flag VALUE" and "--flag=VALUE") plus --option, --etag, --if-match,
 * --if-none-match and --observe-count.  Every malformed value is a usage
 * error that names its flag.
 */
#include "client.h"

#include "cli_args.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void client_opts_init(client_opts *o) {
  *o = (client_opts){.code = COAP_CODE_GET,
                     .accept = -1,
                     .content_format = -1,
                     .payload_szx = -1,
                     .set_hostname = true,
                     .color = -1,
                     .pretty = -1};
}

int client_opts_copy(client_opts *dst, const client_opts *src) {
  *dst = *src;
  dst->extra = NULL;
  dst->n_extra = 0;
  dst->owned_argv = NULL;
  if (src->n_extra == 0)
    return 0;
  dst->extra = calloc(src->n_extra, sizeof *dst->extra);
  if (dst->extra == NULL)
    return COAP_ENOMEM;
  for (size_t i = 0; i < src->n_extra; i++) {
    const client_extra_option *s = &src->extra[i];
    uint8_t *v = malloc(s->len ? s->len : 1);
    if (v == NULL) {
      client_opts_free(dst);
      return COAP_ENOMEM;
    }
    if (s->len)
      memcpy(v, s->value, s->len);
    dst->extra[dst->n_extra++] =
        (client_extra_option){.number = s->number, .value = v, .len = s->len};
  }
  return 0;
}

void client_opts_free(client_opts *o) {
  for (size_t i = 0; i < o->n_extra; i++)
    free(o->extra[i].value);
  free(o->extra);
  o->extra = NULL;
  o->n_extra = 0;
  free(o->owned_argv);
  o->owned_argv = NULL;
}

#if defined(__GNUC__) || defined(__clang__)
static int fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#endif

static int fail(char *err, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
  return -1;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Hex digits (an optional 0x first) into bytes; false when malformed or
 * longer than max bytes. */
static bool parse_hex(const char *text, size_t max, uint8_t **out,
                      size_t *len) {
  if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    text += 2;
  size_t n = strlen(text);
  if (n % 2 != 0 || n / 2 > max)
    return false;
  uint8_t *buf = malloc(n / 2 ? n / 2 : 1);
  if (buf == NULL)
    return false;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(buf);
      return false;
    }
    buf[i] = (uint8_t)(hi << 4 | lo);
  }
  *out = buf;
  *len = n / 2;
  return true;
}

static int add_extra(client_opts *o, uint16_t number, uint8_t *value,
                     size_t len) {
  client_extra_option *grown =
      realloc(o->extra, (o->n_extra + 1) * sizeof *grown);
  if (grown == NULL) {
    free(value);
    return COAP_ENOMEM;
  }
  o->extra = grown;
  o->extra[o->n_extra++] =
      (client_extra_option){.number = number, .value = value, .len = len};
  return 0;
}

/* --option NUM:VALUE, VALUE as libcoap's -O takes it: 0x and hex digits
 * for bytes, otherwise the text itself; for an option the registry knows
 * as uint, a decimal number is encoded as one (RFC 7252 §3.2). */
static int parse_option(const char *text, client_opts *o, char *err,
                        size_t cap) {
  const char *colon = strchr(text, ':');
  if (colon == NULL)
    return fail(err, cap, "--option: expected NUM:VALUE, got '%s'", text);
  char num[8];
  size_t nlen = (size_t)(colon - text);
  long long number;
  if (nlen == 0 || nlen >= sizeof num)
    return fail(err, cap, "--option: bad option number in '%s'", text);
  memcpy(num, text, nlen);
  num[nlen] = '\0';
  if (!cli_parse_number(num, 1, 65535, &number))
    return fail(err, cap, "--option: bad option number in '%s'", text);
  const char *value = colon + 1;
  const coap_option_info *info = coap_option_info_get((uint16_t)number);
  uint8_t *bytes;
  size_t len;
  long long u;
  if (value[0] == '0' && (value[1] == 'x' || value[1] == 'X')) {
    if (!parse_hex(value, COAP_OPTION_MAX_LENGTH, &bytes, &len))
      return fail(err, cap, "--option: bad hex value in '%s'", text);
  } else if (info != NULL && info->format == COAP_FORMAT_UINT &&
             cli_parse_number(value, 0, UINT32_MAX, &u)) {
    uint8_t buf[4];
    len = coap_option_uint_encode((uint32_t)u, buf);
    bytes = malloc(4);
    if (bytes == NULL)
      return fail(err, cap, "out of memory");
    memcpy(bytes, buf, len);
  } else {
    len = strlen(value);
    if (len > COAP_OPTION_MAX_LENGTH)
      return fail(err, cap, "--option: value too long in '%s'", text);
    bytes = malloc(len ? len : 1);
    if (bytes == NULL)
      return fail(err, cap, "out of memory");
    memcpy(bytes, value, len);
  }
  if (add_extra(o, (uint16_t)number, bytes, len) < 0)
    return fail(err, cap, "out of memory");
  return 0;
}

static int content_format_arg(const char *flag, const char *text, int *out,
                              char *err, size_t cap) {
  long long n;
  if (cli_parse_number(text, 0, 65535, &n)) {
    *out = (int)n;
    return 0;
  }
  int ct = coap_content_format_from_name(text);
  if (ct < 0)
    return fail(err, cap, "%s: unknown content format '%s'", flag, text);
  *out = ct;
  return 0;
}

static int method_arg(const char *text, int *out, char *err, size_t cap) {
  long long n;
  int code;
  if (cli_parse_number(text, 0, 255, &n))
    code = (int)n;
  else
    code = coap_code_from_string(text);
  if (code < 0 || !coap_code_is_request((uint8_t)code))
    return fail(err, cap, "--method: unknown method '%s'", text);
  *out = code;
  return 0;
}

/* @FILE must be there to read: found, not a directory, readable. */
static int check_payload_file(const char *payload, char *err, size_t cap) {
  if (payload == NULL || payload[0] != '@' || strcmp(payload, "@-") == 0)
    return 0;
  const char *path = payload + 1;
  struct stat st;
  if (path[0] == '\0')
    return fail(err, cap, "--payload: no file name after '@'");
  if (stat(path, &st) < 0)
    return fail(err, cap, "--payload: cannot read %s: %s", path,
                strerror(errno));
  if (S_ISDIR(st.st_mode))
    return fail(err, cap, "--payload: %s is a directory", path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(err, cap, "--payload: cannot read %s: %s", path,
                strerror(errno));
  close(fd);
  return 0;
}

/* Flags that take a value, and where it goes. */
static int take_value(const char *flag, const char *value, client_opts *o,
                      char *err, size_t cap) {
  long long n;
  uint8_t *bytes;
  size_t len;
  if (strcmp(flag, "-m") == 0 || strcmp(flag, "--method") == 0)
    return method_arg(value, &o->code, err, cap);
  if (strcmp(flag, "--observe-exec") == 0) {
    o->observe_exec = value;
    return 0;
  }
  if (strcmp(flag, "--observe-count") == 0) {
    if (!cli_parse_number(value, 1, 1000000000, &n))
      return fail(err, cap, "--observe-count: not a positive number: '%s'",
                  value);
    o->observe_count = (long)n;
    return 0;
  }
  if (strcmp(flag, "--accept") == 0)
    return content_format_arg(flag, value, &o->accept, err, cap);
  if (strcmp(flag, "--content-format") == 0)
    return content_format_arg(flag, value, &o->content_format, err, cap);
  if (strcmp(flag, "--payload") == 0) {
    o->payload = value;
    return 0;
  }
  if (strcmp(flag, "--payload-initial-szx") == 0) {
    if (!cli_parse_number(value, 0, 6, &n))
      return fail(err, cap, "--payload-initial-szx: not 0..6: '%s'", value);
    o->payload_szx = (int)n;
    return 0;
  }
  if (strcmp(flag, "--proxy") == 0) {
    o->proxy = value;
    return 0;
  }
  if (strcmp(flag, "--credentials") == 0) {
    if (value[0] == '\0')
      return fail(err, cap, "--credentials: needs a file name");
    o->credentials = value;
    return 0;
  }
  if (strcmp(flag, "--dump") == 0) {
    if (value[0] == '\0')
      return fail(err, cap, "--dump: needs a file name");
    o->dump = value;
    return 0;
  }
  if (strcmp(flag, "--multicast-timeout") == 0) {
    uint32_t ms;
    if (!cli_parse_seconds_ms(value, 86400000u, &ms) || ms == 0)
      return fail(err, cap,
                  "--multicast-timeout: not a number of seconds in "
                  "(0, 86400]: '%s'",
                  value);
    o->multicast_timeout_ms = ms;
    return 0;
  }
  if (strcmp(flag, "--option") == 0)
    return parse_option(value, o, err, cap);
  if (strcmp(flag, "--etag") == 0 || strcmp(flag, "--if-match") == 0) {
    /* RFC 7252 §5.10.6, §5.10.8.1: 0..8 bytes (ETag at least 1). */
    bool etag = flag[2] == 'e';
    if (!parse_hex(value, 8, &bytes, &len) || (etag && len == 0))
      return fail(err, cap, "%s: not 1..8 bytes of hex: '%s'", flag, value);
    if (add_extra(o, etag ? COAP_OPT_ETAG : COAP_OPT_IF_MATCH, bytes, len) < 0)
      return fail(err, cap, "out of memory");
    return 0;
  }
  return 1; /* not a flag with a value */
}

static const char *const valued_flags[] = {"-m",
                                           "--method",
                                           "--observe-exec",
                                           "--observe-count",
                                           "--accept",
                                           "--payload",
                                           "--payload-initial-szx",
                                           "--content-format",
                                           "--proxy",
                                           "--credentials",
                                           "--dump",
                                           "--multicast-timeout",
                                           "--option",
                                           "--etag",
                                           "--if-match"};

static bool takes_value(const char *flag) {
  for (size_t i = 0; i < sizeof valued_flags / sizeof valued_flags[0]; i++)
    if (strcmp(flag, valued_flags[i]) == 0)
      return true;
  return false;
}

/* Flags without a value; 1 when flag is none of them. */
static int take_switch(const char *flag, bool interactive_line, client_opts *o,
                       char *err, size_t cap) {
  struct {
    const char *name;
    bool *target;
    bool value;
  } bools[] = {{"--non", &o->non, true},
               {"--observe", &o->observe, true},
               {"--no-set-hostname", &o->set_hostname, false},
               {"--help", &o->help, true},
               {"-h", &o->help, true},
               {"--version", &o->version, true},
               {"--interactive", &o->interactive, true}};
  for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
    if (strcmp(flag, bools[i].name) == 0) {
      if (interactive_line && (bools[i].target == &o->interactive ||
                               bools[i].target == &o->version))
        return fail(err, cap, "%s: not inside the interactive prompt", flag);
      *bools[i].target = bools[i].value;
      return 0;
    }
  }
  struct {
    const char *name;
    int *target;
    int value;
  } ints[] = {{"--color", &o->color, 1},
              {"--no-color", &o->color, 0},
              {"--pretty-print", &o->pretty, 1},
              {"--no-pretty-print", &o->pretty, 0}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    if (strcmp(flag, ints[i].name) == 0) {
      *ints[i].target = ints[i].value;
      return 0;
    }
  }
  if (strcmp(flag, "--verbose") == 0) {
    o->verbose++;
    return 0;
  }
  if (strcmp(flag, "--quiet") == 0) {
    o->quiet++;
    return 0;
  }
  if (strcmp(flag, "--if-none-match") == 0) {
    uint8_t *none = malloc(1);
    if (none == NULL || add_extra(o, COAP_OPT_IF_NONE_MATCH, none, 0) < 0)
      return fail(err, cap, "out of memory");
    return 0;
  }
  /* -v, -vv, -q, -qvv: short switches bundled, as argparse allows. */
  if (flag[0] == '-' && flag[1] != '-' && flag[1] != '\0' &&
      strspn(flag + 1, "vq") == strlen(flag + 1)) {
    for (const char *c = flag + 1; *c; c++)
      *c == 'v' ? o->verbose++ : o->quiet++;
    return 0;
  }
  return 1;
}

int client_args_parse(int argc, char *const *argv, bool interactive_line,
                      client_opts *o, char *err, size_t cap) {
  bool only_positional = false;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (only_positional || a[0] != '-' || strcmp(a, "-") == 0) {
      if (o->url != NULL)
        return fail(err, cap, "unexpected argument '%s' (one URL only)", a);
      o->url = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_positional = true;
      continue;
    }
    char flag[64];
    const char *value = NULL;
    const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
    size_t flen = eq != NULL ? (size_t)(eq - a) : strlen(a);
    if (flen >= sizeof flag)
      return fail(err, cap, "unknown option '%s'", a);
    memcpy(flag, a, flen);
    flag[flen] = '\0';
    if (takes_value(flag)) {
      if (interactive_line &&
          (strcmp(flag, "--credentials") == 0 || strcmp(flag, "--dump") == 0))
        return fail(err, cap, "%s: not inside the interactive prompt", flag);
      if (eq != NULL)
        value = eq + 1;
      else if (i + 1 < argc)
        value = argv[++i];
      else
        return fail(err, cap, "%s: needs a value", flag);
      int rc = take_value(flag, value, o, err, cap);
      if (rc != 0)
        return -1;
      continue;
    }
    if (eq != NULL)
      return fail(err, cap, "%s: takes no value", flag);
    int rc = take_switch(flag, interactive_line, o, err, cap);
    if (rc < 0)
      return -1;
    if (rc > 0)
      return fail(err, cap, "unknown option '%s'", a);
  }
  if (o->help || o->version)
    return 0;
  if (o->interactive) {
    if (o->url != NULL)
      return fail(err, cap,
                  "--interactive: give URLs at the prompt, not here ('%s')",
                  o->url);
    return 0;
  }
  if (o->url == NULL)
    return fail(err, cap, "a URL is required");
  if (o->observe_exec != NULL && !o->observe)
    return fail(err, cap, "--observe-exec: needs --observe");
  if (o->observe_count > 0 && !o->observe)
    return fail(err, cap, "--observe-count: needs --observe");
  return check_payload_file(o->payload, err, cap);
}

void client_args_usage(FILE *f, bool interactive_line) {
  if (!interactive_line)
    fputs("usage: aiocoap-client [options] URL\n"
          "       aiocoap-client --interactive [global options]\n"
          "\n"
          "A command-line CoAP client (RFC 7252), as aiocoap's "
          "aiocoap-client.\n",
          f);
  else
    fputs("At the prompt: [options] URL, one request per line, running\n"
          "side by side; 'help', 'exit' (or end of input).  Ctrl-C stops\n"
          "the running requests and observations.\n",
          f);
  fputs(
      "\n"
      "Request options:\n"
      "  -m, --method NAME|NUMBER   request method (default GET)\n"
      "  --non                      send as non-confirmable (NON) message\n"
      "  --observe                  register an observation (RFC 7641)\n"
      "  --observe-exec CMD         run CMD (with /bin/sh) for every\n"
      "                             notification, its payload on stdin\n"
      "  --observe-count N          stop after N payloads (the first\n"
      "                             response included)\n"
      "  --accept MIME|NUMBER       content format to request\n"
      "  --payload X                request body; @FILE reads FILE, @- stdin\n"
      "                             (streamed); other text is converted from\n"
      "                             diagnostic notation (its JSON subset) for\n"
      "                             JSON and CBOR content formats\n"
      "  --payload-initial-szx SZX  block size exponent of the first block\n"
      "                             sent (0: 16 bytes .. 6: 1024 bytes)\n"
      "  --content-format MIME|NUMBER  content format of the payload\n"
      "  --option NUM:VALUE         add option NUM; VALUE is text, 0x and hex\n"
      "                             digits, or a number for uint options\n"
      "  --etag HEX                 ETag option (RFC 7252 §5.10.6)\n"
      "  --if-match HEX             If-Match option (repeatable; empty: any)\n"
      "  --if-none-match            If-None-Match option\n"
      "\n"
      "Options for every request:\n"
      "  --proxy URI                send through this proxy (Proxy-Uri)\n"
      "  --no-set-hostname          leave Uri-Host out for named hosts\n"
      "  --color, --no-color        colour output (default: on a terminal)\n"
      "  --pretty-print, --no-pretty-print\n"
      "                             show link-format, JSON and CBOR readably\n"
      "                             (default: when stdout is a terminal)\n"
      "  -v, --verbose              more output (-v shows the messages,\n"
      "                             -vv and -vvv the library's log)\n"
      "  -q, --quiet                less output (repeatable)\n"
      "  --multicast-timeout SECONDS  for a group URI (coap://[ff02::fd%IF]/,\n"
      "                             coap://224.0.1.187/): how long answers\n"
      "                             are waited for (default: the leisure of\n"
      "                             5 s plus MAX_LATENCY, 105 s)\n",
      f);
  if (!interactive_line)
    fputs("\n"
          "Program options:\n"
          "  --credentials FILE         aiocoap's JSON credentials for\n"
          "                             coaps:// URIs: a PSK as\n"
          "                             {\"coaps://host/*\": {\"dtls\":\n"
          "                             {\"psk\": ..., \"client-identity\":\n"
          "                             ...}}}, certificates as \"x509\"\n"
          "  --dump FILE                write every datagram sent and\n"
          "                             received to FILE (pcap, for\n"
          "                             Wireshark; coaps as DTLS records)\n"
          "  --interactive              a prompt for several requests\n"
          "  --version                  print the library version and exit\n"
          "  -h, --help                 print this help and exit\n"
          "\n"
          "Exit status: 0 success, 1 failed request or unsuccessful response,\n"
          "2 bad command line, 3 interrupted.\n",
          f);
  if (!client_json_available || !client_cbor_available)
    fprintf(f, "\nNot built in:%s%s\n",
            client_json_available ? "" : " JSON (jansson)",
            client_cbor_available ? "" : " CBOR (libcbor)");
  if (!interactive_line && !client_lineedit_available)
    fputs("Line editing for --interactive: not built in (libedit)\n", f);
}
