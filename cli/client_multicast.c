/*
 * aiocoap-client's requests to a group (coap_context_multicast_request):
 * each server's answer is shown as it arrives, the server named first on
 * stderr (as aiocoap's client names a response from another address than
 * asked), its body on stdout ended with a newline so that answers stay
 * apart.  Everything runs from the loop; done fires from a timer.
 */
#include "client.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

struct client_multicast {
  coap_multicast_request *mr;
  coap_future *next;
  const client_opts *o;
  client_output out;
  client_multicast_done_cb done;
  void *user_data;
  uv_timer_t timer;
  long shown;       /* answers shown, for --observe-count */
  bool any_success; /* a 2.xx answer came */
  bool finishing;
  int status;
};

/* A literal group address (the zone id, if any, left aside). */
static bool host_is_group(const char *host) {
  struct in_addr v4;
  struct in6_addr v6;
  char addr[INET6_ADDRSTRLEN];
  size_t n = strcspn(host, "%");
  if (n >= sizeof addr)
    return false;
  memcpy(addr, host, n);
  addr[n] = '\0';
  if (inet_pton(AF_INET, addr, &v4) == 1)
    return (ntohl(v4.s_addr) >> 28) == 0xe;
  return inet_pton(AF_INET6, addr, &v6) == 1 && IN6_IS_ADDR_MULTICAST(&v6);
}

bool client_is_multicast(const coap_message *msg) {
  char uri[1024];
  coap_uri parsed;
  if (coap_message_get_request_uri(msg, uri, sizeof uri) < 0 ||
      coap_uri_parse(uri, &parsed) < 0)
    return false;
  return host_is_group(parsed.host);
}

static void on_done_timer(uv_timer_t *timer) {
  client_multicast *mc = timer->data;
  mc->done(mc->user_data, mc->status);
}

static void finish(client_multicast *mc, int status) {
  if (mc->finishing)
    return;
  mc->finishing = true;
  mc->status = status;
  uv_timer_start(&mc->timer, on_done_timer, 0, 0);
}

static void ask_next(client_multicast *mc);

static void show(client_multicast *mc, const coap_message *m) {
  const client_output *out = &mc->out;
  char uri[1024];
  if (coap_message_get_request_uri(m, uri, sizeof uri) < 0)
    snprintf(uri, sizeof uri, "(unknown)");
  if (out->verbosity >= 0)
    fprintf(stderr, "Response arrived from different address; base URI is %s\n",
            uri);
  if (out->verbosity >= 1)
    client_output_describe(out, m, "Received response:", stderr);
  if (!coap_code_is_successful(m->code)) {
    client_output_code(out, m->code);
  } else {
    mc->any_success = true;
    uint16_t cf;
    int format =
        coap_options_get_content_format(&m->opt, &cf) == 0 ? (int)cf : -1;
    (void)client_output_body(out, format, m->payload, m->payload_len, stdout,
                             true);
  }
  fflush(stdout);
}

static void on_next(coap_future *f, void *data) {
  client_multicast *mc = data;
  coap_future_unref(mc->next);
  mc->next = NULL;
  if (mc->finishing)
    return;
  int err = coap_future_error(f);
  if (err == COAP_EDONE) {
    if (!mc->any_success)
      client_output_error(&mc->out, "Error: no server answered successfully "
                                    "within the multicast timeout");
    finish(mc, mc->any_success ? CLIENT_EXIT_OK : CLIENT_EXIT_FAIL);
    return;
  }
  if (err == COAP_ENORESPONSE) {
    /* RFC 7967: the silence asked for (--option 258:2 or 258:26) is
     * success, as for a single server. */
    if (mc->out.verbosity >= 1)
      fprintf(stderr, "No response expected (No-Response)\n");
    finish(mc, CLIENT_EXIT_OK);
    return;
  }
  if (err < 0) {
    if (err != COAP_ECANCELED)
      client_output_error(&mc->out, "Error: %s", coap_strerror(err));
    finish(mc, CLIENT_EXIT_FAIL);
    return;
  }
  show(mc, coap_future_result(f));
  mc->shown++;
  if (mc->o->observe_count > 0 && mc->shown >= mc->o->observe_count) {
    coap_multicast_request_cancel(mc->mr);
    finish(mc, CLIENT_EXIT_OK);
    return;
  }
  ask_next(mc);
}

static void ask_next(client_multicast *mc) {
  mc->next = coap_multicast_request_next(mc->mr);
  if (mc->next == NULL ||
      coap_future_add_done_callback(mc->next, on_next, mc) < 0) {
    client_output_error(&mc->out, "Error: out of memory");
    coap_multicast_request_cancel(mc->mr);
    finish(mc, CLIENT_EXIT_FAIL);
  }
}

int client_multicast_start(coap_context *ctx, coap_message *msg,
                           const client_opts *o, const client_output *out,
                           client_multicast_done_cb done, void *user_data,
                           client_multicast **out_mc) {
  client_multicast *mc = calloc(1, sizeof *mc);
  if (mc == NULL) {
    coap_message_free(msg);
    return COAP_ENOMEM;
  }
  mc->o = o;
  mc->out = *out;
  mc->done = done;
  mc->user_data = user_data;
  uv_timer_init(coap_context_loop(ctx), &mc->timer);
  mc->timer.data = mc;
  *out_mc = mc;
  coap_multicast_params params;
  coap_multicast_params_default(&params);
  params.timeout_ms = o->multicast_timeout_ms;
  /* RFC 7252 §8.1: a request to a group is NON, whatever was asked. */
  msg->mtype = COAP_TYPE_NON;
  int rc = coap_context_multicast_request(ctx, msg, &params, &mc->mr);
  if (rc < 0) {
    client_output_error(out, "Error: %s%s", coap_strerror(rc),
                        rc == COAP_EINVAL
                            ? " (a group URI needs a literal group address, "
                              "and ff02:: groups an interface: "
                              "coap://[ff02::fd%25eth0]/)"
                            : "");
    finish(mc, CLIENT_EXIT_FAIL);
    return 0;
  }
  ask_next(mc);
  return 0;
}

void client_multicast_stop(client_multicast *mc, int status) {
  if (mc->finishing)
    return;
  coap_multicast_request_cancel(mc->mr);
  finish(mc, status);
}

static void on_closed(uv_handle_t *handle) {
  free(handle->data);
}

void client_multicast_free(client_multicast *mc) {
  if (mc == NULL)
    return;
  if (mc->next != NULL) {
    coap_future_remove_done_callback(mc->next, on_next, mc);
    coap_future_unref(mc->next);
  }
  coap_multicast_request_unref(mc->mr);
  uv_close((uv_handle_t *)&mc->timer, on_closed);
}
