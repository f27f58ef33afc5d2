/*
 * Observe on the client side (RFC 7641 §3; aiocoap's ClientObservation,
 * with what aiocoap 0.3 lacked: ordering, re-registration and active
 * cancellation).
 *
 * A GET or FETCH request with Observe 0 gets an observation at once.  When
 * its first response is a 2.xx with Observe, the observation takes the
 * request's token over (the request goes on to finish its response, with a
 * fresh token if blockwise needs more blocks) and from then on receives
 * every response with that token from that server: notifications, the
 * answers to its re-registrations and to its deregistration.  Re-
 * registrations and the deregistration reuse the token (RFC 7641 §3.3.1,
 * §3.6) and go straight to the message layer with the observation as owner.
 */
#include "alloc-internal.h"
#include "block2_fetch-internal.h"
#include "message-internal.h"
#include "observation-internal.h"
#include "request-internal.h"

#include <string.h>

/* RFC 7641 §3.4: a notification more than 128 s younger than the newest
 * one is fresh whatever its number. */
#define FRESHNESS_WINDOW_MS 128000u
/* RFC 7641 §3.3.1: Max-Age defaults to 60 s (RFC 7252 §5.10.5). */
#define DEFAULT_MAX_AGE_S 60u

enum { CLI_REGISTERING, CLI_ACTIVE, CLI_ENDED };

typedef struct callback_slot {
  coap_observation_cb cb;
  void *user_data;
} callback_slot;

typedef struct errback_slot {
  coap_observation_errback cb;
  void *user_data;
} errback_slot;


struct coap_observation {
  coap__owner_kind kind; /* first: the message layer's owner tag */
  unsigned refs;
  uint8_t state;
  bool holding_token; /* token in ctx->tokens, in the clients list */
  bool cancelling;    /* ended by coap_observation_cancel, token still held */
  bool in_mm;         /* a CON of ours is in the message layer */
  bool have_newest;
  /* The application is done with it (coap_observation_cancel, or the last
   * reference): callbacks and errbacks still queued fire no more. */
  bool app_done;
  coap_context *ctx;          /* NULL once the token is given up */
  coap__scheduler *scheduler; /* a reference: callbacks run from it */
  uv_loop_t *loop;
  coap_request *request; /* while registering; not a reference */
  coap__token_entry token;
  coap__queue link;
  coap_remote remote;
  coap_message *registration; /* the request, for re-registering, cancelling
                                 and fetching blocks */
  char *uri;
  uint32_t newest;
  uint64_t newest_at;
  coap__timer reregister;
  coap__timer linger;
  /* Notifications nobody has asked for yet: a ring of q_cap. */
  coap_message **queue;
  size_t q_head, q_len, q_cap;
  coap_future **waiters;
  size_t n_waiters, cap_waiters;
  callback_slot *callbacks;
  size_t n_callbacks;
  errback_slot *errbacks;
  size_t n_errbacks;
  int end_err;
  coap_message *end_msg;
  coap__block2_fetch *fetch; /* completing a Block2 notification */
};


static void free_message(void *msg) {
  coap_message_free(msg);
}

bool coap__observe_is_fresh(uint32_t v1, uint64_t t1, uint32_t v2,
                            uint64_t t2) {
  const uint32_t half = 1u << 23;
  return (v1 < v2 && v2 - v1 < half) || (v1 > v2 && v1 - v2 > half) ||
         t2 > t1 + FRESHNESS_WINDOW_MS;
}

/* ---- lifetime ---- */

coap_observation *coap_observation_ref(coap_observation *obs) {
  if (obs != NULL)
    obs->refs++;
  return obs;
}

static void end_for_app(coap_observation *obs, int err, const coap_message *msg,
                        bool errbacks);
static void release_token(coap_observation *obs);
static void on_reregister(coap__timer *timer);
static void on_linger(coap__timer *timer);

static void obs_free(coap_observation *obs) {
  coap__block2_fetch_abandon(obs->fetch);
  while (obs->q_len > 0) {
    coap_message_free(obs->queue[obs->q_head]);
    obs->q_head = (obs->q_head + 1) % obs->q_cap;
    obs->q_len--;
  }
  coap__free(obs->queue);
  coap__free(obs->waiters);
  coap__free(obs->callbacks);
  coap__free(obs->errbacks);
  coap_message_free(obs->end_msg);
  coap_message_free(obs->registration);
  coap__free(obs->uri);
  coap__scheduler_release(obs->scheduler);
  coap__free(obs);
}

void coap_observation_unref(coap_observation *obs) {
  if (obs == NULL || --obs->refs > 0)
    return;
  /* Nobody wants it any more: end it without a word, so the next
   * notification meets an unknown token and is rejected with RST (RFC 7641
   * §3.6).  The references are gone, so nothing can be waiting on it. */
  obs->refs = 1;
  end_for_app(obs, COAP_ECANCELED, NULL, false);
  release_token(obs);
  obs_free(obs);
}

int coap__observation_client_attach(coap_request *req) {
  const coap_message *msg = req->msg;
  uint32_t observe = 0;
  if ((msg->code != COAP_CODE_GET && msg->code != COAP_CODE_FETCH) ||
      coap_options_get_observe(&msg->opt, &observe) < 0 || observe != 0)
    return 0;
  coap_observation *obs = coap__calloc(1, sizeof *obs);
  if (obs == NULL)
    return COAP_ENOMEM;
  obs->kind = COAP__OWNER_CLIENT_OBSERVATION;
  obs->refs = 1; /* the request's */
  obs->state = CLI_REGISTERING;
  obs->ctx = req->ctx;
  obs->loop = req->loop;
  obs->scheduler = coap__scheduler_ref(req->scheduler);
  obs->request = req;
  obs->token.kind = COAP__TOKEN_OBSERVATION;
  coap__queue_init(&obs->link);
  coap__heap_node_init(&obs->reregister.node);
  coap__heap_node_init(&obs->linger.node);
  obs->reregister.cb = on_reregister;
  obs->linger.cb = on_linger;
  req->observation = obs;
  return 0;
}

void coap__observation_client_detach(coap_request *req) {
  coap_observation *obs = req->observation;
  if (obs == NULL)
    return;
  req->observation = NULL;
  obs->request = NULL;
  coap_observation_unref(obs);
}

coap_observation *coap_request_observation(coap_request *req) {
  if (req == NULL)
    return NULL;
  return req->observation;
}

bool coap_observation_active(const coap_observation *obs) {
  return obs != NULL && obs->state != CLI_ENDED;
}

/* Gives the token back and leaves the context: nothing reaches the
 * observation from the network any more. */
static void release_token(coap_observation *obs) {
  coap_context *ctx = obs->ctx;
  if (ctx == NULL)
    return;
  coap__context_unschedule(ctx, &obs->reregister);
  coap__context_unschedule(ctx, &obs->linger);
  if (obs->holding_token) {
    coap__token_map_remove(&ctx->tokens, &obs->token);
    coap__queue_remove(&obs->link);
    obs->holding_token = false;
  }
  if (obs->in_mm && !ctx->shutting_down) {
    coap__mm_cancel(ctx->mm, obs);
    coap__context_rearm(ctx);
  }
  obs->in_mm = false;
  obs->ctx = NULL;
}

/* ---- handing out notifications ---- */

static void fetch_abandon(coap_observation *obs);

/* Fails or resolves one waiting future with the end of the observation. */
static void fail_with_end(coap_observation *obs, coap_future *f) {
  if (obs->end_err == COAP_ERESPONSE && obs->end_msg != NULL)
    coap_future_fail(f, COAP_ERESPONSE, coap__message_ref(obs->end_msg),
                     free_message);
  else
    coap_future_fail(f, obs->end_err, NULL, NULL);
}

/* ---- callbacks into the application, from the loop (aiocoap.h) ---- */

static void release_call(coap__call *call) {
  coap_message_free(call->arg);
  coap_observation_unref(call->object);
}

static void run_callbacks(coap__call *call) {
  coap_observation *obs = call->object;
  /* Registered callbacks, read afresh each time: one may register more,
   * cancel the observation or drop its reference (the call holds one). */
  for (size_t i = 0; i < obs->n_callbacks && !obs->app_done; i++)
    obs->callbacks[i].cb(obs, call->arg, obs->callbacks[i].user_data);
}

/* The callbacks hear of msg (borrowed; the call takes a reference). */
static void callbacks_soon(coap_observation *obs, coap_message *msg) {
  if (obs->n_callbacks == 0)
    return;
  coap__call call = {.run = run_callbacks,
                     .release = release_call,
                     .object = coap_observation_ref(obs),
                     .arg = coap__message_ref(msg)};
  coap__scheduler_call_soon(obs->scheduler, &call);
}

static void run_errbacks(coap__call *call) {
  coap_observation *obs = call->object;
  for (size_t i = 0; i < obs->n_errbacks && !obs->app_done; i++)
    obs->errbacks[i].cb(obs, obs->end_err, obs->end_msg,
                        obs->errbacks[i].user_data);
  obs->n_errbacks = 0;
}

static void errbacks_soon(coap_observation *obs) {
  if (obs->n_errbacks == 0)
    return;
  coap__call call = {.run = run_errbacks,
                     .release = release_call,
                     .object = coap_observation_ref(obs)};
  coap__scheduler_call_soon(obs->scheduler, &call);
}

/* The observation is over for the application: waiting futures fail,
 * errbacks (when asked) hear why, and no callback fires after them.  msg
 * is borrowed. */
static void end_for_app(coap_observation *obs, int err, const coap_message *msg,
                        bool errbacks) {
  if (obs->state == CLI_ENDED)
    return;
  obs->state = CLI_ENDED;
  obs->end_err = err;
  if (msg != NULL && coap_message_new(&obs->end_msg) == 0 &&
      coap_message_copy(obs->end_msg, msg) < 0) {
    coap_message_free(obs->end_msg);
    obs->end_msg = NULL;
  }
  if (obs->ctx != NULL)
    coap__context_unschedule(obs->ctx, &obs->reregister);
  fetch_abandon(obs);
  coap_observation_ref(obs);
  for (size_t i = 0; i < obs->n_waiters; i++) {
    fail_with_end(obs, obs->waiters[i]);
    coap_future_unref(obs->waiters[i]);
  }
  obs->n_waiters = 0;
  if (errbacks)
    errbacks_soon(obs);
  else
    obs->app_done = true;
  coap_observation_unref(obs);
}

/* Ends the observation for a reason from the network or the context. */
static void end_observation(coap_observation *obs, int err,
                            const coap_message *msg) {
  coap_observation_ref(obs);
  end_for_app(obs, err, msg, true);
  if (!obs->cancelling)
    release_token(obs);
  coap_observation_unref(obs);
}

static void queue_push(coap_observation *obs, coap_message *msg) {
  size_t bound =
      obs->ctx != NULL ? obs->ctx->config.max_queued_notifications : obs->q_cap;
  if (bound == 0)
    bound = 1;
  if (obs->q_cap < bound && obs->q_len == obs->q_cap) {
    size_t cap = obs->q_cap ? obs->q_cap * 2 : 4;
    if (cap > bound)
      cap = bound;
    coap_message **grown = coap__malloc(cap * sizeof *grown);
    if (grown != NULL) {
      for (size_t i = 0; i < obs->q_len; i++)
        grown[i] = obs->queue[(obs->q_head + i) % obs->q_cap];
      coap__free(obs->queue);
      obs->queue = grown;
      obs->q_cap = cap;
      obs->q_head = 0;
    }
  }
  if (obs->q_cap == 0) {
    coap_message_free(msg);
    return;
  }
  if (obs->q_len == obs->q_cap) {
    /* Full: an observer wants the current state, so the oldest goes. */
    coap_message_free(obs->queue[obs->q_head]);
    obs->q_head = (obs->q_head + 1) % obs->q_cap;
    obs->q_len--;
  }
  obs->queue[(obs->q_head + obs->q_len) % obs->q_cap] = msg;
  obs->q_len++;
}

/* Hands msg (owned) to the callbacks and then to the first waiting future,
 * or the queue. */
static void deliver(coap_observation *obs, coap_message *msg) {
  coap_observation_ref(obs);
  callbacks_soon(obs, msg);
  while (obs->n_waiters > 0) {
    coap_future *f = obs->waiters[0];
    memmove(obs->waiters, obs->waiters + 1,
            --obs->n_waiters * sizeof *obs->waiters);
    bool pending = !coap_future_done(f);
    if (pending)
      coap_future_resolve(f, msg, free_message);
    coap_future_unref(f);
    if (pending) {
      msg = NULL;
      break;
    }
  }
  if (msg != NULL)
    queue_push(obs, msg);
  coap_observation_unref(obs);
}

/* A heap copy of msg that knows its request's URI. */
static coap_message *copy_notification(const coap_observation *obs,
                                       const coap_message *msg) {
  coap_message *copy;
  if (coap_message_new(&copy) < 0)
    return NULL;
  if (coap_message_copy(copy, msg) < 0 ||
      (obs->uri != NULL &&
       (copy->request_uri = coap__strdup(obs->uri)) == NULL)) {
    coap_message_free(copy);
    return NULL;
  }
  return copy;
}

coap_future *coap_observation_next(coap_observation *obs) {
  coap_future *f = NULL;
  if (obs == NULL)
    return NULL;
  if (obs->q_len > 0) {
    coap_message *msg = obs->queue[obs->q_head];
    obs->q_head = (obs->q_head + 1) % obs->q_cap;
    obs->q_len--;
    if (coap_future_new_resolved(obs->loop, msg, free_message, &f) < 0)
      return NULL;
    return f;
  }
  if (coap_future_new(obs->loop, &f) < 0)
    return NULL;
  if (obs->state == CLI_ENDED) {
    fail_with_end(obs, f);
    return f;
  }
  if (obs->n_waiters == obs->cap_waiters) {
    size_t cap = obs->cap_waiters ? obs->cap_waiters * 2 : 2;
    coap_future **grown =
        coap__realloc(obs->waiters, cap * sizeof *obs->waiters);
    if (grown == NULL) {
      coap_future_unref(f);
      return NULL;
    }
    obs->waiters = grown;
    obs->cap_waiters = cap;
  }
  obs->waiters[obs->n_waiters++] = coap_future_ref(f);
  return f;
}

int coap_observation_register_callback(coap_observation *obs,
                                       coap_observation_cb cb,
                                       void *user_data) {
  if (obs == NULL || cb == NULL || obs->state == CLI_ENDED)
    return COAP_EINVAL;
  callback_slot *grown = coap__realloc(
      obs->callbacks, (obs->n_callbacks + 1) * sizeof *obs->callbacks);
  if (grown == NULL)
    return COAP_ENOMEM;
  obs->callbacks = grown;
  obs->callbacks[obs->n_callbacks++] = (callback_slot){cb, user_data};
  return 0;
}

int coap_observation_register_errback(coap_observation *obs,
                                      coap_observation_errback cb,
                                      void *user_data) {
  if (obs == NULL || cb == NULL || obs->state == CLI_ENDED)
    return COAP_EINVAL;
  errback_slot *grown = coap__realloc(obs->errbacks, (obs->n_errbacks + 1) *
                                                         sizeof *obs->errbacks);
  if (grown == NULL)
    return COAP_ENOMEM;
  obs->errbacks = grown;
  obs->errbacks[obs->n_errbacks++] = (errback_slot){cb, user_data};
  return 0;
}

/* ---- Block2 notifications (RFC 7959 §2.6; block2_fetch.c) ---- */

/* The fetch belongs to obs, which abandons it before it goes (so this
 * never runs on a freed observation). */
static void on_fetched(void *user_data, int err, coap_message *whole) {
  coap_observation *obs = user_data;
  obs->fetch = NULL;
  if (err < 0) {
    /* §2.6: the representation changed or could not be had; the next
     * notification brings the new state. */
    if (obs->ctx != NULL)
      coap__context_log(obs->ctx, COAP_LOG_INFO,
                        "notification blocks not fetched: %s",
                        coap_strerror(err));
    return;
  }
  if (obs->state != CLI_ACTIVE || obs->ctx == NULL) {
    coap_message_free(whole);
    return;
  }
  coap_observation_ref(obs);
  deliver(obs, whole);
  coap_observation_unref(obs);
}

/* Stops completing a notification (a newer one came, or the observation
 * ended). */
static void fetch_abandon(coap_observation *obs) {
  coap__block2_fetch_abandon(obs->fetch);
  obs->fetch = NULL;
}

/* Completes a notification that has more blocks before delivering it. */
static void fetch_start(coap_observation *obs, const coap_message *msg) {
  fetch_abandon(obs);
  int rc = coap__block2_fetch_start(obs->ctx, obs->registration, &obs->remote,
                                    msg, obs->uri, on_fetched, obs,
                                    &obs->fetch);
  if (rc < 0)
    coap__context_log(obs->ctx, COAP_LOG_INFO,
                      "notification blocks not fetched: %s", coap_strerror(rc));
}

/* ---- from the network ---- */

/* §3.3.1: the client re-registers when Max-Age of the newest notification
 * has passed with no fresher one (plus a margin for the one on its way). */
static void schedule_reregister(coap_observation *obs,
                                const coap_message *msg) {
  uint32_t max_age = DEFAULT_MAX_AGE_S;
  (void)coap_options_get_max_age(&msg->opt, &max_age);
  coap_context *ctx = obs->ctx;
  coap__context_schedule(ctx, &obs->reregister,
                         coap__context_now(ctx) + (uint64_t)max_age * 1000u +
                             ctx->config.reregister_margin_ms);
}

void coap__observation_client_first_response(coap_request *req,
                                             const coap_message *msg) {
  coap_observation *obs = req->observation;
  if (obs == NULL || obs->state != CLI_REGISTERING ||
      msg->code == COAP_CODE_CONTINUE)
    return;
  coap_context *ctx = req->ctx;
  uint32_t observe = 0;
  if (!coap_code_is_successful(msg->code)) {
    end_observation(obs, COAP_ERESPONSE, msg);
    return;
  }
  if (coap_options_get_observe(&msg->opt, &observe) < 0) {
    end_observation(obs, COAP_ENOT_OBSERVABLE, NULL);
    return;
  }
  coap__observations *o = coap__observations_get(ctx);
  int rc = o == NULL ? COAP_ENOMEM : coap_message_new(&obs->registration);
  if (rc == 0)
    rc = coap_message_copy(obs->registration, req->msg);
  if (rc == 0 && req->uri != NULL &&
      (obs->uri = coap__strdup(req->uri)) == NULL)
    rc = COAP_ENOMEM;
  if (rc < 0) {
    end_observation(obs, rc, NULL);
    return;
  }
  /* The request's token becomes the observation's; the request finishes
   * with a fresh one if it needs more blocks. */
  if (req->in_token_map) {
    coap__token_map_remove(&ctx->tokens, &req->token);
    req->in_token_map = false;
  }
  memcpy(obs->token.token, msg->token, msg->token_len);
  obs->token.token_len = msg->token_len;
  if (coap__token_map_insert(&ctx->tokens, &obs->token) < 0) {
    end_observation(obs, COAP_ENOMEM, NULL);
    return;
  }
  coap_message *reg = obs->registration;
  coap_options_delete(&reg->opt, COAP_OPT_BLOCK1);
  coap_options_delete(&reg->opt, COAP_OPT_BLOCK2);
  coap_options_delete(&reg->opt, COAP_OPT_SIZE2);
  coap_message_set_token(reg, msg->token, msg->token_len);
  obs->holding_token = true;
  coap__queue_insert_tail(&o->clients, &obs->link);
  obs->remote = msg->remote;
  obs->state = CLI_ACTIVE;
  obs->request = NULL;
  obs->have_newest = true;
  obs->newest = observe;
  obs->newest_at = coap__context_now(ctx);
  schedule_reregister(obs, msg);
}

void coap__observation_client_request_done(coap_request *req, int err) {
  coap_observation *obs = req->observation;
  if (obs == NULL || obs->state != CLI_REGISTERING)
    return;
  obs->request = NULL;
  end_observation(obs, err < 0 ? err : COAP_ENOT_OBSERVABLE, NULL);
}

/* The deregistration is over (answered, refused or timed out). */
static void finish_cancel(coap_observation *obs) {
  if (!obs->cancelling)
    return;
  obs->cancelling = false;
  release_token(obs);
  coap_observation_unref(obs); /* the deregistration's reference */
}

static void on_linger(coap__timer *timer) {
  finish_cancel(coap__container_of(timer, coap_observation, linger));
}

bool coap__observation_client_notification(coap_context *ctx,
                                           coap__token_entry *entry,
                                           coap_message *msg) {
  coap_observation *obs = coap__container_of(entry, coap_observation, token);
  if (!coap_remote_equal(&msg->remote, &obs->remote))
    return false;
  uint32_t observe = 0;
  const bool has_observe = coap_options_get_observe(&msg->opt, &observe) == 0;
  if (obs->cancelling) {
    /* §3.6: notifications still on their way, and the answer to the
     * deregistration, are taken and dropped. */
    if (msg->mtype == COAP_TYPE_ACK || !has_observe)
      finish_cancel(obs);
    return true;
  }
  if (obs->state != CLI_ACTIVE)
    return true;
  if (!coap_code_is_successful(msg->code) || msg->code == COAP_CODE_CONTINUE) {
    /* §3.2: an unsuccessful notification ends the observation. */
    end_observation(obs, COAP_ERESPONSE, msg);
    return true;
  }
  const uint64_t now = coap__context_now(ctx);
  /* §3.4: the answer to our own re-registration is as fresh as it gets;
   * anything older than the newest notification is dropped. */
  if (has_observe && msg->mtype != COAP_TYPE_ACK &&
      !coap__observe_is_fresh(obs->newest, obs->newest_at, observe, now))
    return true;
  if (has_observe) {
    obs->newest = observe;
    obs->newest_at = now;
    schedule_reregister(obs, msg);
  }
  coap_block block;
  if (has_observe &&
      coap_options_get_block(&msg->opt, COAP_OPT_BLOCK2, &block) == 0 &&
      block.more) {
    fetch_start(obs, msg);
    return true;
  }
  /* A newer complete notification supersedes one still being fetched. */
  fetch_abandon(obs);
  coap_message *copy = copy_notification(obs, msg);
  coap_observation_ref(obs);
  if (copy != NULL)
    deliver(obs, copy);
  if (!has_observe && obs->state == CLI_ACTIVE) {
    /* §3.2: a 2.xx without Observe: the server is done with us. */
    end_observation(obs, COAP_EOBSERVATION_CANCELLED, NULL);
  }
  coap_observation_unref(obs);
  return true;
}

bool coap__observation_client_reject(coap_context *ctx,
                                     coap__token_entry *entry,
                                     const coap_message *msg, int err) {
  (void)ctx;
  coap_observation *obs = coap__container_of(entry, coap_observation, token);
  if (!coap_remote_equal(&msg->remote, &obs->remote))
    return false; /* not from the observed server: rejected all the same */
  if (obs->cancelling)
    finish_cancel(obs);
  else if (obs->state == CLI_ACTIVE)
    end_observation(obs, err, NULL);
  return false;
}

/* Sends the registration again, or with Observe 1 the deregistration,
 * with the observation's token, as CON with the observation as owner. */
static int send_registration(coap_observation *obs, uint32_t observe) {
  coap_context *ctx = obs->ctx;
  coap_message *reg = obs->registration;
  if (coap_options_set_observe(&reg->opt, observe) < 0)
    return COAP_ENOMEM;
  reg->remote = obs->remote;
  reg->mtype = COAP_TYPE_CON;
  reg->mid = -1;
  if (obs->in_mm)
    coap__mm_cancel(ctx->mm, obs);
  obs->in_mm = false;
  int rc = coap__mm_send(ctx->mm, reg, obs, coap__context_now(ctx));
  if (rc < 0)
    return rc;
  obs->in_mm = true;
  coap__context_rearm(ctx);
  return 0;
}

static void on_reregister(coap__timer *timer) {
  coap_observation *obs =
      coap__container_of(timer, coap_observation, reregister);
  if (obs->state != CLI_ACTIVE || obs->ctx == NULL)
    return;
  coap_context *ctx = obs->ctx;
  /* Should nothing come back, try again after another default Max-Age. */
  coap__context_schedule(ctx, &obs->reregister,
                         coap__context_now(ctx) + DEFAULT_MAX_AGE_S * 1000u +
                             ctx->config.reregister_margin_ms);
  int rc = obs->in_mm ? 0 : send_registration(obs, 0);
  if (rc < 0)
    end_observation(obs, rc, NULL);
}

void coap__observation_client_event(coap_context *ctx, void *owner,
                                    coap__mm_event event, int err) {
  coap_observation *obs = owner;
  switch (event) {
  case COAP__MM_ACKED:
    obs->in_mm = false;
    /* A piggybacked answer follows at once; a separate one gets as long as
     * a request's would. */
    if (obs->cancelling)
      coap__context_schedule(ctx, &obs->linger,
                             coap__context_now(ctx) + COAP_REQUEST_TIMEOUT_MS);
    break;
  case COAP__MM_RST:
  case COAP__MM_TIMEOUT:
  case COAP__MM_FAILED:
    obs->in_mm = false;
    if (obs->cancelling)
      finish_cancel(obs);
    else
      end_observation(obs, err, NULL);
    break;
  default:
    break;
  }
}

void coap_observation_cancel(coap_observation *obs) {
  if (obs == NULL)
    return;
  /* Whatever is still queued for the application fires no more. */
  obs->app_done = true;
  if (obs->state == CLI_ENDED)
    return;
  if (obs->state == CLI_REGISTERING) {
    coap_request *req = obs->request;
    end_for_app(obs, COAP_EOBSERVATION_CANCELLED, NULL, false);
    if (req != NULL)
      coap_request_cancel(req);
    return;
  }
  coap_observation_ref(obs);
  end_for_app(obs, COAP_EOBSERVATION_CANCELLED, NULL, false);
  /* §3.6: a GET with Observe 1 and the token; the token stays ours until
   * it is answered, so what arrives meanwhile is not met with RST. */
  if (obs->ctx != NULL && send_registration(obs, 1) == 0) {
    obs->cancelling = true;
    return; /* the reference goes with finish_cancel */
  }
  release_token(obs);
  coap_observation_unref(obs);
}

void coap__observation_clients_end_all(coap_context *ctx,
                                       const coap_remote *remote, int err) {
  coap__observations *o = ctx->observations;
  if (o == NULL)
    return;
  /* One pass moves the observations that end onto a list of their own,
   * each then ended from its head: ending one runs no application code
   * (errbacks are queued) and leaves that list by itself, so this is
   * linear however many there are. */
  coap__queue doomed;
  coap__queue_init(&doomed);
  coap__queue *q = coap__queue_head(&o->clients);
  while (q != &o->clients) {
    coap__queue *next = q->next;
    coap_observation *obs = coap__queue_data(q, coap_observation, link);
    if (remote == NULL || coap_remote_equal(&obs->remote, remote)) {
      coap__queue_remove(q);
      coap__queue_insert_tail(&doomed, q);
    }
    q = next;
  }
  while (!coap__queue_empty(&doomed)) {
    coap_observation *obs =
        coap__queue_data(coap__queue_head(&doomed), coap_observation, link);
    coap_observation_ref(obs);
    if (obs->cancelling)
      finish_cancel(obs);
    else
      end_observation(obs, err, NULL);
    /* Both give the token back, which takes obs off the list. */
    coap__queue_remove(&obs->link);
    coap_observation_unref(obs);
  }
}
