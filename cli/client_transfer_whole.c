/*
 * Request and response bodies held whole, for a library without the body
 * streaming API (coap_body_sink / coap_body_source): @FILE and @- are read
 * into memory up to CLIENT_MAX_BODY_SIZE, and the context takes responses
 * of up to that size (max_body_size).  client_transfer_stream.c replaces
 * this file when the library streams.
 */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct client_transfer {
  const client_output *out;
  bool always_newline;
  int request_content_format;
  int read_error;
};

static int read_whole(int fd, uint8_t **out, size_t *len) {
  size_t cap = 65536, n = 0;
  uint8_t *buf = malloc(cap);
  if (buf == NULL)
    return COAP_ENOMEM;
  for (;;) {
    if (n == cap) {
      if (cap >= CLIENT_MAX_BODY_SIZE) {
        free(buf);
        return COAP_EMSGSIZE;
      }
      uint8_t *grown = realloc(buf, cap * 2);
      if (grown == NULL) {
        free(buf);
        return COAP_ENOMEM;
      }
      buf = grown;
      cap *= 2;
    }
    ssize_t got = read(fd, buf + n, cap - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      int err = -errno;
      free(buf);
      return err;
    }
    if (got == 0)
      break;
    n += (size_t)got;
  }
  *out = buf;
  *len = n;
  return 0;
}

int client_transfer_new(uv_loop_t *loop, const client_output *out,
                        client_payload *payload, coap_message *msg,
                        bool always_newline, coap_request_params *params,
                        client_transfer **t) {
  (void)loop;
  (void)params;
  client_transfer *tr = calloc(1, sizeof *tr);
  if (tr == NULL)
    return COAP_ENOMEM;
  tr->out = out;
  tr->always_newline = always_newline;
  uint16_t cf;
  /* aiocoap's present(): a successful response without Content-Format is
   * taken to be in the request's. */
  tr->request_content_format =
      coap_options_get_content_format(&msg->opt, &cf) == 0 ? cf : -1;
  int rc = 0;
  if (payload->fd >= 0 && payload->data == NULL)
    rc = read_whole(payload->fd, &payload->data, &payload->len);
  if (rc == 0 && payload->len > 0)
    rc = coap_message_set_payload(msg, payload->data, payload->len);
  if (rc < 0) {
    tr->read_error = rc;
    if (rc == COAP_EMSGSIZE)
      client_output_error(out, "%s: larger than %u bytes, which is all this "
                          "build holds (no body streaming)",
                          payload->name, CLIENT_MAX_BODY_SIZE);
    else
      client_output_error(out, "%s: %s", payload->name, coap_strerror(rc));
    free(tr);
    return rc;
  }
  *t = tr;
  return 0;
}

int client_transfer_finish(client_transfer *t, const coap_message *response) {
  const bool ok = coap_code_is_successful(response->code);
  uint16_t cf;
  int content_format = coap_options_get_content_format(&response->opt, &cf) == 0
                           ? cf
                           : ok ? t->request_content_format : COAP_CT_TEXT_PLAIN;
  if (!ok)
    client_output_code(t->out, response->code);
  client_output_location(t->out, response);
  client_output_body(t->out, content_format, response->payload,
                     response->payload_len, ok ? stdout : stderr,
                     t->always_newline && ok);
  return ok ? CLIENT_EXIT_OK : CLIENT_EXIT_FAIL;
}

int client_transfer_read_error(const client_transfer *t) {
  return t->read_error;
}

void client_transfer_free(client_transfer *t) { free(t); }
