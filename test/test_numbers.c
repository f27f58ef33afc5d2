#include "test_common.h"

#include <stdint.h>
#include <string.h>

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Every registered code with aiocoap's printable name and its dotted form. */
static const struct {
  uint8_t code;
  const char *name;
  const char *dotted;
} registered_codes[] = {
    {COAP_CODE_EMPTY, "EMPTY", "0.00"},
    {COAP_CODE_GET, "GET", "0.01"},
    {COAP_CODE_POST, "POST", "0.02"},
    {COAP_CODE_PUT, "PUT", "0.03"},
    {COAP_CODE_DELETE, "DELETE", "0.04"},
    {COAP_CODE_FETCH, "FETCH", "0.05"},
    {COAP_CODE_PATCH, "PATCH", "0.06"},
    {COAP_CODE_IPATCH, "iPATCH", "0.07"},
    {COAP_CODE_CREATED, "Created", "2.01"},
    {COAP_CODE_DELETED, "Deleted", "2.02"},
    {COAP_CODE_VALID, "Valid", "2.03"},
    {COAP_CODE_CHANGED, "Changed", "2.04"},
    {COAP_CODE_CONTENT, "Content", "2.05"},
    {COAP_CODE_CONTINUE, "Continue", "2.31"},
    {COAP_CODE_BAD_REQUEST, "Bad Request", "4.00"},
    {COAP_CODE_UNAUTHORIZED, "Unauthorized", "4.01"},
    {COAP_CODE_BAD_OPTION, "Bad Option", "4.02"},
    {COAP_CODE_FORBIDDEN, "Forbidden", "4.03"},
    {COAP_CODE_NOT_FOUND, "Not Found", "4.04"},
    {COAP_CODE_METHOD_NOT_ALLOWED, "Method Not Allowed", "4.05"},
    {COAP_CODE_NOT_ACCEPTABLE, "Not Acceptable", "4.06"},
    {COAP_CODE_REQUEST_ENTITY_INCOMPLETE, "Request Entity Incomplete", "4.08"},
    {COAP_CODE_CONFLICT, "Conflict", "4.09"},
    {COAP_CODE_PRECONDITION_FAILED, "Precondition Failed", "4.12"},
    {COAP_CODE_REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large", "4.13"},
    {COAP_CODE_UNSUPPORTED_CONTENT_FORMAT, "Unsupported Content-Format",
     "4.15"},
    {COAP_CODE_UNPROCESSABLE_ENTITY, "Unprocessable Entity", "4.22"},
    {COAP_CODE_TOO_MANY_REQUESTS, "Too Many Requests", "4.29"},
    {COAP_CODE_INTERNAL_SERVER_ERROR, "Internal Server Error", "5.00"},
    {COAP_CODE_NOT_IMPLEMENTED, "Not Implemented", "5.01"},
    {COAP_CODE_BAD_GATEWAY, "Bad Gateway", "5.02"},
    {COAP_CODE_SERVICE_UNAVAILABLE, "Service Unavailable", "5.03"},
    {COAP_CODE_GATEWAY_TIMEOUT, "Gateway Timeout", "5.04"},
    {COAP_CODE_PROXYING_NOT_SUPPORTED, "Proxying Not Supported", "5.05"},
    {COAP_CODE_HOP_LIMIT_REACHED, "Hop Limit Reached", "5.08"},
    {COAP_CODE_CSM, "CSM", "7.01"},
    {COAP_CODE_PING, "Ping", "7.02"},
    {COAP_CODE_PONG, "Pong", "7.03"},
    {COAP_CODE_RELEASE, "Release", "7.04"},
    {COAP_CODE_ABORT, "Abort", "7.05"},
};

COAP_TEST(message_types, names_each_wire_type) {
  cr_expect_str_eq(coap_type_name(COAP_TYPE_CON), "CON");
  cr_expect_str_eq(coap_type_name(COAP_TYPE_NON), "NON");
  cr_expect_str_eq(coap_type_name(COAP_TYPE_ACK), "ACK");
  cr_expect_str_eq(coap_type_name(COAP_TYPE_RST), "RST");
}

COAP_TEST(message_types, unset_and_out_of_range_have_placeholder_names) {
  cr_expect_str_eq(coap_type_name(COAP_TYPE_UNSET), "UNSET");
  cr_expect_str_eq(coap_type_name(4), "?");
  cr_expect_str_eq(coap_type_name(-1), "?");
}

COAP_TEST(codes, empty_is_neither_request_nor_response) {
  /* RFC 7252 §4.1: 0.00 is the Empty message. */
  cr_expect_not(coap_code_is_request(COAP_CODE_EMPTY));
  cr_expect_not(coap_code_is_response(COAP_CODE_EMPTY));
  cr_expect_not(coap_code_is_signalling(COAP_CODE_EMPTY));
}

COAP_TEST(codes, get_is_request) {
  cr_expect(coap_code_is_request(COAP_CODE_GET));
  cr_expect_not(coap_code_is_response(COAP_CODE_GET));
}

COAP_TEST(codes, unregistered_method_0_31_is_request) {
  cr_expect(coap_code_is_request(COAP_CODE(0, 31)));
}

COAP_TEST(codes, class_1_is_neither_request_nor_response) {
  for (uint8_t detail = 0; detail <= 31; detail++) {
    cr_expect_not(coap_code_is_request(COAP_CODE(1, detail)));
    cr_expect_not(coap_code_is_response(COAP_CODE(1, detail)));
  }
}

COAP_TEST(codes, content_is_successful_response) {
  cr_expect(coap_code_is_response(COAP_CODE_CONTENT));
  cr_expect(coap_code_is_successful(COAP_CODE_CONTENT));
  cr_expect_not(coap_code_is_request(COAP_CODE_CONTENT));
}

COAP_TEST(codes, continue_2_31_is_successful_response) {
  cr_expect(coap_code_is_successful(COAP_CODE(2, 31)));
}

COAP_TEST(codes, not_found_is_unsuccessful_response) {
  cr_expect(coap_code_is_response(COAP_CODE_NOT_FOUND));
  cr_expect_not(coap_code_is_successful(COAP_CODE_NOT_FOUND));
}

COAP_TEST(codes, response_range_ends_at_5_31) {
  cr_expect(coap_code_is_response(COAP_CODE(3, 0)));
  cr_expect(coap_code_is_response(COAP_CODE(5, 31)));
  cr_expect_not(coap_code_is_response(COAP_CODE(6, 0)));
}

COAP_TEST(codes, class_7_is_signalling_not_response) {
  /* RFC 8323 §5. */
  cr_expect(coap_code_is_signalling(COAP_CODE_CSM));
  cr_expect(coap_code_is_signalling(COAP_CODE(7, 31)));
  cr_expect_not(coap_code_is_response(COAP_CODE_PING));
  cr_expect_not(coap_code_is_request(COAP_CODE_PING));
  cr_expect_not(coap_code_is_signalling(COAP_CODE(6, 31)));
}

COAP_TEST(codes, every_code_classifies_by_class_alone) {
  for (unsigned code = 0; code <= 255; code++) {
    const unsigned cls = code >> 5;
    cr_expect_eq(coap_code_is_request(code), cls == 0 && code != 0, "%u", code);
    cr_expect_eq(coap_code_is_response(code), cls >= 2 && cls <= 5, "%u", code);
    cr_expect_eq(coap_code_is_successful(code), cls == 2, "%u", code);
    cr_expect_eq(coap_code_is_signalling(code), cls == 7, "%u", code);
  }
}

COAP_TEST(codes, dotted_pads_detail_to_two_digits) {
  char buf[5];
  cr_expect_str_eq(coap_code_dotted(COAP_CODE_EMPTY, buf), "0.00");
  cr_expect_str_eq(coap_code_dotted(COAP_CODE_GET, buf), "0.01");
  cr_expect_str_eq(coap_code_dotted(COAP_CODE_CONTENT, buf), "2.05");
  cr_expect_str_eq(coap_code_dotted(COAP_CODE_PRECONDITION_FAILED, buf),
                   "4.12");
}

COAP_TEST(codes, dotted_of_highest_code_is_7_31) {
  char buf[5];
  cr_expect_str_eq(coap_code_dotted(255, buf), "7.31");
}

COAP_TEST(codes, dotted_returns_the_buffer_it_was_given) {
  char buf[5];
  cr_expect_eq(coap_code_dotted(COAP_CODE_CONTENT, buf), buf);
}

COAP_TEST(code_names, every_registered_code_has_aiocoap_name) {
  char buf[5];
  for (size_t i = 0; i < COUNT(registered_codes); i++) {
    const char *name = coap_code_name(registered_codes[i].code);
    cr_assert_not_null(name, "%s", registered_codes[i].dotted);
    cr_expect_str_eq(name, registered_codes[i].name);
    cr_expect_str_eq(coap_code_dotted(registered_codes[i].code, buf),
                     registered_codes[i].dotted);
  }
}

COAP_TEST(code_names, only_registered_codes_have_names) {
  size_t named = 0;
  for (unsigned code = 0; code <= 255; code++) {
    if (coap_code_name(code) != NULL)
      named++;
  }
  cr_expect_eq(named, COUNT(registered_codes));
}

COAP_TEST(code_names, unregistered_codes_have_no_name) {
  cr_expect_null(coap_code_name(COAP_CODE(4, 7)));
  cr_expect_null(coap_code_name(COAP_CODE(2, 0)));
  cr_expect_null(coap_code_name(COAP_CODE(1, 0)));
  cr_expect_null(coap_code_name(COAP_CODE(0, 8)));
  cr_expect_null(coap_code_name(COAP_CODE(7, 0)));
  cr_expect_null(coap_code_name(255));
}

COAP_TEST(code_from_string, every_registered_name_round_trips) {
  for (size_t i = 0; i < COUNT(registered_codes); i++)
    cr_expect_eq(coap_code_from_string(registered_codes[i].name),
                 registered_codes[i].code, "%s", registered_codes[i].name);
}

COAP_TEST(code_from_string, every_dotted_code_round_trips) {
  char buf[5];
  for (unsigned code = 0; code <= 255; code++)
    cr_expect_eq(coap_code_from_string(coap_code_dotted(code, buf)), (int)code,
                 "%s", buf);
}

COAP_TEST(code_from_string, method_names_ignore_case) {
  cr_expect_eq(coap_code_from_string("get"), COAP_CODE_GET);
  cr_expect_eq(coap_code_from_string("Post"), COAP_CODE_POST);
  cr_expect_eq(coap_code_from_string("ipatch"), COAP_CODE_IPATCH);
  cr_expect_eq(coap_code_from_string("IPATCH"), COAP_CODE_IPATCH);
}

COAP_TEST(code_from_string, registered_names_ignore_case_and_separators) {
  cr_expect_eq(coap_code_from_string("CONTENT"), COAP_CODE_CONTENT);
  cr_expect_eq(coap_code_from_string("Not Found"), COAP_CODE_NOT_FOUND);
  cr_expect_eq(coap_code_from_string("NOT_FOUND"), COAP_CODE_NOT_FOUND);
  cr_expect_eq(coap_code_from_string("notfound"), COAP_CODE_NOT_FOUND);
  cr_expect_eq(coap_code_from_string("not-found"), COAP_CODE_NOT_FOUND);
  cr_expect_eq(coap_code_from_string("UNSUPPORTED_CONTENT_FORMAT"),
               COAP_CODE_UNSUPPORTED_CONTENT_FORMAT);
  cr_expect_eq(coap_code_from_string("hop_limit_reached"),
               COAP_CODE_HOP_LIMIT_REACHED);
  cr_expect_eq(coap_code_from_string("csm"), COAP_CODE_CSM);
}

COAP_TEST(code_from_string, dotted_unregistered_code_parses) {
  cr_expect_eq(coap_code_from_string("4.07"), COAP_CODE(4, 7));
  cr_expect_eq(coap_code_from_string("0.31"), COAP_CODE(0, 31));
}

COAP_TEST(code_from_string, rejects_out_of_range_dotted_codes) {
  cr_expect_eq(coap_code_from_string("8.00"), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("2.32"), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("2.99"), COAP_EINVAL);
}

COAP_TEST(code_from_string, rejects_malformed_dotted_codes) {
  cr_expect_eq(coap_code_from_string("2.5"), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("2.005"), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("2,05"), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("2.05 "), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("2.0x"), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("205"), COAP_EINVAL);
}

COAP_TEST(code_from_string, rejects_unknown_names_and_empty_text) {
  cr_expect_eq(coap_code_from_string(NULL), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string(""), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string(" "), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("___"), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("GE"), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("GETX"), COAP_EINVAL);
  cr_expect_eq(coap_code_from_string("Teapot"), COAP_EINVAL);
}

COAP_TEST(transmission, defaults_are_rfc_7252_section_4_8) {
  coap_transmission_parameters params;
  memset(&params, 0xa5, sizeof params);
  coap_transmission_parameters_default(&params);
  cr_expect_eq(params.ack_timeout_ms, 2000);
  cr_expect_eq(params.ack_random_factor, 1.5);
  cr_expect_eq(params.max_retransmit, 4);
  cr_expect_eq(params.nstart, 1);
  cr_expect_eq(params.max_latency_ms, 100000);
  cr_expect_eq(params.processing_delay_ms, 2000);
}

COAP_TEST(transmission, default_derived_times_match_rfc_7252_section_4_8_2) {
  coap_transmission_parameters params;
  coap_transmission_parameters_default(&params);
  cr_expect_eq(coap_max_transmit_span_ms(&params), 45000);
  cr_expect_eq(coap_max_transmit_wait_ms(&params), 93000);
  cr_expect_eq(coap_max_rtt_ms(&params), 202000);
  cr_expect_eq(coap_exchange_lifetime_ms(&params), 247000);
  cr_expect_eq(coap_non_lifetime_ms(&params), 145000);
}

COAP_TEST(transmission, default_derived_times_equal_the_constants) {
  coap_transmission_parameters params;
  coap_transmission_parameters_default(&params);
  cr_expect_eq(coap_max_transmit_span_ms(&params), COAP_MAX_TRANSMIT_SPAN_MS);
  cr_expect_eq(coap_max_transmit_wait_ms(&params), COAP_MAX_TRANSMIT_WAIT_MS);
  cr_expect_eq(coap_max_rtt_ms(&params), COAP_MAX_RTT_MS);
  cr_expect_eq(coap_exchange_lifetime_ms(&params), COAP_EXCHANGE_LIFETIME_MS);
  cr_expect_eq(coap_non_lifetime_ms(&params), COAP_NON_LIFETIME_MS);
}

COAP_TEST(transmission, derived_times_follow_changed_parameters) {
  const coap_transmission_parameters params = {
      .ack_timeout_ms = 1000,
      .ack_random_factor = 2.0,
      .max_retransmit = 2,
      .nstart = 1,
      .max_latency_ms = 50000,
      .processing_delay_ms = 500,
  };
  cr_expect_eq(coap_max_transmit_span_ms(&params), 1000 * 3 * 2);
  cr_expect_eq(coap_max_transmit_wait_ms(&params), 1000 * 7 * 2);
  cr_expect_eq(coap_max_rtt_ms(&params), 2 * 50000 + 500);
  cr_expect_eq(coap_exchange_lifetime_ms(&params), 6000 + 2 * 50000 + 500);
  cr_expect_eq(coap_non_lifetime_ms(&params), 6000 + 50000);
}

COAP_TEST(transmission, no_retransmissions_give_zero_span) {
  coap_transmission_parameters params;
  coap_transmission_parameters_default(&params);
  params.max_retransmit = 0;
  cr_expect_eq(coap_max_transmit_span_ms(&params), 0);
  cr_expect_eq(coap_max_transmit_wait_ms(&params), 3000);
}

COAP_TEST(transmission, huge_max_retransmit_saturates_instead_of_wrapping) {
  coap_transmission_parameters params;
  coap_transmission_parameters_default(&params);
  params.max_retransmit = UINT32_MAX;
  cr_expect_eq(coap_max_transmit_span_ms(&params), UINT64_MAX);
  cr_expect_eq(coap_max_transmit_wait_ms(&params), UINT64_MAX);
  cr_expect_eq(coap_exchange_lifetime_ms(&params), UINT64_MAX);
  cr_expect_eq(coap_non_lifetime_ms(&params), UINT64_MAX);
}

COAP_TEST(transmission, largest_latency_does_not_overflow_rtt) {
  coap_transmission_parameters params;
  coap_transmission_parameters_default(&params);
  params.max_latency_ms = UINT32_MAX;
  params.processing_delay_ms = UINT32_MAX;
  cr_expect_eq(coap_max_rtt_ms(&params), 3 * (uint64_t)UINT32_MAX);
}

/* Registry entries with the C/U/N columns of RFC 7252 §5.10 Table 4 (and of
 * the RFCs that added the later options). */
static const struct {
  uint16_t number;
  const char *name;
  coap_option_format format;
  bool repeatable;
  uint16_t min_len, max_len;
  bool critical, unsafe, no_cache_key;
} registered_options[] = {
    {1, "If-Match", COAP_FORMAT_OPAQUE, true, 0, 8, true, false, false},
    {3, "Uri-Host", COAP_FORMAT_STRING, false, 1, 255, true, true, false},
    {4, "ETag", COAP_FORMAT_OPAQUE, true, 1, 8, false, false, false},
    {5, "If-None-Match", COAP_FORMAT_EMPTY, false, 0, 0, true, false, false},
    {6, "Observe", COAP_FORMAT_UINT, false, 0, 3, false, true, false},
    {7, "Uri-Port", COAP_FORMAT_UINT, false, 0, 2, true, true, false},
    {8, "Location-Path", COAP_FORMAT_STRING, true, 0, 255, false, false, false},
    {9, "OSCORE", COAP_FORMAT_OPAQUE, false, 0, 255, true, false, false},
    {11, "Uri-Path", COAP_FORMAT_STRING, true, 0, 255, true, true, false},
    {12, "Content-Format", COAP_FORMAT_UINT, false, 0, 2, false, false, false},
    {14, "Max-Age", COAP_FORMAT_UINT, false, 0, 4, false, true, false},
    {15, "Uri-Query", COAP_FORMAT_STRING, true, 0, 255, true, true, false},
    {16, "Hop-Limit", COAP_FORMAT_UINT, false, 1, 1, false, false, false},
    {17, "Accept", COAP_FORMAT_UINT, false, 0, 2, true, false, false},
    {20, "Location-Query", COAP_FORMAT_STRING, true, 0, 255, false, false,
     false},
    {23, "Block2", COAP_FORMAT_UINT, false, 0, 3, true, true, false},
    {27, "Block1", COAP_FORMAT_UINT, false, 0, 3, true, true, false},
    {28, "Size2", COAP_FORMAT_UINT, false, 0, 4, false, false, true},
    {35, "Proxy-Uri", COAP_FORMAT_STRING, false, 1, 1034, true, true, false},
    {39, "Proxy-Scheme", COAP_FORMAT_STRING, false, 1, 255, true, true, false},
    {60, "Size1", COAP_FORMAT_UINT, false, 0, 4, false, false, true},
    {252, "Echo", COAP_FORMAT_OPAQUE, false, 1, 40, false, false, true},
    {258, "No-Response", COAP_FORMAT_UINT, false, 0, 1, false, true, false},
    {292, "Request-Tag", COAP_FORMAT_OPAQUE, true, 0, 8, false, false, false},
};

COAP_TEST(option_registry, every_option_has_its_rfc_format_and_lengths) {
  for (size_t i = 0; i < COUNT(registered_options); i++) {
    const coap_option_info *info =
        coap_option_info_get(registered_options[i].number);
    cr_assert_not_null(info, "%s", registered_options[i].name);
    cr_expect_eq(info->number, registered_options[i].number);
    cr_expect_str_eq(info->name, registered_options[i].name);
    cr_expect_eq(info->format, registered_options[i].format, "%s", info->name);
    cr_expect_eq(info->repeatable, registered_options[i].repeatable, "%s",
                 info->name);
    cr_expect_eq(info->min_len, registered_options[i].min_len, "%s",
                 info->name);
    cr_expect_eq(info->max_len, registered_options[i].max_len, "%s",
                 info->name);
  }
}

COAP_TEST(option_registry, only_the_enum_options_are_registered) {
  size_t registered = 0;
  for (uint32_t number = 0; number <= UINT16_MAX; number++) {
    const coap_option_info *info = coap_option_info_get((uint16_t)number);
    if (info == NULL)
      continue;
    registered++;
    cr_expect_eq(info->number, number);
  }
  cr_expect_eq(registered, COUNT(registered_options));
}

COAP_TEST(option_registry, unknown_numbers_have_no_entry) {
  cr_expect_null(coap_option_info_get(0));
  cr_expect_null(coap_option_info_get(2));
  cr_expect_null(coap_option_info_get(13));
  cr_expect_null(coap_option_info_get(61));
  cr_expect_null(coap_option_info_get(65535));
}

COAP_TEST(option_bits, every_option_matches_its_registered_properties) {
  for (size_t i = 0; i < COUNT(registered_options); i++) {
    const uint16_t number = registered_options[i].number;
    const char *name = registered_options[i].name;
    cr_expect_eq(coap_option_is_critical(number),
                 registered_options[i].critical, "%s", name);
    cr_expect_eq(coap_option_is_unsafe(number), registered_options[i].unsafe,
                 "%s", name);
    cr_expect_eq(coap_option_is_no_cache_key(number),
                 registered_options[i].no_cache_key, "%s", name);
  }
}

COAP_TEST(option_bits, uri_host_is_critical_and_unsafe) {
  cr_expect(coap_option_is_critical(COAP_OPT_URI_HOST));
  cr_expect(coap_option_is_unsafe(COAP_OPT_URI_HOST));
  cr_expect(coap_option_is_cache_key(COAP_OPT_URI_HOST));
}

COAP_TEST(option_bits, etag_is_elective_and_safe_to_forward) {
  cr_expect(coap_option_is_elective(COAP_OPT_ETAG));
  cr_expect(coap_option_is_safe_to_forward(COAP_OPT_ETAG));
  cr_expect(coap_option_is_cache_key(COAP_OPT_ETAG));
}

COAP_TEST(option_bits, max_age_is_elective_and_unsafe) {
  cr_expect(coap_option_is_elective(COAP_OPT_MAX_AGE));
  cr_expect(coap_option_is_unsafe(COAP_OPT_MAX_AGE));
}

COAP_TEST(option_bits, size1_size2_and_echo_are_no_cache_key) {
  cr_expect(coap_option_is_no_cache_key(COAP_OPT_SIZE1));
  cr_expect(coap_option_is_no_cache_key(COAP_OPT_SIZE2));
  cr_expect(coap_option_is_no_cache_key(COAP_OPT_ECHO));
  cr_expect_not(coap_option_is_cache_key(COAP_OPT_SIZE1));
}

COAP_TEST(option_bits, predicates_pair_up_for_every_number) {
  for (uint32_t n = 0; n <= UINT16_MAX; n++) {
    const uint16_t number = (uint16_t)n;
    cr_assert_neq(coap_option_is_critical(number),
                  coap_option_is_elective(number), "%u", n);
    cr_assert_neq(coap_option_is_unsafe(number),
                  coap_option_is_safe_to_forward(number), "%u", n);
    cr_assert_neq(coap_option_is_no_cache_key(number),
                  coap_option_is_cache_key(number), "%u", n);
    /* RFC 7252 §5.4.2: NoCacheKey only applies to safe-to-forward options. */
    if (coap_option_is_no_cache_key(number))
      cr_assert(coap_option_is_safe_to_forward(number), "%u", n);
  }
}

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

COAP_TEST(content_formats, every_format_has_its_iana_media_type) {
  for (size_t i = 0; i < COUNT(content_formats); i++) {
    const char *name = coap_content_format_name(content_formats[i].number);
    cr_assert_not_null(name, "%u", content_formats[i].number);
    cr_expect_str_eq(name, content_formats[i].name);
  }
}

COAP_TEST(content_formats, every_media_type_maps_back_to_its_number) {
  for (size_t i = 0; i < COUNT(content_formats); i++)
    cr_expect_eq(coap_content_format_from_name(content_formats[i].name),
                 content_formats[i].number, "%s", content_formats[i].name);
}

COAP_TEST(content_formats, from_name_ignores_case) {
  cr_expect_eq(coap_content_format_from_name("APPLICATION/JSON"), COAP_CT_JSON);
  cr_expect_eq(coap_content_format_from_name("Text/Plain;Charset=UTF-8"),
               COAP_CT_TEXT_PLAIN);
  cr_expect_eq(coap_content_format_from_name("Application/SenML+CBOR"),
               COAP_CT_SENML_CBOR);
}

COAP_TEST(content_formats, bare_text_plain_is_format_0) {
  cr_expect_eq(coap_content_format_from_name("text/plain"), COAP_CT_TEXT_PLAIN);
  cr_expect_eq(coap_content_format_from_name("TEXT/PLAIN"), COAP_CT_TEXT_PLAIN);
}

COAP_TEST(content_formats, unknown_numbers_have_no_name) {
  cr_expect_null(coap_content_format_name(1));
  cr_expect_null(coap_content_format_name(43));
  cr_expect_null(coap_content_format_name(65535));
}

COAP_TEST(content_formats, unknown_or_inexact_names_are_rejected) {
  cr_expect_eq(coap_content_format_from_name(NULL), COAP_EINVAL);
  cr_expect_eq(coap_content_format_from_name(""), COAP_EINVAL);
  cr_expect_eq(coap_content_format_from_name("application/foo"), COAP_EINVAL);
  cr_expect_eq(coap_content_format_from_name("application/json "), COAP_EINVAL);
  cr_expect_eq(coap_content_format_from_name("application/jso"), COAP_EINVAL);
  cr_expect_eq(coap_content_format_from_name("text"), COAP_EINVAL);
}
