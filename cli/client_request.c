/*
 * One request of aiocoap-client, from its options to its exit status:
 * the message (method, URI, options, proxy), the payload, the response as
 * the output rules say, and the observation after it.  Everything runs
 * from the loop; done is called from a timer, never from inside a call
 * into the job.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct client_job {
  coap_context *ctx;
  bool own_ctx;
  client_opts o;
  client_output out;
  client_payload payload;
  client_transfer *transfer;
  coap_message *msg; /* until it is sent */
  coap_request *req;
  coap_future *response;
  client_observer *observer;
  client_multicast *multicast;
  client_job_done_cb done;
  void *user_data;
  uv_timer_t timer;
  int status;
  int stop_status;
  bool stopping, finishing;
};

static void on_response(coap_future *f, void *data);

static void job_closed(uv_handle_t *handle) {
  client_job *job = handle->data;
  client_opts_free(&job->o);
  free(job);
}

static void job_done(uv_timer_t *timer) {
  client_job *job = timer->data;
  if (job->response != NULL)
    coap_future_remove_done_callback(job->response, on_response, job);
  if (job->req != NULL) {
    coap_request_cancel(job->req); /* harmless once answered */
    coap_request_unref(job->req);
  }
  client_observer_free(job->observer);
  client_multicast_free(job->multicast);
  client_transfer_free(job->transfer);
  client_payload_close(&job->payload);
  coap_message_free(job->msg);
  if (job->own_ctx)
    coap_context_shutdown(job->ctx, NULL, NULL);
  job->done(job, job->status, job->user_data);
  uv_close((uv_handle_t *)&job->timer, job_closed);
}

static void finish(client_job *job, int status) {
  if (job->finishing)
    return;
  job->finishing = true;
  job->status = job->stopping ? job->stop_status : status;
  uv_timer_start(&job->timer, job_done, 0, 0);
}

static void observer_done(void *user_data, int status) {
  finish(user_data, status);
}

static void multicast_done(void *user_data, int status) {
  client_job *job = user_data;
  finish(job, job->stopping ? job->stop_status : status);
}

/* A group URI: every server's answer, until the multicast timeout.  The
 * body, if any, goes in the one NON (no blockwise upload to a group). */
static int send_multicast(client_job *job) {
  if (job->o.observe_exec != NULL) {
    client_output_error(&job->out, "Error: --observe-exec is for one "
                                   "server, not a group");
    return CLIENT_EXIT_USAGE;
  }
  if (job->payload.fd >= 0) {
    client_output_error(&job->out, "Error: a streamed payload (@FILE, @-) "
                                   "cannot go to a group");
    return CLIENT_EXIT_USAGE;
  }
  if (job->payload.len > 0 &&
      coap_message_set_payload(job->msg, job->payload.data, job->payload.len) <
          0) {
    client_output_error(&job->out, "Error: out of memory");
    return CLIENT_EXIT_FAIL;
  }
  /* RFC 7252 §8.1: a request to a group is NON, whatever was asked. */
  job->msg->mtype = COAP_TYPE_NON;
  if (job->out.verbosity >= 1)
    client_output_describe(&job->out, job->msg, "Sending request:", stderr);
  coap_message *msg = job->msg;
  job->msg = NULL;
  int rc = client_multicast_start(job->ctx, msg, &job->o, &job->out,
                                  multicast_done, job, &job->multicast);
  return rc < 0 ? CLIENT_EXIT_FAIL : 0;
}

/* RFC 7641 §3.2 / aiocoap: a 2.xx answer without Observe means the
 * resource cannot be observed; the answer itself has been shown. */
static int start_observing(client_job *job, const coap_message *response) {
  uint32_t seq;
  if (coap_options_get_observe(&response->opt, &seq) != 0) {
    client_output_error(&job->out, "Observation is over: the resource is "
                                   "not observable (no Observe in the "
                                   "response)");
    return CLIENT_EXIT_FAIL;
  }
  /* Borrowed; the observer takes a reference of its own. */
  coap_observation *obs = coap_request_observation(job->req);
  int rc = obs == NULL
               ? COAP_ENOMEM
               : client_observer_start(job->ctx, obs, &job->o, &job->out,
                                       observer_done, job, &job->observer);
  if (rc < 0) {
    client_output_error(&job->out, "Error: %s", coap_strerror(rc));
    return CLIENT_EXIT_FAIL;
  }
  return -1; /* the observer finishes the job */
}

/* The library's words for its own codes, the system's for errno ones it
 * has no entry for (a read error of the upload, say). */
static const char *describe_error(int err) {
  const char *text = coap_strerror(err);
  if (strcmp(text, "unknown error") == 0 && err < 0 && err > -1000)
    return strerror(-err);
  return text;
}

static void report_failure(client_job *job, int err) {
  int read_error = client_transfer_read_error(job->transfer);
  if (read_error < 0)
    client_output_error(&job->out, "Error: reading %s: %s", job->payload.name,
                        describe_error(read_error));
  else if (job->req != NULL && coap_request_error_detail(job->req) != NULL)
    /* The transport's reason: the alert, the failed certificate check, the
     * missing credentials. */
    client_output_error(&job->out, "Error: %s: %s", describe_error(err),
                        coap_request_error_detail(job->req));
  else
    client_output_error(&job->out, "Error: %s", describe_error(err));
}

static void on_response(coap_future *f, void *data) {
  client_job *job = data;
  job->response = NULL;
  int err = coap_future_error(f);
  if (job->stopping || coap_future_cancelled(f) ||
      (err == COAP_ECANCELED && client_interrupted)) {
    if (!job->stopping) {
      job->stopping = true;
      job->stop_status = CLIENT_EXIT_INTERRUPTED;
    }
    finish(job, job->stop_status);
    return;
  }
  if (err == COAP_ENORESPONSE) {
    /* RFC 7967: the silence asked for (--option 258:VALUE) is success;
     * nothing to print on stdout. */
    if (job->out.verbosity >= 1)
      fprintf(stderr, "No response expected (No-Response)\n");
    finish(job, CLIENT_EXIT_OK);
    return;
  }
  if (err < 0) {
    report_failure(job, err);
    finish(job, CLIENT_EXIT_FAIL);
    return;
  }
  const coap_message *response = coap_future_result(f);
  int status = client_transfer_finish(job->transfer, response);
  if (job->out.verbosity >= 1) {
    const uint8_t *head;
    uint64_t total;
    size_t head_len = client_transfer_head(job->transfer, &head, &total);
    client_output_describe_streamed(&job->out, response,
                                    "Received response:", stderr, head,
                                    head_len, total);
  }
  if (status == CLIENT_EXIT_OK && job->o.observe) {
    status = start_observing(job, response);
    if (status < 0)
      return;
  }
  finish(job, status);
}

/* --proxy URI (or HOST[:PORT]): the request goes there with the URI it
 * was meant for as Proxy-Uri (RFC 7252 §5.10.2) and no Uri-* options. */
static int apply_proxy(client_job *job) {
  const char *proxy = job->o.proxy;
  if (proxy == NULL || proxy[0] == '\0' || strcmp(proxy, "none") == 0 ||
      strcmp(proxy, "-") == 0)
    return 0;
  char uri[2048];
  int rc = coap_message_get_request_uri(job->msg, uri, sizeof uri);
  if (rc < 0) {
    client_output_error(&job->out, "Error: URL too long for Proxy-Uri");
    return CLIENT_EXIT_USAGE;
  }
  char with_scheme[1024];
  if (strstr(proxy, "://") == NULL) {
    snprintf(with_scheme, sizeof with_scheme, "coap://%s", proxy);
    proxy = with_scheme;
  }
  coap_uri parsed;
  char hostport[300], remote[320];
  if (coap_uri_parse(proxy, &parsed) < 0 ||
      coap_hostportjoin(parsed.host, parsed.port, hostport, sizeof hostport) <
          0) {
    client_output_error(&job->out, "--proxy: not a CoAP URI: '%s'",
                        job->o.proxy);
    return CLIENT_EXIT_USAGE;
  }
  snprintf(remote, sizeof remote, "%s://%s", parsed.scheme, hostport);
  static const uint16_t uri_options[] = {COAP_OPT_URI_HOST, COAP_OPT_URI_PORT,
                                         COAP_OPT_URI_PATH, COAP_OPT_URI_QUERY};
  for (size_t i = 0; i < sizeof uri_options / sizeof uri_options[0]; i++)
    coap_options_delete(&job->msg->opt, uri_options[i]);
  if (coap_options_set_string(&job->msg->opt, COAP_OPT_PROXY_URI, uri) < 0 ||
      coap_message_set_unresolved_remote(job->msg, remote) < 0) {
    client_output_error(&job->out, "Error: out of memory");
    return CLIENT_EXIT_FAIL;
  }
  return 0;
}

/* RFC 6874 §4: a user interface should take a bare '%' before an IPv6
 * literal's zone ("coap://[ff02::fd%eth0]/", as aiocoap's and the issue's
 * examples write it) for the "%25" a URI has; the library's parser is
 * strict, so the tool writes the "25" in.  out holds at least
 * strlen(url) + 3 bytes. */
static void encode_bare_zone(const char *url, char *out, size_t cap) {
  const char *open = strchr(url, '[');
  const char *close = open != NULL ? strchr(open, ']') : NULL;
  const char *pct = open != NULL ? memchr(open, '%', (size_t)(close - open)) : NULL;
  if (close == NULL || pct == NULL || strncmp(pct, "%25", 3) == 0) {
    snprintf(out, cap, "%s", url);
    return;
  }
  snprintf(out, cap, "%.*s%%25%s", (int)(pct - url), url, pct + 1);
}

/* The message from the options; 0 or an exit status (reported). */
static int build_message(client_job *job) {
  const client_opts *o = &job->o;
  int rc = coap_message_new(&job->msg);
  if (rc < 0) {
    client_output_error(&job->out, "Error: out of memory");
    return CLIENT_EXIT_FAIL;
  }
  coap_message *msg = job->msg;
  msg->code = (uint8_t)o->code;
  msg->mtype = o->non ? COAP_TYPE_NON : COAP_TYPE_CON;
  size_t cap = strlen(o->url) + 3;
  char *url = malloc(cap);
  if (url == NULL) {
    client_output_error(&job->out, "Error: out of memory");
    return CLIENT_EXIT_FAIL;
  }
  encode_bare_zone(o->url, url, cap);
  rc = coap_message_set_request_uri(msg, url, o->set_hostname);
  free(url);
  if (rc < 0) {
    client_output_error(&job->out, "bad URL '%s': %s", o->url,
                        coap_strerror(rc));
    return CLIENT_EXIT_USAGE;
  }
  if (o->accept >= 0)
    rc = coap_options_set_accept(&msg->opt, (uint16_t)o->accept);
  if (rc == 0 && o->content_format >= 0)
    rc =
        coap_options_set_content_format(&msg->opt, (uint16_t)o->content_format);
  if (rc == 0 && o->observe)
    rc = coap_options_set_observe(&msg->opt, 0);
  for (size_t i = 0; rc == 0 && i < o->n_extra; i++)
    rc = coap_options_add(&msg->opt, o->extra[i].number, o->extra[i].value,
                          o->extra[i].len);
  if (rc < 0) {
    client_output_error(&job->out, "Error: %s", coap_strerror(rc));
    return CLIENT_EXIT_FAIL;
  }
  return apply_proxy(job);
}

static int send_request(client_job *job) {
  char err[512];
  if (client_payload_open(&job->o, &job->payload, err, sizeof err) < 0) {
    client_output_error(&job->out, "%s", err);
    return CLIENT_EXIT_USAGE;
  }
  if (client_is_multicast(job->msg))
    return send_multicast(job);
  coap_request_params params;
  coap_request_params_default(&params);
  int rc = client_transfer_new(
      coap_context_loop(job->ctx), &job->out, &job->payload, job->msg,
      job->o.observe || job->o.interactive, &params, &job->transfer);
  if (rc < 0)
    return CLIENT_EXIT_FAIL; /* reported */
  if (job->out.verbosity >= 1)
    client_output_describe(&job->out, job->msg, "Sending request:", stderr);
  coap_message *msg = job->msg;
  job->msg = NULL;
  rc = coap_context_request(job->ctx, msg, &params, &job->req);
  if (rc < 0) {
    client_output_error(&job->out, "Error: %s", coap_strerror(rc));
    return CLIENT_EXIT_FAIL;
  }
  job->response = coap_request_response(job->req);
  if (coap_future_add_done_callback(job->response, on_response, job) < 0) {
    job->response = NULL;
    client_output_error(&job->out, "Error: out of memory");
    return CLIENT_EXIT_FAIL;
  }
  return 0;
}

int client_job_start(coap_context *ctx, bool own_ctx, client_opts *o,
                     client_job_done_cb done, void *user_data,
                     client_job **job_out) {
  client_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    client_opts_free(o);
    return COAP_ENOMEM;
  }
  job->ctx = ctx;
  job->own_ctx = own_ctx;
  job->o = *o;
  *o = (client_opts){0};
  job->payload = (client_payload){.fd = -1, .size = -1};
  job->done = done;
  job->user_data = user_data;
  client_output_init(&job->out, &job->o);
  uv_timer_init(coap_context_loop(ctx), &job->timer);
  job->timer.data = job;
  *job_out = job;
  int status = build_message(job);
  if (status == 0)
    status = send_request(job);
  if (status != 0)
    finish(job, status);
  return 0;
}

void client_job_stop(client_job *job, int status) {
  if (job->finishing || job->stopping)
    return;
  job->stopping = true;
  job->stop_status = status;
  if (job->observer != NULL)
    client_observer_stop(job->observer, status);
  else if (job->multicast != NULL)
    client_multicast_stop(job->multicast, status);
  else if (job->req != NULL)
    coap_request_cancel(job->req); /* on_response follows, cancelled */
  else
    finish(job, status);
}
