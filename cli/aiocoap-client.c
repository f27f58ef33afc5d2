/*
 * aiocoap-client: a command-line CoAP client, as aiocoap's aiocoap-client.
 *
 * Usage: aiocoap-client [-m METHOD] [--non] [--payload TEXT]
 *                       [--payload-file FILE] [--content-format CT]
 *                       [--accept CT] [--observe [--observe-count N]]
 *                       [-v] URI
 *
 * Prints the response payload; an unsuccessful response is printed with its
 * code first and the exit status is 1.  Transport errors exit with 2.
 *
 * With --observe (RFC 7641) the request registers as an observer and every
 * notification's payload is printed on a line of its own, until SIGINT or
 * SIGTERM, the server ending the observation, or N payloads (the first
 * response included) with --observe-count N; then the observation is
 * cancelled with a deregistration (RFC 7641 §3.6).
 */
#include <aiocoap/aiocoap.h>

#include "cli_args.h"

#include <limits.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What an observation going on needs from the loop's callbacks. */
typedef struct observing {
  coap_context *ctx;
  coap_observation *obs;
  uv_signal_t sigint, sigterm;
  long remaining; /* payloads still to print; <= 0 for no limit */
  int status;
  bool stopping;
} observing;

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [-m METHOD] [--non] [--payload TEXT] "
          "[--payload-file FILE] [--content-format CT] [--accept CT] "
          "[--observe [--observe-count N]] [-v] URI\n",
          argv0);
  exit(2);
}

/* A content format by number or name; a usage error when it is neither. */
static int content_format_arg(const char *flag, const char *text) {
  long long n;
  if (cli_parse_number(text, 0, 65535, &n))
    return (int)n;
  int ct = coap_content_format_from_name(text);
  if (ct < 0) {
    fprintf(stderr, "%s: unknown content format %s\n", flag, text);
    exit(2);
  }
  return ct;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  size_t got;
  while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      uint8_t *bigger = realloc(buf, cap *= 2);
      if (bigger == NULL) {
        free(buf);
        buf = NULL;
      }
      buf = bigger;
    }
  }
  fclose(f);
  *len = n;
  return buf;
}

/* Prints a response: an unsuccessful code first, then the payload on a
 * line of its own.  Returns the exit status it calls for. */
static int print_response(const coap_message *resp, bool verbose) {
  int status = 0;
  char line[512];
  if (verbose) {
    coap_message_describe(resp, line, sizeof line);
    fprintf(stderr, "%s\n", line);
  }
  if (!coap_code_is_successful(resp->code)) {
    char dotted[5];
    const char *name = coap_code_name(resp->code);
    printf("%s %s\n", coap_code_dotted(resp->code, dotted),
           name != NULL ? name : "");
    status = 1;
  }
  if (resp->payload_len > 0) {
    fwrite(resp->payload, 1, resp->payload_len, stdout);
    if (resp->payload[resp->payload_len - 1] != '\n')
      putchar('\n');
  }
  fflush(stdout);
  return status;
}

static bool verbose_notifications;

/* Ends the observation politely (a deregistration) and the context. */
static void stop_observing(observing *o, int status) {
  if (o->stopping)
    return;
  o->stopping = true;
  o->status = status;
  coap_observation_cancel(o->obs);
  uv_close((uv_handle_t *)&o->sigint, NULL);
  uv_close((uv_handle_t *)&o->sigterm, NULL);
  coap_context_shutdown(o->ctx, NULL, NULL);
}

static void ask_next(observing *o);

static void on_notification(coap_future *f, void *data) {
  observing *o = data;
  int err = coap_future_error(f);
  const coap_message *msg = coap_future_result(f);
  if (o->stopping) {
    coap_future_unref(f);
    return;
  }
  if (err == 0) {
    print_response(msg, verbose_notifications);
    coap_future_unref(f);
    if (o->remaining > 0 && --o->remaining == 0)
      stop_observing(o, 0);
    else
      ask_next(o);
    return;
  }
  int status = 0;
  if (err == COAP_ERESPONSE && msg != NULL)
    status = print_response(msg, verbose_notifications);
  else if (err != COAP_EOBSERVATION_CANCELLED) {
    fprintf(stderr, "observation ended: %s\n", coap_strerror(err));
    status = 2;
  }
  coap_future_unref(f);
  stop_observing(o, status);
}

static void ask_next(observing *o) {
  coap_future *f = coap_observation_next(o->obs);
  if (f == NULL || coap_future_add_done_callback(f, on_notification, o) < 0) {
    coap_future_unref(f);
    stop_observing(o, 2);
  }
}

static void on_signal(uv_signal_t *handle, int signum) {
  (void)signum;
  stop_observing(handle->data, 0);
}

/* Prints notifications until the observation or the count ends, or a
 * signal comes.  The first response has been printed.  Sets *shut_down
 * when the context has been shut down (and freed). */
static int observe_on(uv_loop_t *loop, coap_context *ctx, coap_request *req,
                      long count, bool *shut_down) {
  observing o = {.ctx = ctx, .remaining = count};
  o.obs = coap_observation_ref(coap_request_observation(req));
  if (o.obs == NULL || !coap_observation_active(o.obs) ||
      (count > 0 && count <= 1)) {
    coap_observation_unref(o.obs);
    return 0;
  }
  *shut_down = true;
  if (o.remaining > 0)
    o.remaining--; /* the first response was one */
  uv_signal_init(loop, &o.sigint);
  uv_signal_init(loop, &o.sigterm);
  o.sigint.data = o.sigterm.data = &o;
  uv_signal_start(&o.sigint, on_signal, SIGINT);
  uv_signal_start(&o.sigterm, on_signal, SIGTERM);
  ask_next(&o);
  uv_run(loop, UV_RUN_DEFAULT);
  coap_observation_unref(o.obs);
  return o.status;
}

int main(int argc, char **argv) {
  const char *method = "GET", *payload = NULL, *payload_file = NULL;
  const char *uri = NULL;
  int content_format = -1, accept = -1;
  bool non = false, verbose = false, observe = false;
  long observe_count = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if ((strcmp(a, "-m") == 0 || strcmp(a, "--method") == 0) && i + 1 < argc)
      method = argv[++i];
    else if (strcmp(a, "--payload") == 0 && i + 1 < argc)
      payload = argv[++i];
    else if (strcmp(a, "--payload-file") == 0 && i + 1 < argc)
      payload_file = argv[++i];
    else if (strcmp(a, "--content-format") == 0 && i + 1 < argc)
      content_format = content_format_arg(a, argv[++i]);
    else if (strcmp(a, "--accept") == 0 && i + 1 < argc)
      accept = content_format_arg(a, argv[++i]);
    else if (strcmp(a, "--non") == 0)
      non = true;
    else if (strcmp(a, "--observe") == 0)
      observe = true;
    else if (strcmp(a, "--observe-count") == 0 && i + 1 < argc) {
      long long n;
      if (!cli_parse_number(argv[++i], 1, LONG_MAX, &n)) {
        fprintf(stderr, "--observe-count: not a positive number: %s\n",
                argv[i]);
        return 2;
      }
      observe_count = (long)n;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
      verbose = true;
    else if (a[0] == '-' || uri != NULL)
      usage(argv[0]);
    else
      uri = a;
  }
  if (uri == NULL)
    usage(argv[0]);
  int code = coap_code_from_string(method);
  if (code < 0 || !coap_code_is_request((uint8_t)code)) {
    fprintf(stderr, "unknown method %s\n", method);
    return 2;
  }

  coap_message *msg;
  if (coap_message_new(&msg) < 0)
    return 2;
  msg->code = (uint8_t)code;
  if (non)
    msg->mtype = COAP_TYPE_NON;
  int rc = coap_message_set_request_uri(msg, uri, true);
  if (rc < 0) {
    fprintf(stderr, "bad URI %s: %s\n", uri, coap_strerror(rc));
    coap_message_free(msg);
    return 2;
  }
  if (payload != NULL)
    coap_message_set_payload_string(msg, payload);
  if (payload_file != NULL) {
    size_t len;
    uint8_t *data = read_file(payload_file, &len);
    if (data == NULL) {
      fprintf(stderr, "cannot read %s\n", payload_file);
      coap_message_free(msg);
      return 2;
    }
    coap_message_set_payload(msg, data, len);
    free(data);
  }
  if (content_format >= 0)
    coap_options_set_content_format(&msg->opt, (uint16_t)content_format);
  if (accept >= 0)
    coap_options_set_accept(&msg->opt, (uint16_t)accept);
  if (observe)
    coap_options_set_observe(&msg->opt, 0);
  verbose_notifications = verbose;

  uv_loop_t loop;
  uv_loop_init(&loop);
  coap_context *ctx;
  rc = coap_context_create_client_context(&loop, NULL, &ctx);
  if (rc < 0) {
    fprintf(stderr, "cannot create context: %s\n", coap_strerror(rc));
    coap_message_free(msg);
    return 2;
  }
  coap_request *req;
  int status = 0;
  bool shut_down = false;
  rc = coap_context_request(ctx, msg, NULL, &req);
  if (rc < 0) {
    fprintf(stderr, "request failed: %s\n", coap_strerror(rc));
    status = 2;
  } else {
    coap_future *f = coap_request_response(req);
    rc = coap_run_until_complete(&loop, f);
    if (rc < 0) {
      fprintf(stderr, "request failed: %s\n", coap_strerror(rc));
      status = 2;
    } else {
      status = print_response(coap_future_result(f), verbose);
      if (observe && status == 0)
        status = observe_on(&loop, ctx, req, observe_count, &shut_down);
    }
    coap_request_unref(req);
  }
  if (!shut_down)
    coap_context_shutdown(ctx, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return status;
}
