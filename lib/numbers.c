/*
 * aiocoap-c — protocol numbers (aiocoap.numbers): message types, codes,
 * transmission parameters, the option registry and content formats.
 *
 * Everything here is a pure lookup over static tables; nothing allocates.
 */
#include <aiocoap/error.h>
#include <aiocoap/numbers.h>

#include <stddef.h>
#include <string.h>

/* ASCII only: the registries are ASCII, and the C library's tolower would
 * make parsing depend on the process locale. */
static char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool ascii_equal_nocase(const char *a, const char *b) {
  while (*a != '\0' && ascii_lower(*a) == ascii_lower(*b)) {
    a++;
    b++;
  }
  return ascii_lower(*a) == ascii_lower(*b);
}

const char *coap_type_name(int mtype) {
  switch (mtype) {
  case COAP_TYPE_CON:
    return "CON";
  case COAP_TYPE_NON:
    return "NON";
  case COAP_TYPE_ACK:
    return "ACK";
  case COAP_TYPE_RST:
    return "RST";
  case COAP_TYPE_UNSET:
    return "UNSET";
  default:
    return "?";
  }
}

bool coap_code_is_request(uint8_t code) {
  /* RFC 7252 §12.1.1: 0.00 is the Empty message, not a method. */
  return COAP_CODE_CLASS(code) == 0 && code != COAP_CODE_EMPTY;
}

bool coap_code_is_response(uint8_t code) {
  /* RFC 7252 §12.1.2: classes 2, 4 and 5 are registered; class 3 is
   * reserved, and aiocoap counts it as a response too. */
  const uint8_t cls = COAP_CODE_CLASS(code);
  return cls >= 2 && cls <= 5;
}

bool coap_code_is_successful(uint8_t code) {
  return COAP_CODE_CLASS(code) == 2;
}

bool coap_code_is_signalling(uint8_t code) {
  /* RFC 8323 §5: class 7 carries signals on reliable transports. */
  return COAP_CODE_CLASS(code) == 7;
}

char *coap_code_dotted(uint8_t code, char buf[5]) {
  /* RFC 7252 §3: "c.dd", class one digit (0..7), detail two (00..31). */
  const uint8_t detail = COAP_CODE_DETAIL(code);
  buf[0] = (char)('0' + COAP_CODE_CLASS(code));
  buf[1] = '.';
  buf[2] = (char)('0' + detail / 10);
  buf[3] = (char)('0' + detail % 10);
  buf[4] = '\0';
  return buf;
}

/* Indexed by code; NULL where nothing is registered.  Spelled as aiocoap's
 * Code.name_printable spells them. */
static const char *const code_names[256] = {
    [COAP_CODE_EMPTY] = "EMPTY",
    [COAP_CODE_GET] = "GET",
    [COAP_CODE_POST] = "POST",
    [COAP_CODE_PUT] = "PUT",
    [COAP_CODE_DELETE] = "DELETE",
    [COAP_CODE_FETCH] = "FETCH",
    [COAP_CODE_PATCH] = "PATCH",
    [COAP_CODE_IPATCH] = "iPATCH",
    [COAP_CODE_CREATED] = "Created",
    [COAP_CODE_DELETED] = "Deleted",
    [COAP_CODE_VALID] = "Valid",
    [COAP_CODE_CHANGED] = "Changed",
    [COAP_CODE_CONTENT] = "Content",
    [COAP_CODE_CONTINUE] = "Continue",
    [COAP_CODE_BAD_REQUEST] = "Bad Request",
    [COAP_CODE_UNAUTHORIZED] = "Unauthorized",
    [COAP_CODE_BAD_OPTION] = "Bad Option",
    [COAP_CODE_FORBIDDEN] = "Forbidden",
    [COAP_CODE_NOT_FOUND] = "Not Found",
    [COAP_CODE_METHOD_NOT_ALLOWED] = "Method Not Allowed",
    [COAP_CODE_NOT_ACCEPTABLE] = "Not Acceptable",
    [COAP_CODE_REQUEST_ENTITY_INCOMPLETE] = "Request Entity Incomplete",
    [COAP_CODE_CONFLICT] = "Conflict",
    [COAP_CODE_PRECONDITION_FAILED] = "Precondition Failed",
    [COAP_CODE_REQUEST_ENTITY_TOO_LARGE] = "Request Entity Too Large",
    [COAP_CODE_UNSUPPORTED_CONTENT_FORMAT] = "Unsupported Content-Format",
    [COAP_CODE_UNPROCESSABLE_ENTITY] = "Unprocessable Entity",
    [COAP_CODE_TOO_MANY_REQUESTS] = "Too Many Requests",
    [COAP_CODE_INTERNAL_SERVER_ERROR] = "Internal Server Error",
    [COAP_CODE_NOT_IMPLEMENTED] = "Not Implemented",
    [COAP_CODE_BAD_GATEWAY] = "Bad Gateway",
    [COAP_CODE_SERVICE_UNAVAILABLE] = "Service Unavailable",
    [COAP_CODE_GATEWAY_TIMEOUT] = "Gateway Timeout",
    [COAP_CODE_PROXYING_NOT_SUPPORTED] = "Proxying Not Supported",
    [COAP_CODE_HOP_LIMIT_REACHED] = "Hop Limit Reached",
    [COAP_CODE_CSM] = "CSM",
    [COAP_CODE_PING] = "Ping",
    [COAP_CODE_PONG] = "Pong",
    [COAP_CODE_RELEASE] = "Release",
    [COAP_CODE_ABORT] = "Abort",
};

const char *coap_code_name(uint8_t code) {
  return code_names[code];
}

static bool is_name_separator(char c) {
  return c == ' ' || c == '_' || c == '-';
}

/* Compares ignoring case and separators, so aiocoap's constant name
 * (NOT_FOUND), its printable name (Not Found) and run-together spellings
 * (notfound) all match. */
static bool code_name_matches(const char *text, const char *name) {
  for (;;) {
    while (is_name_separator(*text))
      text++;
    while (is_name_separator(*name))
      name++;
    if (*text == '\0' || *name == '\0')
      return *text == *name;
    if (ascii_lower(*text) != ascii_lower(*name))
      return false;
    text++;
    name++;
  }
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* RFC 7252 §3: "c.dd" with c in 0..7 and dd in 00..31. */
static int parse_dotted(const char *text) {
  if (strlen(text) != 4 || text[1] != '.')
    return COAP_EINVAL;
  if (text[0] < '0' || text[0] > '7' || !is_digit(text[2]) ||
      !is_digit(text[3]))
    return COAP_EINVAL;
  const int cls = text[0] - '0';
  const int detail = (text[2] - '0') * 10 + (text[3] - '0');
  if (detail > 31)
    return COAP_EINVAL;
  return COAP_CODE(cls, detail);
}

int coap_code_from_string(const char *text) {
  if (text == NULL || *text == '\0')
    return COAP_EINVAL;
  if (is_digit(text[0]))
    return parse_dotted(text);
  for (size_t code = 0; code < sizeof code_names / sizeof code_names[0];
       code++) {
    if (code_names[code] != NULL && code_name_matches(text, code_names[code]))
      return (int)code;
  }
  return COAP_EINVAL;
}

void coap_transmission_parameters_default(
    coap_transmission_parameters *params) {
  if (params == NULL)
    return;
  /* RFC 7252 §4.8 defaults; §4.8.2 takes PROCESSING_DELAY = ACK_TIMEOUT. */
  params->ack_timeout_ms = COAP_ACK_TIMEOUT_MS;
  params->ack_random_factor = COAP_ACK_RANDOM_FACTOR;
  params->max_retransmit = COAP_MAX_RETRANSMIT;
  params->nstart = COAP_NSTART;
  params->max_latency_ms = COAP_MAX_LATENCY_MS;
  params->processing_delay_ms = COAP_PROCESSING_DELAY_MS;
}

/* A caller passing NULL gets the RFC defaults rather than a crash. */
static const coap_transmission_parameters *
params_or_default(const coap_transmission_parameters *params,
                  coap_transmission_parameters *storage) {
  if (params != NULL)
    return params;
  coap_transmission_parameters_default(storage);
  return storage;
}

static uint64_t saturating_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ACK_TIMEOUT * (2 ** exponent - 1) * ACK_RANDOM_FACTOR, rounded to the
 * nearest millisecond.  Computed in double so a large MAX_RETRANSMIT or an
 * odd factor saturates instead of overflowing a shift or a conversion. */
static uint64_t backoff_total_ms(const coap_transmission_parameters *params,
                                 uint32_t exponent) {
  double doublings = 1.0;
  for (uint32_t i = 0; i < exponent && doublings < 0x1p64; i++)
    doublings *= 2.0;
  const double total =
      params->ack_timeout_ms * (doublings - 1.0) * params->ack_random_factor;
  if (!(total > 0.0)) /* also catches a NaN factor */
    return 0;
  if (total >= 0x1p64)
    return UINT64_MAX;
  return (uint64_t)(total + 0.5);
}

uint64_t coap_max_transmit_span_ms(const coap_transmission_parameters *params) {
  coap_transmission_parameters storage;
  params = params_or_default(params, &storage);
  /* RFC 7252 §4.8.2: ACK_TIMEOUT * ((2 ** MAX_RETRANSMIT) - 1) *
   * ACK_RANDOM_FACTOR. */
  return backoff_total_ms(params, params->max_retransmit);
}

uint64_t coap_max_transmit_wait_ms(const coap_transmission_parameters *params) {
  coap_transmission_parameters storage;
  params = params_or_default(params, &storage);
  /* RFC 7252 §4.8.2: ACK_TIMEOUT * ((2 ** (MAX_RETRANSMIT + 1)) - 1) *
   * ACK_RANDOM_FACTOR. */
  const uint32_t exponent = params->max_retransmit == UINT32_MAX
                                ? UINT32_MAX
                                : params->max_retransmit + 1;
  return backoff_total_ms(params, exponent);
}

uint64_t coap_max_rtt_ms(const coap_transmission_parameters *params) {
  coap_transmission_parameters storage;
  params = params_or_default(params, &storage);
  /* RFC 7252 §4.8.2: (2 * MAX_LATENCY) + PROCESSING_DELAY; the operands are
   * 32-bit, so 64-bit arithmetic cannot overflow. */
  return 2 * (uint64_t)params->max_latency_ms +
         (uint64_t)params->processing_delay_ms;
}

uint64_t coap_exchange_lifetime_ms(const coap_transmission_parameters *params) {
  coap_transmission_parameters storage;
  params = params_or_default(params, &storage);
  /* RFC 7252 §4.8.2: MAX_TRANSMIT_SPAN + (2 * MAX_LATENCY) +
   * PROCESSING_DELAY. */
  return saturating_add(coap_max_transmit_span_ms(params),
                        coap_max_rtt_ms(params));
}

uint64_t coap_non_lifetime_ms(const coap_transmission_parameters *params) {
  coap_transmission_parameters storage;
  params = params_or_default(params, &storage);
  /* RFC 7252 §4.8.2: MAX_TRANSMIT_SPAN + MAX_LATENCY. */
  return saturating_add(coap_max_transmit_span_ms(params),
                        params->max_latency_ms);
}

/* CoAP Option Numbers registry, sorted by number.  Formats and lengths from
 * RFC 7252 §5.10 Table 4, RFC 7641 §2, RFC 7959 §2.1 and §4, RFC 7967 §2,
 * RFC 8613 §2, RFC 8768 §3 and RFC 9175 §2.2.1 and §3.2. */
static const coap_option_info option_registry[] = {
    {COAP_OPT_IF_MATCH, "If-Match", COAP_FORMAT_OPAQUE, true, 0, 8},
    {COAP_OPT_URI_HOST, "Uri-Host", COAP_FORMAT_STRING, false, 1, 255},
    {COAP_OPT_ETAG, "ETag", COAP_FORMAT_OPAQUE, true, 1, 8},
    {COAP_OPT_IF_NONE_MATCH, "If-None-Match", COAP_FORMAT_EMPTY, false, 0, 0},
    {COAP_OPT_OBSERVE, "Observe", COAP_FORMAT_UINT, false, 0, 3},
    {COAP_OPT_URI_PORT, "Uri-Port", COAP_FORMAT_UINT, false, 0, 2},
    {COAP_OPT_LOCATION_PATH, "Location-Path", COAP_FORMAT_STRING, true, 0, 255},
    {COAP_OPT_OSCORE, "OSCORE", COAP_FORMAT_OPAQUE, false, 0, 255},
    {COAP_OPT_URI_PATH, "Uri-Path", COAP_FORMAT_STRING, true, 0, 255},
    {COAP_OPT_CONTENT_FORMAT, "Content-Format", COAP_FORMAT_UINT, false, 0, 2},
    {COAP_OPT_MAX_AGE, "Max-Age", COAP_FORMAT_UINT, false, 0, 4},
    {COAP_OPT_URI_QUERY, "Uri-Query", COAP_FORMAT_STRING, true, 0, 255},
    {COAP_OPT_HOP_LIMIT, "Hop-Limit", COAP_FORMAT_UINT, false, 1, 1},
    {COAP_OPT_ACCEPT, "Accept", COAP_FORMAT_UINT, false, 0, 2},
    {COAP_OPT_LOCATION_QUERY, "Location-Query", COAP_FORMAT_STRING, true, 0,
     255},
    {COAP_OPT_BLOCK2, "Block2", COAP_FORMAT_UINT, false, 0, 3},
    {COAP_OPT_BLOCK1, "Block1", COAP_FORMAT_UINT, false, 0, 3},
    {COAP_OPT_SIZE2, "Size2", COAP_FORMAT_UINT, false, 0, 4},
    {COAP_OPT_PROXY_URI, "Proxy-Uri", COAP_FORMAT_STRING, false, 1, 1034},
    {COAP_OPT_PROXY_SCHEME, "Proxy-Scheme", COAP_FORMAT_STRING, false, 1, 255},
    {COAP_OPT_SIZE1, "Size1", COAP_FORMAT_UINT, false, 0, 4},
    {COAP_OPT_ECHO, "Echo", COAP_FORMAT_OPAQUE, false, 1, 40},
    {COAP_OPT_NO_RESPONSE, "No-Response", COAP_FORMAT_UINT, false, 0, 1},
    {COAP_OPT_REQUEST_TAG, "Request-Tag", COAP_FORMAT_OPAQUE, true, 0, 8},
};

const coap_option_info *coap_option_info_get(uint16_t number) {
  size_t low = 0;
  size_t high = sizeof option_registry / sizeof option_registry[0];
  while (low < high) {
    const size_t mid = low + (high - low) / 2;
    if (option_registry[mid].number == number)
      return &option_registry[mid];
    if (option_registry[mid].number < number)
      low = mid + 1;
    else
      high = mid;
  }
  return NULL;
}

/* RFC 7252 §5.4.6: "Critical = (onum & 1)". */
bool coap_option_is_critical(uint16_t number) {
  return (number & 0x01) != 0;
}

bool coap_option_is_elective(uint16_t number) {
  return !coap_option_is_critical(number);
}

/* RFC 7252 §5.4.6: "UnSafe = (onum & 2)". */
bool coap_option_is_unsafe(uint16_t number) {
  return (number & 0x02) != 0;
}

bool coap_option_is_safe_to_forward(uint16_t number) {
  return !coap_option_is_unsafe(number);
}

/* RFC 7252 §5.4.6: "NoCacheKey = ((onum & 0x1e) == 0x1c)"; the mask takes in
 * the UnSafe bit, so only safe-to-forward options can be NoCacheKey. */
bool coap_option_is_no_cache_key(uint16_t number) {
  return (number & 0x1e) == 0x1c;
}

bool coap_option_is_cache_key(uint16_t number) {
  return !coap_option_is_no_cache_key(number);
}

/* CoAP Content-Formats registry: RFC 7252 §12.3 (0, 40..42, 47, 50),
 * RFC 8132 §6.3 (51, 52), RFC 7049 (60), RFC 8392 (61), RFC 8428 (110..115,
 * 310, 311). */
static const struct {
  uint16_t number;
  const char *name;
} content_formats[] = {
    {COAP_CT_TEXT_PLAIN, "text/plain;charset=utf-8"},
    {COAP_CT_LINK_FORMAT, "application/link-format"},
    {COAP_CT_XML, "application/xml"},
    {COAP_CT_OCTET_STREAM, "application/octet-stream"},
    {COAP_CT_EXI, "application/exi"},
    {COAP_CT_JSON, "application/json"},
    {COAP_CT_JSON_PATCH, "application/json-patch+json"},
    {COAP_CT_MERGE_PATCH, "application/merge-patch+json"},
    {COAP_CT_CBOR, "application/cbor"},
    {COAP_CT_CWT, "application/cwt"},
    {COAP_CT_SENML_JSON, "application/senml+json"},
    {COAP_CT_SENSML_JSON, "application/sensml+json"},
    {COAP_CT_SENML_CBOR, "application/senml+cbor"},
    {COAP_CT_SENSML_CBOR, "application/sensml+cbor"},
    {COAP_CT_SENML_EXI, "application/senml-exi"},
    {COAP_CT_SENSML_EXI, "application/sensml-exi"},
    {COAP_CT_SENML_XML, "application/senml+xml"},
    {COAP_CT_SENSML_XML, "application/sensml+xml"},
};

#define CONTENT_FORMAT_COUNT                                                   \
  (sizeof content_formats / sizeof content_formats[0])

const char *coap_content_format_name(uint16_t format) {
  for (size_t i = 0; i < CONTENT_FORMAT_COUNT; i++) {
    if (content_formats[i].number == format)
      return content_formats[i].name;
  }
  return NULL;
}

int coap_content_format_from_name(const char *name) {
  if (name == NULL)
    return COAP_EINVAL;
  /* RFC 2046 §4.1.2: a text/plain body without a charset is US-ASCII, which
   * UTF-8 contains, so the bare type means format 0 too. */
  if (ascii_equal_nocase(name, "text/plain"))
    return COAP_CT_TEXT_PLAIN;
  for (size_t i = 0; i < CONTENT_FORMAT_COUNT; i++) {
    if (ascii_equal_nocase(name, content_formats[i].name))
      return content_formats[i].number;
  }
  return COAP_EINVAL;
}
