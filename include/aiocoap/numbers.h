/*
 * aiocoap-c — protocol numbers (aiocoap.numbers: codes, types, constants,
 * optionnumbers) and content formats.
 */
#ifndef AIOCOAP_NUMBERS_H
#define AIOCOAP_NUMBERS_H

#include "common.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Message types (RFC 7252 §3). */
typedef enum coap_type {
  COAP_TYPE_CON = 0,
  COAP_TYPE_NON = 1,
  COAP_TYPE_ACK = 2,
  COAP_TYPE_RST = 3,
  /* Not a wire value: "let the library choose" in a coap_message. */
  COAP_TYPE_UNSET = 0xff
} coap_type;

/* "CON", "NON", "ACK", "RST"; "UNSET" or "?" otherwise. Static storage. */
AIOCOAP_EXTERN const char *coap_type_name(int mtype);

#define COAP_CODE(cls, detail) ((uint8_t)(((cls) << 5) | (detail)))

/* Method and response codes: RFC 7252 §12.1, 7959, 8132, 8323, 8516, 8768. */
typedef enum coap_code {
  COAP_CODE_EMPTY = 0,
  COAP_CODE_GET = 1,
  COAP_CODE_POST = 2,
  COAP_CODE_PUT = 3,
  COAP_CODE_DELETE = 4,
  COAP_CODE_FETCH = 5,  /* RFC 8132 */
  COAP_CODE_PATCH = 6,  /* RFC 8132 */
  COAP_CODE_IPATCH = 7, /* RFC 8132 */

  COAP_CODE_CREATED = COAP_CODE(2, 1),
  COAP_CODE_DELETED = COAP_CODE(2, 2),
  COAP_CODE_VALID = COAP_CODE(2, 3),
  COAP_CODE_CHANGED = COAP_CODE(2, 4),
  COAP_CODE_CONTENT = COAP_CODE(2, 5),
  COAP_CODE_CONTINUE = COAP_CODE(2, 31), /* RFC 7959 */

  COAP_CODE_BAD_REQUEST = COAP_CODE(4, 0),
  COAP_CODE_UNAUTHORIZED = COAP_CODE(4, 1),
  COAP_CODE_BAD_OPTION = COAP_CODE(4, 2),
  COAP_CODE_FORBIDDEN = COAP_CODE(4, 3),
  COAP_CODE_NOT_FOUND = COAP_CODE(4, 4),
  COAP_CODE_METHOD_NOT_ALLOWED = COAP_CODE(4, 5),
  COAP_CODE_NOT_ACCEPTABLE = COAP_CODE(4, 6),
  COAP_CODE_REQUEST_ENTITY_INCOMPLETE = COAP_CODE(4, 8), /* RFC 7959 */
  COAP_CODE_CONFLICT = COAP_CODE(4, 9),                  /* RFC 8132 */
  COAP_CODE_PRECONDITION_FAILED = COAP_CODE(4, 12),
  COAP_CODE_REQUEST_ENTITY_TOO_LARGE = COAP_CODE(4, 13),
  COAP_CODE_UNSUPPORTED_CONTENT_FORMAT = COAP_CODE(4, 15),
  COAP_CODE_UNPROCESSABLE_ENTITY = COAP_CODE(4, 22), /* RFC 8132 */
  COAP_CODE_TOO_MANY_REQUESTS = COAP_CODE(4, 29),    /* RFC 8516 */

  COAP_CODE_INTERNAL_SERVER_ERROR = COAP_CODE(5, 0),
  COAP_CODE_NOT_IMPLEMENTED = COAP_CODE(5, 1),
  COAP_CODE_BAD_GATEWAY = COAP_CODE(5, 2),
  COAP_CODE_SERVICE_UNAVAILABLE = COAP_CODE(5, 3),
  COAP_CODE_GATEWAY_TIMEOUT = COAP_CODE(5, 4),
  COAP_CODE_PROXYING_NOT_SUPPORTED = COAP_CODE(5, 5),
  COAP_CODE_HOP_LIMIT_REACHED = COAP_CODE(5, 8), /* RFC 8768 */

  /* RFC 8323 §5 signaling codes (CoAP over reliable transports). */
  COAP_CODE_CSM = COAP_CODE(7, 1),
  COAP_CODE_PING = COAP_CODE(7, 2),
  COAP_CODE_PONG = COAP_CODE(7, 3),
  COAP_CODE_RELEASE = COAP_CODE(7, 4),
  COAP_CODE_ABORT = COAP_CODE(7, 5)
} coap_code;

#define COAP_CODE_CLASS(code) ((uint8_t)(code) >> 5)
#define COAP_CODE_DETAIL(code) ((uint8_t)(code)&0x1f)

/* 0.01..0.31: a request method code (registered or not). */
AIOCOAP_EXTERN bool coap_code_is_request(uint8_t code);
/* 2.00..5.31: a response code (registered or not). */
AIOCOAP_EXTERN bool coap_code_is_response(uint8_t code);
/* 2.00..2.31. */
AIOCOAP_EXTERN bool coap_code_is_successful(uint8_t code);
/* 7.00..7.31 (RFC 8323). */
AIOCOAP_EXTERN bool coap_code_is_signalling(uint8_t code);

/*
 * Writes the dotted form ("2.05", "0.01") of any code into buf, which must hold
 * at least 5 bytes.  Returns buf.
 */
AIOCOAP_EXTERN char *coap_code_dotted(uint8_t code, char buf[5]);

/*
 * The printable name of a registered code, as aiocoap spells it ("GET",
 * "Content", "Not Found", "Continue"); NULL for an unregistered code.
 * Static storage.
 */
AIOCOAP_EXTERN const char *coap_code_name(uint8_t code);

/*
 * Parses a code from text: a method name ("GET", "ipatch"), a dotted code
 * ("2.05"), or a registered name in any case with spaces, underscores or
 * neither ("CONTENT", "Not Found", "not_found").  Returns the code (>= 0) or
 * COAP_EINVAL.
 */
AIOCOAP_EXTERN int coap_code_from_string(const char *text);

/*
 * RFC 7252 §4.8 transmission parameters and the times derived from them
 * (§4.8.2).  Times are milliseconds.
 */
#define COAP_ACK_TIMEOUT_MS 2000u
#define COAP_ACK_RANDOM_FACTOR 1.5
#define COAP_MAX_RETRANSMIT 4u
#define COAP_NSTART 1u
#define COAP_DEFAULT_LEISURE_MS 5000u
#define COAP_PROBING_RATE_BPS 1u
/* ACK_TIMEOUT * (2 ** MAX_RETRANSMIT - 1) * ACK_RANDOM_FACTOR */
#define COAP_MAX_TRANSMIT_SPAN_MS 45000u
/* ACK_TIMEOUT * (2 ** (MAX_RETRANSMIT + 1) - 1) * ACK_RANDOM_FACTOR */
#define COAP_MAX_TRANSMIT_WAIT_MS 93000u
#define COAP_MAX_LATENCY_MS 100000u
#define COAP_PROCESSING_DELAY_MS COAP_ACK_TIMEOUT_MS
/* 2 * MAX_LATENCY + PROCESSING_DELAY */
#define COAP_MAX_RTT_MS 202000u
/* MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY */
#define COAP_EXCHANGE_LIFETIME_MS 247000u
/* MAX_TRANSMIT_SPAN + MAX_LATENCY */
#define COAP_NON_LIFETIME_MS 145000u

/* aiocoap's own choices. */
#define COAP_DEFAULT_BLOCK_SIZE_EXP 6 /* 1024 bytes */
#define COAP_EMPTY_ACK_DELAY_MS 100u
#define COAP_REQUEST_TIMEOUT_MS 93000u

#define COAP_PORT 5683
#define COAPS_PORT 5684

/* The times above, derived from the parameters by the §4.8.2 formulas. */
typedef struct coap_transmission_parameters {
  uint32_t ack_timeout_ms;
  double ack_random_factor;
  uint32_t max_retransmit;
  uint32_t nstart;
  uint32_t max_latency_ms;
  uint32_t processing_delay_ms;
} coap_transmission_parameters;

/* Fills params with the RFC 7252 defaults. */
AIOCOAP_EXTERN void
coap_transmission_parameters_default(coap_transmission_parameters *params);
AIOCOAP_EXTERN uint64_t
coap_max_transmit_span_ms(const coap_transmission_parameters *params);
AIOCOAP_EXTERN uint64_t
coap_max_transmit_wait_ms(const coap_transmission_parameters *params);
AIOCOAP_EXTERN uint64_t
coap_max_rtt_ms(const coap_transmission_parameters *params);
AIOCOAP_EXTERN uint64_t
coap_exchange_lifetime_ms(const coap_transmission_parameters *params);
AIOCOAP_EXTERN uint64_t
coap_non_lifetime_ms(const coap_transmission_parameters *params);

/* Option numbers: RFC 7252, 7641, 7959, 7967, 8613, 8768, 9175. */
typedef enum coap_option_number {
  COAP_OPT_IF_MATCH = 1,
  COAP_OPT_URI_HOST = 3,
  COAP_OPT_ETAG = 4,
  COAP_OPT_IF_NONE_MATCH = 5,
  COAP_OPT_OBSERVE = 6, /* RFC 7641 */
  COAP_OPT_URI_PORT = 7,
  COAP_OPT_LOCATION_PATH = 8,
  COAP_OPT_OSCORE = 9, /* RFC 8613 */
  COAP_OPT_URI_PATH = 11,
  COAP_OPT_CONTENT_FORMAT = 12,
  COAP_OPT_MAX_AGE = 14,
  COAP_OPT_URI_QUERY = 15,
  COAP_OPT_HOP_LIMIT = 16, /* RFC 8768 */
  COAP_OPT_ACCEPT = 17,
  COAP_OPT_LOCATION_QUERY = 20,
  COAP_OPT_BLOCK2 = 23, /* RFC 7959 */
  COAP_OPT_BLOCK1 = 27, /* RFC 7959 */
  COAP_OPT_SIZE2 = 28,  /* RFC 7959 */
  COAP_OPT_PROXY_URI = 35,
  COAP_OPT_PROXY_SCHEME = 39,
  COAP_OPT_SIZE1 = 60,
  COAP_OPT_ECHO = 252,        /* RFC 9175 */
  COAP_OPT_NO_RESPONSE = 258, /* RFC 7967 */
  COAP_OPT_REQUEST_TAG = 292  /* RFC 9175 */
} coap_option_number;

/* RFC 7967 §2.1: the bits of a No-Response value, one per response class
 * the client is not interested in (bit class-1).  0 (or no option) means
 * interested in every answer; COAP_NO_RESPONSE_ALL asks for silence. */
enum {
  COAP_NO_RESPONSE_2XX = 2,
  COAP_NO_RESPONSE_4XX = 8,
  COAP_NO_RESPONSE_5XX = 16,
  COAP_NO_RESPONSE_ALL = 26
};

typedef enum coap_option_format {
  COAP_FORMAT_EMPTY,
  COAP_FORMAT_OPAQUE,
  COAP_FORMAT_UINT,
  COAP_FORMAT_STRING
} coap_option_format;

/* What the registry says of one option number. */
typedef struct coap_option_info {
  uint16_t number;
  const char *name; /* "Uri-Path" */
  coap_option_format format;
  bool repeatable;
  uint16_t min_len;
  uint16_t max_len;
} coap_option_info;

/*
 * The registry entry for number, or NULL when the number is not one of the
 * options above (such an option is treated as opaque, 0..65804 bytes).
 * Static storage.
 */
AIOCOAP_EXTERN const coap_option_info *coap_option_info_get(uint16_t number);

/* RFC 7252 §5.4.6: properties encoded in the option number itself. */
AIOCOAP_EXTERN bool coap_option_is_critical(uint16_t number);
AIOCOAP_EXTERN bool coap_option_is_elective(uint16_t number);
AIOCOAP_EXTERN bool coap_option_is_unsafe(uint16_t number);
AIOCOAP_EXTERN bool coap_option_is_safe_to_forward(uint16_t number);
AIOCOAP_EXTERN bool coap_option_is_no_cache_key(uint16_t number);
AIOCOAP_EXTERN bool coap_option_is_cache_key(uint16_t number);

/* Content formats (CoAP Content-Formats registry, common entries). */
typedef enum coap_content_format {
  COAP_CT_TEXT_PLAIN = 0,
  COAP_CT_LINK_FORMAT = 40,
  COAP_CT_XML = 41,
  COAP_CT_OCTET_STREAM = 42,
  COAP_CT_EXI = 47,
  COAP_CT_JSON = 50,
  COAP_CT_JSON_PATCH = 51,
  COAP_CT_MERGE_PATCH = 52,
  COAP_CT_CBOR = 60,
  COAP_CT_CWT = 61,
  COAP_CT_SENML_JSON = 110,
  COAP_CT_SENSML_JSON = 111,
  COAP_CT_SENML_CBOR = 112,
  COAP_CT_SENSML_CBOR = 113,
  COAP_CT_SENML_EXI = 114,
  COAP_CT_SENSML_EXI = 115,
  COAP_CT_SENML_XML = 310,
  COAP_CT_SENSML_XML = 311
} coap_content_format;

/*
 * The media type (with parameters) of a registered content format, e.g.
 * "text/plain;charset=utf-8"; NULL when unknown.  Static storage.
 */
AIOCOAP_EXTERN const char *coap_content_format_name(uint16_t format);
/*
 * The content format of a media type string as coap_content_format_name
 * spells it (case-insensitive; "text/plain" also maps to 0).  Returns the
 * number (>= 0) or COAP_EINVAL.
 */
AIOCOAP_EXTERN int coap_content_format_from_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif
