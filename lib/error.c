/*
 * aiocoap-c — error codes (aiocoap.error): descriptions, symbolic names and
 * the mapping between renderable errors and response codes.
 */
#include <aiocoap/error.h>
#include <aiocoap/numbers.h>

#include <stddef.h>
#include <string.h>

typedef struct error_entry {
  int err;
  const char *name;
  const char *message;
} error_entry;

#define ENTRY(err, message)                                                    \
  { err, #err, message }

/* One row per enum value.  The -errno rows carry our own strerror-like text
 * rather than calling strerror, which is locale-dependent and not
 * guaranteed to return static storage. */
static const error_entry errors[] = {
    ENTRY(COAP_OK, "success"),
    ENTRY(COAP_EINVAL, "invalid argument"),
    ENTRY(COAP_ENOMEM, "out of memory"),
    ENTRY(COAP_ENOSPC, "output buffer too small"),
    ENTRY(COAP_ENOENT, "option or item not present"),
    ENTRY(COAP_ERANGE, "value does not fit the option's length"),
    ENTRY(COAP_EAGAIN, "resource temporarily unavailable"),
    ENTRY(COAP_ECANCELED, "operation canceled"),
    ENTRY(COAP_ETIMEDOUT, "operation timed out"),
    ENTRY(COAP_ECONNREFUSED, "connection refused (port unreachable)"),
    ENTRY(COAP_EHOSTUNREACH, "host unreachable"),
    ENTRY(COAP_ENETUNREACH, "network unreachable"),
    ENTRY(COAP_EADDRINUSE, "address already in use"),
    ENTRY(COAP_EMSGSIZE, "message too long"),
    ENTRY(COAP_EADDRNOTAVAIL, "address not available"),
    ENTRY(COAP_EACCES, "permission denied"),
    ENTRY(COAP_ENODEV, "no such network interface (zone id)"),
    ENTRY(COAP_ENOTSUP, "not supported by this build"),

    ENTRY(COAP_EDECODE_SHORT, "message shorter than the 4-byte header"),
    ENTRY(COAP_EDECODE_VERSION, "message version is not 1"),
    ENTRY(COAP_EDECODE_TOKEN_LENGTH, "token length 9..15 is reserved"),
    ENTRY(COAP_EDECODE_TRUNCATED,
          "token or option runs past the end of the message"),
    ENTRY(COAP_EDECODE_NIBBLE15,
          "option delta or length 15 outside a payload marker"),
    ENTRY(COAP_EDECODE_EMPTY_PAYLOAD, "payload marker with an empty payload"),
    ENTRY(COAP_EDECODE_EMPTY_MESSAGE,
          "empty message (0.00) with a token, options or payload"),
    ENTRY(COAP_EDECODE_OPTION_NUMBER, "option number above 65535"),

    ENTRY(COAP_EURI, "malformed URI"),
    ENTRY(COAP_EURI_SCHEME, "unsupported URI scheme"),

    ENTRY(COAP_ESHUTDOWN, "context was shut down"),
    ENTRY(COAP_ERESET, "peer answered with a reset (RST)"),
    ENTRY(COAP_EKILLED, "communication killed"),
    ENTRY(COAP_ERESOLVE, "host name did not resolve"),
    ENTRY(COAP_ERESPONSE, "unsuccessful response"),
    ENTRY(COAP_ENOT_OBSERVABLE, "resource is not observable"),
    ENTRY(COAP_EOBSERVATION_CANCELLED, "observation cancelled"),
    ENTRY(COAP_ERESOURCE_CHANGED,
          "resource changed during a blockwise transfer"),
    ENTRY(COAP_EUNEXPECTED_BLOCK1, "unexpected Block1 option"),
    ENTRY(COAP_EUNEXPECTED_BLOCK2, "unexpected Block2 option"),
    ENTRY(COAP_EMISSING_BLOCK2, "response lacks the expected Block2 option"),
    ENTRY(COAP_ELIMIT, "configured limit reached"),
    ENTRY(COAP_EBAD_RESPONSE_OPTION,
          "response carries an unrecognised critical option"),
    ENTRY(COAP_ECREDENTIALS, "no matching or usable credentials"),
    ENTRY(COAP_EHANDSHAKE, "secure handshake failed"),
    ENTRY(COAP_EALERT, "peer sent a fatal alert"),
    ENTRY(COAP_ECERTIFICATE, "peer certificate did not verify"),
    ENTRY(COAP_ESESSION_CLOSED, "secure session closed"),
    ENTRY(COAP_ENORESPONSE, "no response expected (No-Response)"),
    ENTRY(COAP_EDONE, "no more responses (the multicast request's time is up)"),

    ENTRY(COAP_EBAD_REQUEST, "bad request"),
    ENTRY(COAP_EUNAUTHORIZED, "unauthorized"),
    ENTRY(COAP_EBAD_OPTION, "bad option"),
    ENTRY(COAP_EFORBIDDEN, "forbidden"),
    ENTRY(COAP_ENOT_FOUND, "not found"),
    ENTRY(COAP_EMETHOD_NOT_ALLOWED, "method not allowed"),
    ENTRY(COAP_ENOT_ACCEPTABLE, "not acceptable"),
    ENTRY(COAP_EREQUEST_ENTITY_INCOMPLETE, "request entity incomplete"),
    ENTRY(COAP_ECONFLICT, "conflict"),
    ENTRY(COAP_EPRECONDITION_FAILED, "precondition failed"),
    ENTRY(COAP_EREQUEST_ENTITY_TOO_LARGE, "request entity too large"),
    ENTRY(COAP_EUNSUPPORTED_MEDIA_TYPE, "unsupported content format"),
    ENTRY(COAP_EUNPROCESSABLE_ENTITY, "unprocessable entity"),
    ENTRY(COAP_EINTERNAL_SERVER_ERROR, "internal server error"),
    ENTRY(COAP_ENOT_IMPLEMENTED, "not implemented"),
    ENTRY(COAP_ESERVICE_UNAVAILABLE, "service unavailable"),
    ENTRY(COAP_EPROXYING_NOT_SUPPORTED, "proxying not supported"),
};

#undef ENTRY

static const error_entry *find_error(int err) {
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
    if (errors[i].err == err)
      return &errors[i];
  }
  return NULL;
}

const char *coap_strerror(int err) {
  const error_entry *entry = find_error(err);
  if (entry != NULL)
    return entry->message;
  /* Another system error (-errno, as libuv reports them): glibc's
   * description, which is static and not translated. */
  if (err < 0 && err > -4096) {
    const char *text = strerrordesc_np(-err);
    if (text != NULL)
      return text;
  }
  return "unknown error";
}

const char *coap_err_name(int err) {
  const error_entry *entry = find_error(err);
  return entry != NULL ? entry->name : "UNKNOWN";
}

/* aiocoap's RenderableError subclasses and the code each one renders as. */
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

#define RENDERABLE_COUNT (sizeof renderables / sizeof renderables[0])

uint8_t coap_error_to_code(int err) {
  for (size_t i = 0; i < RENDERABLE_COUNT; i++) {
    if (renderables[i].err == err)
      return renderables[i].code;
  }
  /* A handler that rejects its input or finds nothing is the client's
   * fault (RFC 7252 §5.9.2.1, §5.9.2.5); anything else is the server's
   * (§5.9.3.1), and its details stay private. */
  if (err == COAP_EINVAL)
    return COAP_CODE_BAD_REQUEST;
  /* aiocoap renders CommunicationKilled as 5.03: the service is there,
   * the exchange was cut off. */
  if (err == COAP_EKILLED)
    return COAP_CODE_SERVICE_UNAVAILABLE;
  if (err == COAP_ENOENT)
    return COAP_CODE_NOT_FOUND;
  return COAP_CODE_INTERNAL_SERVER_ERROR;
}

int coap_error_from_code(uint8_t code) {
  /* Only exact matches: a registered code without a renderable error
   * (4.29, 5.02, ...) and any non-error code give the generic
   * ResponseWrappingError equivalent. */
  for (size_t i = 0; i < RENDERABLE_COUNT; i++) {
    if (renderables[i].code == code)
      return renderables[i].err;
  }
  return COAP_ERESPONSE;
}

int coap_error_is_renderable(int err) {
  for (size_t i = 0; i < RENDERABLE_COUNT; i++) {
    if (renderables[i].err == err)
      return 1;
  }
  return 0;
}
