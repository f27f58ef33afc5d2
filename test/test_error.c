#include "test_common.h"

#include <limits.h>
#include <string.h>

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))
#define ERR(e)                                                                 \
  { e, #e }

/* Every value of coap_error. */
static const struct {
  int err;
  const char *name;
} all_errors[] = {
    ERR(COAP_OK),
    ERR(COAP_EINVAL),
    ERR(COAP_ENOMEM),
    ERR(COAP_ENOSPC),
    ERR(COAP_ENOENT),
    ERR(COAP_ERANGE),
    ERR(COAP_EAGAIN),
    ERR(COAP_ECANCELED),
    ERR(COAP_ETIMEDOUT),
    ERR(COAP_ECONNREFUSED),
    ERR(COAP_EHOSTUNREACH),
    ERR(COAP_ENETUNREACH),
    ERR(COAP_EADDRINUSE),
    ERR(COAP_EMSGSIZE),
    ERR(COAP_EDECODE_SHORT),
    ERR(COAP_EDECODE_VERSION),
    ERR(COAP_EDECODE_TOKEN_LENGTH),
    ERR(COAP_EDECODE_TRUNCATED),
    ERR(COAP_EDECODE_NIBBLE15),
    ERR(COAP_EDECODE_EMPTY_PAYLOAD),
    ERR(COAP_EDECODE_EMPTY_MESSAGE),
    ERR(COAP_EDECODE_OPTION_NUMBER),
    ERR(COAP_EURI),
    ERR(COAP_EURI_SCHEME),
    ERR(COAP_ESHUTDOWN),
    ERR(COAP_ERESET),
    ERR(COAP_EKILLED),
    ERR(COAP_ERESOLVE),
    ERR(COAP_ERESPONSE),
    ERR(COAP_ENOT_OBSERVABLE),
    ERR(COAP_EOBSERVATION_CANCELLED),
    ERR(COAP_ERESOURCE_CHANGED),
    ERR(COAP_EUNEXPECTED_BLOCK1),
    ERR(COAP_EUNEXPECTED_BLOCK2),
    ERR(COAP_EMISSING_BLOCK2),
    ERR(COAP_ELIMIT),
    ERR(COAP_ECREDENTIALS),
    ERR(COAP_EHANDSHAKE),
    ERR(COAP_EALERT),
    ERR(COAP_ECERTIFICATE),
    ERR(COAP_ESESSION_CLOSED),
    ERR(COAP_ENOTSUP),
    ERR(COAP_EBAD_REQUEST),
    ERR(COAP_EUNAUTHORIZED),
    ERR(COAP_EBAD_OPTION),
    ERR(COAP_EFORBIDDEN),
    ERR(COAP_ENOT_FOUND),
    ERR(COAP_EMETHOD_NOT_ALLOWED),
    ERR(COAP_ENOT_ACCEPTABLE),
    ERR(COAP_EREQUEST_ENTITY_INCOMPLETE),
    ERR(COAP_ECONFLICT),
    ERR(COAP_EPRECONDITION_FAILED),
    ERR(COAP_EREQUEST_ENTITY_TOO_LARGE),
    ERR(COAP_EUNSUPPORTED_MEDIA_TYPE),
    ERR(COAP_EUNPROCESSABLE_ENTITY),
    ERR(COAP_EINTERNAL_SERVER_ERROR),
    ERR(COAP_ENOT_IMPLEMENTED),
    ERR(COAP_ESERVICE_UNAVAILABLE),
    ERR(COAP_EPROXYING_NOT_SUPPORTED),
};

/* aiocoap's RenderableError subclasses and the codes they render as. */
static const struct {
  int err;
  uint8_t code;
} renderables[] = {
    {COAP_EBAD_REQUEST, COAP_CODE_BAD_REQUEST},
    {COAP_EUNAUTHORIZED, COAP_CODE_UNAUTHORIZED},
    {COAP_EBAD_OPTION, COAP_CODE_BAD_OPTION},
    {COAP_EFORBIDDEN, COAP_CODE_FORBIDDEN},
    {COAP_ENOT_FOUND, COAP_CODE_NOT_FOUND},
    {COAP_EMETHOD_NOT_ALLOWED, COAP_CODE_METHOD_NOT_ALLOWED},
    {COAP_ENOT_ACCEPTABLE, COAP_CODE_NOT_ACCEPTABLE},
    {COAP_EREQUEST_ENTITY_INCOMPLETE, COAP_CODE_REQUEST_ENTITY_INCOMPLETE},
    {COAP_ECONFLICT, COAP_CODE_CONFLICT},
    {COAP_EPRECONDITION_FAILED, COAP_CODE_PRECONDITION_FAILED},
    {COAP_EREQUEST_ENTITY_TOO_LARGE, COAP_CODE_REQUEST_ENTITY_TOO_LARGE},
    {COAP_EUNSUPPORTED_MEDIA_TYPE, COAP_CODE_UNSUPPORTED_CONTENT_FORMAT},
    {COAP_EUNPROCESSABLE_ENTITY, COAP_CODE_UNPROCESSABLE_ENTITY},
    {COAP_EINTERNAL_SERVER_ERROR, COAP_CODE_INTERNAL_SERVER_ERROR},
    {COAP_ENOT_IMPLEMENTED, COAP_CODE_NOT_IMPLEMENTED},
    {COAP_ESERVICE_UNAVAILABLE, COAP_CODE_SERVICE_UNAVAILABLE},
    {COAP_EPROXYING_NOT_SUPPORTED, COAP_CODE_PROXYING_NOT_SUPPORTED},
};

static bool is_listed_renderable(int err) {
  for (size_t i = 0; i < COUNT(renderables); i++) {
    if (renderables[i].err == err)
      return true;
  }
  return false;
}

COAP_TEST(strerror, every_error_has_a_known_description) {
  for (size_t i = 0; i < COUNT(all_errors); i++) {
    const char *message = coap_strerror(all_errors[i].err);
    cr_assert_not_null(message, "%s", all_errors[i].name);
    cr_expect_gt(strlen(message), 0, "%s", all_errors[i].name);
    cr_expect_str_neq(message, "unknown error", "%s", all_errors[i].name);
  }
}

COAP_TEST(strerror, every_error_has_a_distinct_description) {
  for (size_t i = 0; i < COUNT(all_errors); i++) {
    for (size_t j = i + 1; j < COUNT(all_errors); j++)
      cr_expect_str_neq(coap_strerror(all_errors[i].err),
                        coap_strerror(all_errors[j].err), "%s and %s",
                        all_errors[i].name, all_errors[j].name);
  }
}

COAP_TEST(strerror, short_datagram_names_the_4_byte_header) {
  /* RFC 7252 §3: the fixed header is 4 bytes. */
  cr_expect_str_eq(coap_strerror(COAP_EDECODE_SHORT),
                   "message shorter than the 4-byte header");
}

COAP_TEST(strerror, errno_errors_read_like_strerror) {
  cr_expect_str_eq(coap_strerror(COAP_EINVAL), "invalid argument");
  cr_expect_str_eq(coap_strerror(COAP_ENOMEM), "out of memory");
  cr_expect_str_eq(coap_strerror(COAP_EADDRINUSE), "address already in use");
}

/* Other system errors (as libuv passes them on) read as the C library
 * describes them, never "unknown error". */
COAP_TEST(strerror, other_errno_values_get_the_system_description) {
  cr_expect_str_eq(coap_strerror(-EPERM), "Operation not permitted");
  cr_expect_str_eq(coap_strerror(COAP_EADDRNOTAVAIL), "address not available");
}

COAP_TEST(strerror, unknown_values_give_unknown_error) {
  cr_expect_str_eq(coap_strerror(-999), "unknown error");
  cr_expect_str_eq(coap_strerror(-1107), "unknown error");
  cr_expect_str_eq(coap_strerror(1), "unknown error");
  cr_expect_str_eq(coap_strerror(INT_MIN), "unknown error");
  cr_expect_str_eq(coap_strerror(INT_MAX), "unknown error");
}

COAP_TEST(err_name, every_error_is_named_as_its_constant) {
  for (size_t i = 0; i < COUNT(all_errors); i++)
    cr_expect_str_eq(coap_err_name(all_errors[i].err), all_errors[i].name);
}

COAP_TEST(err_name, unknown_values_have_a_placeholder_name) {
  cr_expect_str_eq(coap_err_name(-999), "UNKNOWN");
  cr_expect_str_eq(coap_err_name(INT_MIN), "UNKNOWN");
}

COAP_TEST(error_codes, errno_errors_stay_above_protocol_errors) {
  /* error.h: system errors are -errno and protocol errors sit below -1000,
   * so the two ranges never collide. */
  const int errno_errors[] = {
      COAP_EINVAL,       COAP_ENOMEM,       COAP_ENOSPC,      COAP_ENOENT,
      COAP_ERANGE,       COAP_EAGAIN,       COAP_ECANCELED,   COAP_ETIMEDOUT,
      COAP_ECONNREFUSED, COAP_EHOSTUNREACH, COAP_ENETUNREACH, COAP_EADDRINUSE,
      COAP_EMSGSIZE,
  };
  for (size_t i = 0; i < COUNT(errno_errors); i++) {
    cr_expect_lt(errno_errors[i], 0);
    cr_expect_gt(errno_errors[i], -1000, "%s", coap_err_name(errno_errors[i]));
  }
  cr_expect_lt(COAP_EDECODE_SHORT, -1000);
}

COAP_TEST(error_codes, every_error_value_is_distinct) {
  for (size_t i = 0; i < COUNT(all_errors); i++) {
    for (size_t j = i + 1; j < COUNT(all_errors); j++)
      cr_expect_neq(all_errors[i].err, all_errors[j].err, "%s and %s",
                    all_errors[i].name, all_errors[j].name);
  }
}

COAP_TEST(error_to_code, every_renderable_error_renders_its_code) {
  for (size_t i = 0; i < COUNT(renderables); i++)
    cr_expect_eq(coap_error_to_code(renderables[i].err), renderables[i].code,
                 "%s", coap_err_name(renderables[i].err));
}

COAP_TEST(error_to_code, einval_renders_bad_request) {
  cr_expect_eq(coap_error_to_code(COAP_EINVAL), COAP_CODE_BAD_REQUEST);
}

COAP_TEST(error_to_code, enoent_renders_not_found) {
  cr_expect_eq(coap_error_to_code(COAP_ENOENT), COAP_CODE_NOT_FOUND);
}

/* aiocoap renders CommunicationKilled as 5.03 Service Unavailable. */
COAP_TEST(error_to_code, killed_renders_service_unavailable) {
  cr_expect_eq(coap_error_to_code(COAP_EKILLED), COAP_CODE_SERVICE_UNAVAILABLE);
}

COAP_TEST(error_to_code, other_errors_render_internal_server_error) {
  for (size_t i = 0; i < COUNT(all_errors); i++) {
    const int err = all_errors[i].err;
    if (is_listed_renderable(err) || err == COAP_EINVAL || err == COAP_ENOENT ||
        err == COAP_EKILLED)
      continue;
    cr_expect_eq(coap_error_to_code(err), COAP_CODE_INTERNAL_SERVER_ERROR, "%s",
                 all_errors[i].name);
  }
  cr_expect_eq(coap_error_to_code(-999), COAP_CODE_INTERNAL_SERVER_ERROR);
}

COAP_TEST(error_from_code, every_renderable_code_gives_its_error) {
  for (size_t i = 0; i < COUNT(renderables); i++)
    cr_expect_eq(coap_error_from_code(renderables[i].code), renderables[i].err,
                 "%s", coap_err_name(renderables[i].err));
}

COAP_TEST(error_from_code, round_trips_through_to_code) {
  for (unsigned code = 0; code <= 255; code++) {
    const int err = coap_error_from_code(code);
    if (err != COAP_ERESPONSE)
      cr_expect_eq(coap_error_to_code(err), code, "%u", code);
  }
}

COAP_TEST(error_from_code, codes_without_renderable_error_give_eresponse) {
  cr_expect_eq(coap_error_from_code(COAP_CODE_TOO_MANY_REQUESTS),
               COAP_ERESPONSE);
  cr_expect_eq(coap_error_from_code(COAP_CODE_BAD_GATEWAY), COAP_ERESPONSE);
  cr_expect_eq(coap_error_from_code(COAP_CODE_GATEWAY_TIMEOUT), COAP_ERESPONSE);
  cr_expect_eq(coap_error_from_code(COAP_CODE_HOP_LIMIT_REACHED),
               COAP_ERESPONSE);
  cr_expect_eq(coap_error_from_code(COAP_CODE(4, 7)), COAP_ERESPONSE);
}

COAP_TEST(error_from_code, non_error_codes_give_eresponse) {
  cr_expect_eq(coap_error_from_code(COAP_CODE_CONTENT), COAP_ERESPONSE);
  cr_expect_eq(coap_error_from_code(COAP_CODE_GET), COAP_ERESPONSE);
  cr_expect_eq(coap_error_from_code(COAP_CODE_EMPTY), COAP_ERESPONSE);
  cr_expect_eq(coap_error_from_code(COAP_CODE_CSM), COAP_ERESPONSE);
}

COAP_TEST(error_is_renderable, exactly_the_renderable_errors_are) {
  for (size_t i = 0; i < COUNT(all_errors); i++)
    cr_expect_eq(coap_error_is_renderable(all_errors[i].err) != 0,
                 is_listed_renderable(all_errors[i].err), "%s",
                 all_errors[i].name);
  cr_expect_not(coap_error_is_renderable(-1107));
  cr_expect_not(coap_error_is_renderable(INT_MIN));
}
