/*
 * --observe after the first response (RFC 7641): each notification to
 * stdout after a "---" line (as aiocoap writes them; each ends with a
 * newline so that the next line starts fresh), or to --observe-exec CMD,
 * run with /bin/sh for each notification in turn with the payload on its
 * stdin, without blocking the loop.  Every way out that leaves the
 * observation running deregisters it (RFC 7641 §3.6: a GET with Observe 1
 * and the token) and waits until that has gone out.
 */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Notifications waiting for --observe-exec while the command for an
 * earlier one runs; beyond, the oldest waiting one is dropped. */
#define EXEC_QUEUE_MAX 64
/* How long the deregistration may take to leave (it goes with the next
 * turn of the loop unless NSTART holds it back). */
#define DEREGISTER_WAIT_MS 1000
#define DEREGISTER_POLL_MS 5

typedef struct exec_item {
  struct exec_item *next;
  size_t len;
  uint8_t data[];
} exec_item;

struct client_observer {
  coap_context *ctx;
  coap_observation *obs;
  const client_opts *o;
  const client_output *out;
  client_observer_done_cb done;
  void *user_data;
  coap_future *pending;
  long remaining; /* notifications still to show; 0: no limit */
  bool stopping, finishing, done_called;
  int status;
  uv_timer_t timer; /* deregistration wait, then the done call */
  uint64_t sent_before;
  uint64_t waited_ms;
  /* --observe-exec */
  exec_item *queue_head, *queue_tail;
  size_t queued;
  bool running;
  int open_handles;
  uv_process_t proc;
  uv_pipe_t pipe;
  uv_write_t write;
  exec_item *writing;
};

static void ask_next(client_observer *ob);
static void on_next(coap_future *f, void *data);
static void run_next_exec(client_observer *ob);

static void call_done(uv_timer_t *timer) {
  client_observer *ob = timer->data;
  if (ob->done_called)
    return;
  ob->done_called = true;
  ob->done(ob->user_data, ob->status);
}

/* done goes from the loop, once the commands of --observe-exec are over. */
static void maybe_finish(client_observer *ob) {
  if (!ob->finishing || ob->running || ob->done_called)
    return;
  uv_timer_stop(&ob->timer);
  uv_timer_start(&ob->timer, call_done, 0, 0);
}

static void finish(client_observer *ob, int status) {
  ob->status = status;
  ob->finishing = true;
  /* Nothing more runs once the observation is over but what is queued. */
  maybe_finish(ob);
}

static void deregister_wait(uv_timer_t *timer) {
  client_observer *ob = timer->data;
  coap_context_stats stats;
  coap_context_get_stats(ob->ctx, &stats);
  ob->waited_ms += DEREGISTER_POLL_MS;
  if (stats.datagrams_sent == ob->sent_before &&
      ob->waited_ms < DEREGISTER_WAIT_MS)
    return;
  uv_timer_stop(timer);
  finish(ob, ob->status);
}

void client_observer_stop(client_observer *ob, int status) {
  if (ob->stopping || ob->finishing)
    return;
  ob->stopping = true;
  ob->status = status;
  if (status == CLIENT_EXIT_INTERRUPTED) {
    /* Ctrl-C: the commands still waiting do not run (one running ends). */
    while (ob->queue_head != NULL) {
      exec_item *next = ob->queue_head->next;
      free(ob->queue_head);
      ob->queue_head = next;
    }
    ob->queue_tail = NULL;
    ob->queued = 0;
  }
  if (ob->pending != NULL) {
    coap_future_remove_done_callback(ob->pending, on_next, ob);
    coap_future_unref(ob->pending);
    ob->pending = NULL;
  }
  if (!coap_observation_active(ob->obs)) {
    finish(ob, status);
    return;
  }
  coap_context_stats stats;
  coap_context_get_stats(ob->ctx, &stats);
  ob->sent_before = stats.datagrams_sent;
  coap_observation_cancel(ob->obs);
  uv_timer_start(&ob->timer, deregister_wait, DEREGISTER_POLL_MS,
                 DEREGISTER_POLL_MS);
}

/* ---- --observe-exec ---- */

static void exec_handle_closed(uv_handle_t *handle) {
  client_observer *ob = handle->data;
  if (--ob->open_handles > 0)
    return;
  ob->running = false;
  if (ob->queue_head != NULL)
    run_next_exec(ob);
  else
    maybe_finish(ob);
}

static void exec_exited(uv_process_t *proc, int64_t status, int signal) {
  client_observer *ob = proc->data;
  if (status != 0 || signal != 0)
    client_output_error(ob->out, "--observe-exec: '%s' %s %d",
                        ob->o->observe_exec,
                        signal ? "killed by signal" : "exited with status",
                        signal ? signal : (int)status);
  uv_close((uv_handle_t *)proc, exec_handle_closed);
}

static void exec_written(uv_write_t *req, int status) {
  client_observer *ob = req->data;
  (void)status; /* a command that does not read its stdin is its business */
  free(ob->writing);
  ob->writing = NULL;
  uv_close((uv_handle_t *)&ob->pipe, exec_handle_closed);
}

static void run_next_exec(client_observer *ob) {
  exec_item *item = ob->queue_head;
  ob->queue_head = item->next;
  if (ob->queue_head == NULL)
    ob->queue_tail = NULL;
  ob->queued--;
  uv_loop_t *loop = coap_context_loop(ob->ctx);
  uv_pipe_init(loop, &ob->pipe, 0);
  ob->pipe.data = ob;
  char *args[] = {"/bin/sh", "-c", (char *)ob->o->observe_exec, NULL};
  uv_stdio_container_t stdio[3] = {{.flags = UV_CREATE_PIPE | UV_READABLE_PIPE,
                                    .data.stream = (uv_stream_t *)&ob->pipe},
                                   {.flags = UV_INHERIT_FD, .data.fd = 1},
                                   {.flags = UV_INHERIT_FD, .data.fd = 2}};
  uv_process_options_t options = {.file = args[0],
                                  .args = args,
                                  .exit_cb = exec_exited,
                                  .stdio_count = 3,
                                  .stdio = stdio};
  ob->proc.data = ob;
  ob->running = true;
  int rc = uv_spawn(loop, &ob->proc, &options);
  if (rc < 0) {
    client_output_error(ob->out, "--observe-exec: cannot run /bin/sh: %s",
                        uv_strerror(rc));
    free(item);
    ob->open_handles = 2;
    uv_close((uv_handle_t *)&ob->proc, exec_handle_closed);
    uv_close((uv_handle_t *)&ob->pipe, exec_handle_closed);
    return;
  }
  ob->open_handles = 2;
  ob->writing = item;
  ob->write.data = ob;
  uv_buf_t buf = uv_buf_init((char *)item->data, (unsigned)item->len);
  if (uv_write(&ob->write, (uv_stream_t *)&ob->pipe, &buf, 1, exec_written) <
      0) {
    free(item);
    ob->writing = NULL;
    uv_close((uv_handle_t *)&ob->pipe, exec_handle_closed);
  }
}

static void queue_exec(client_observer *ob, const coap_message *msg) {
  if (ob->queued >= EXEC_QUEUE_MAX) {
    exec_item *old = ob->queue_head;
    ob->queue_head = old->next;
    ob->queued--;
    free(old);
    client_output_error(ob->out, "--observe-exec: too slow, a notification "
                                 "was dropped");
  }
  exec_item *item = malloc(sizeof *item + msg->payload_len);
  if (item == NULL) {
    client_output_error(ob->out, "--observe-exec: out of memory");
    return;
  }
  item->next = NULL;
  item->len = msg->payload_len;
  if (msg->payload_len)
    memcpy(item->data, msg->payload, msg->payload_len);
  if (ob->queue_tail != NULL)
    ob->queue_tail->next = item;
  else
    ob->queue_head = item;
  ob->queue_tail = item;
  ob->queued++;
  if (!ob->running)
    run_next_exec(ob);
}

/* ---- notifications ---- */

/* 0, or -1 when stdout cannot take it any more (a closed pipe). */
static int show(client_observer *ob, const coap_message *msg) {
  if (ob->out->verbosity >= 1)
    client_output_describe(ob->out, msg, "Received notification:", stderr);
  if (ob->o->observe_exec != NULL) {
    queue_exec(ob, msg);
    return 0;
  }
  uint16_t cf;
  int content_format =
      coap_options_get_content_format(&msg->opt, &cf) == 0 ? cf : -1;
  client_output_separator(ob->out);
  if (client_output_body(ob->out, content_format, msg->payload,
                         msg->payload_len, stdout, true) < 0) {
    client_output_error(ob->out, "Error: writing stdout: %s", strerror(errno));
    return -1;
  }
  return 0;
}

static void on_next(coap_future *f, void *data) {
  client_observer *ob = data;
  ob->pending = NULL;
  int err = coap_future_error(f);
  const coap_message *msg = coap_future_result(f);
  if (err == 0) {
    int shown = show(ob, msg);
    coap_future_unref(f);
    if (shown < 0)
      client_observer_stop(ob, CLIENT_EXIT_FAIL);
    else if (ob->remaining > 0 && --ob->remaining == 0)
      client_observer_stop(ob, CLIENT_EXIT_OK);
    else
      ask_next(ob);
    return;
  }
  int status = CLIENT_EXIT_FAIL;
  if (err == COAP_ERESPONSE && msg != NULL) {
    client_output_code(ob->out, msg->code);
    client_output_body(ob->out, COAP_CT_TEXT_PLAIN, msg->payload,
                       msg->payload_len, stderr, false);
    client_output_error(ob->out, "Observation is over: the server ended it "
                                 "with an unsuccessful notification");
  } else if (err == COAP_EOBSERVATION_CANCELLED) {
    /* RFC 7641 §3.2: a notification without Observe ends it normally. */
    client_output_error(ob->out, "Observation is over: the server ended it");
    status = CLIENT_EXIT_OK;
  } else {
    client_output_error(ob->out, "Observation is over: %s", coap_strerror(err));
  }
  coap_future_unref(f);
  finish(ob, status);
}

static void ask_next(client_observer *ob) {
  coap_future *f = coap_observation_next(ob->obs);
  if (f == NULL || coap_future_add_done_callback(f, on_next, ob) < 0) {
    coap_future_unref(f);
    client_output_error(ob->out, "out of memory");
    client_observer_stop(ob, CLIENT_EXIT_FAIL);
    return;
  }
  ob->pending = f;
}

int client_observer_start(coap_context *ctx, coap_observation *obs,
                          const client_opts *o, const client_output *out,
                          client_observer_done_cb done, void *user_data,
                          client_observer **out_obs) {
  client_observer *ob = calloc(1, sizeof *ob);
  if (ob == NULL)
    return COAP_ENOMEM;
  *ob = (client_observer){.ctx = ctx,
                          .obs = coap_observation_ref(obs),
                          .o = o,
                          .out = out,
                          .done = done,
                          .user_data = user_data};
  uv_timer_init(coap_context_loop(ctx), &ob->timer);
  ob->timer.data = ob;
  *out_obs = ob;
  if (o->observe_count == 1) {
    /* The first response was the one payload asked for. */
    client_observer_stop(ob, CLIENT_EXIT_OK);
    return 0;
  }
  ob->remaining = o->observe_count > 0 ? o->observe_count - 1 : 0;
  ask_next(ob);
  return 0;
}

static void free_on_close(uv_handle_t *handle) {
  client_observer *ob = handle->data;
  while (ob->queue_head != NULL) {
    exec_item *next = ob->queue_head->next;
    free(ob->queue_head);
    ob->queue_head = next;
  }
  coap_observation_unref(ob->obs);
  free(ob);
}

/* After done (or before, when stopping hard): the handles close first. */
void client_observer_free(client_observer *ob) {
  if (ob == NULL)
    return;
  if (ob->pending != NULL) {
    coap_future_remove_done_callback(ob->pending, on_next, ob);
    coap_future_unref(ob->pending);
  }
  uv_close((uv_handle_t *)&ob->timer, free_on_close);
}
