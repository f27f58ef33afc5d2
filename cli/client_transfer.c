/*
 * Request and response bodies of any size, streamed with the library's
 * coap_body_source and coap_body_sink: @FILE and @- are read block by
 * block as the upload goes (RFC 7959 §2.5), and a download is written to
 * stdout as its blocks arrive (§2.4), so neither is held in memory.  Only
 * a body to be pretty-printed is collected, up to CLIENT_MAX_PRETTY; a
 * larger one goes out as it is.
 */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_MAX_PRETTY (16u << 20)

struct client_transfer {
  const client_output *out;
  bool always_newline;
  client_payload *payload;
  client_progress *progress;
  coap_body_sink sink;
  coap_body_source source;
  int read_error;
  uint64_t sent;
  /* the response body */
  bool started;
  bool ok;
  uint8_t code;
  FILE *f;
  int content_format;
  int request_content_format;
  bool collecting;
  uint8_t *body;
  size_t body_len, body_cap;
  uint64_t received;
  uint8_t head[16];
  size_t head_len;
  uint8_t last;
  bool newline_done;
  int write_error;
};

static int content_format_of(const client_transfer *t,
                             const coap_message *response) {
  uint16_t cf;
  if (coap_options_get_content_format(&response->opt, &cf) == 0)
    return cf;
  return t->ok ? t->request_content_format : COAP_CT_TEXT_PLAIN;
}

static int emit(client_transfer *t, const uint8_t *data, size_t len) {
  if (len == 0)
    return 0;
  if (fwrite(data, 1, len, t->f) != len || fflush(t->f) != 0) {
    t->write_error = errno ? -errno : COAP_EINVAL;
    return t->write_error;
  }
  t->last = data[len - 1];
  return 0;
}

static void begin(client_transfer *t, const coap_message *response) {
  t->started = true;
  t->code = response->code;
  t->ok = coap_code_is_successful(response->code);
  t->f = t->ok ? stdout : stderr;
  if (!t->ok)
    client_output_code(t->out, response->code);
  client_output_location(t->out, response);
  t->content_format = content_format_of(t, response);
  client_kind kind = client_kind_of(t->content_format);
  t->collecting =
      t->out->pretty && (kind == CLIENT_KIND_LINK_FORMAT ||
                         kind == CLIENT_KIND_JSON || kind == CLIENT_KIND_CBOR);
}

static int collect(client_transfer *t, const uint8_t *data, size_t len) {
  if (t->body_len + len > CLIENT_MAX_PRETTY) {
    /* Too large to hold for pretty printing: out as it is, from here on. */
    t->collecting = false;
    int rc = emit(t, t->body, t->body_len);
    free(t->body);
    t->body = NULL;
    t->body_len = t->body_cap = 0;
    return rc < 0 ? rc : emit(t, data, len);
  }
  if (t->body_len + len > t->body_cap) {
    size_t cap = t->body_cap ? t->body_cap : 4096;
    while (cap < t->body_len + len)
      cap *= 2;
    uint8_t *grown = realloc(t->body, cap);
    if (grown == NULL)
      return COAP_ENOMEM;
    t->body = grown;
    t->body_cap = cap;
  }
  memcpy(t->body + t->body_len, data, len);
  t->body_len += len;
  return 0;
}

static int sink_write(void *user_data, const coap_message *response,
                      uint64_t offset, const uint8_t *data, size_t len) {
  client_transfer *t = user_data;
  if (t->started && offset == 0 && response->code != t->code) {
    /* An unsuccessful response ended a Block2 transfer midway: what came
     * so far stays on stdout, the error goes to stderr. */
    if (t->collecting)
      emit(t, t->body, t->body_len);
    free(t->body);
    t->body = NULL;
    t->body_len = t->body_cap = 0;
    t->received = 0;
    t->head_len = 0;
    t->newline_done = false;
    if (t->ok)
      client_output_error(t->out, "(transfer cut short)");
    t->started = false;
  }
  if (!t->started)
    begin(t, response);
  /* Pieces come in body order, so the head fills from the first ones. */
  for (size_t i = 0; i < len && t->head_len < sizeof t->head; i++)
    t->head[t->head_len++] = data[i];
  t->received += len;
  uint32_t size2;
  client_progress_update(t->progress, "received", t->received,
                         coap_options_get_size2(&response->opt, &size2) == 0
                             ? (int64_t)size2
                             : -1);
  if (t->collecting)
    return collect(t, data, len);
  int rc = emit(t, data, len);
  coap_block block2;
  const bool last =
      coap_options_get_block2(&response->opt, &block2) != 0 || !block2.more;
  if (rc == 0 && last && t->always_newline && t->ok &&
      (t->received == 0 || t->last != '\n')) {
    /* Records (observations, the prompt) end here and now, before other
     * output on the loop can follow. */
    rc = emit(t, (const uint8_t *)"\n", 1);
    t->newline_done = true;
  }
  return rc;
}

/* Reads exactly len bytes unless the body ends first: the library takes a
 * short read for the end of the body. */
static ssize_t source_read(void *user_data, uint64_t offset, uint8_t *buf,
                           size_t len) {
  client_transfer *t = user_data;
  (void)offset;
  size_t n = 0;
  while (n < len) {
    ssize_t got = read(t->payload->fd, buf + n, len - n);
    if (got < 0 && errno == EINTR && client_interrupted)
      return COAP_ECANCELED; /* Ctrl-C while stdin had nothing to give */
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      t->read_error = -errno;
      return t->read_error;
    }
    if (got == 0)
      break;
    n += (size_t)got;
  }
  t->sent += n;
  client_progress_update(t->progress, "sent", t->sent, t->payload->size);
  return (ssize_t)n;
}

int client_transfer_new(uv_loop_t *loop, const client_output *out,
                        client_payload *payload, coap_message *msg,
                        bool always_newline, coap_request_params *params,
                        client_transfer **t) {
  client_transfer *tr = calloc(1, sizeof *tr);
  if (tr == NULL)
    return COAP_ENOMEM;
  tr->out = out;
  tr->always_newline = always_newline;
  tr->payload = payload;
  uint16_t cf;
  /* aiocoap's present(): a successful response without Content-Format is
   * taken to be in the request's. */
  tr->request_content_format =
      coap_options_get_content_format(&msg->opt, &cf) == 0 ? cf : -1;
  tr->progress = client_progress_start(loop, out);
  tr->sink = (coap_body_sink){.write = sink_write, .user_data = tr};
  params->body_sink = &tr->sink;
  if (payload->fd >= 0) {
    tr->source = (coap_body_source){
        .read = source_read, .size = payload->size, .user_data = tr};
    params->body_source = &tr->source;
  } else if (payload->len > 0 &&
             coap_message_set_payload(msg, payload->data, payload->len) < 0) {
    client_progress_stop(tr->progress);
    free(tr);
    return COAP_ENOMEM;
  }
  *t = tr;
  return 0;
}

int client_transfer_finish(client_transfer *t, const coap_message *response) {
  client_progress_stop(t->progress);
  t->progress = NULL;
  if (!t->started) {
    /* Not streamed (e.g. a library answer without body): whole. */
    begin(t, response);
    client_output_body(t->out, t->content_format, response->payload,
                       response->payload_len, t->f, t->always_newline && t->ok);
  } else if (t->collecting) {
    client_output_body(t->out, t->content_format, t->body, t->body_len, t->f,
                       t->always_newline && t->ok);
  } else if (t->newline_done) {
    /* ended in sink_write */
  } else if ((t->received > 0 && t->last != '\n' &&
              (t->f == stdout ? t->out->stdout_tty : t->out->stderr_tty)) ||
             (t->always_newline && t->ok &&
              (t->received == 0 || t->last != '\n'))) {
    fputc('\n', t->f);
  }
  fflush(t->f);
  return t->ok ? CLIENT_EXIT_OK : CLIENT_EXIT_FAIL;
}

size_t client_transfer_head(const client_transfer *t, const uint8_t **head,
                            uint64_t *total) {
  *head = t->head;
  *total = t->received;
  return t->head_len;
}

int client_transfer_read_error(const client_transfer *t) {
  return t->read_error;
}

void client_transfer_free(client_transfer *t) {
  if (t == NULL)
    return;
  client_progress_stop(t->progress);
  free(t->body);
  free(t);
}
