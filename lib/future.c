/*
 * coap_future and the per-loop scheduler that runs every callback into
 * application code (DESIGN.md, Callbacks into the application).
 *
 * Callbacks never run inside the library call that caused them (asyncio's
 * call_soon rule, which aiocoap code relies on: a producer may resolve a
 * future, or report an event, while it is in the middle of updating its own
 * state).  A done future with callbacks, or a deferred call
 * (coap__scheduler_call_soon), is put on the scheduler's FIFO; the
 * scheduler's uv_idle_t (which keeps uv_run's poll from blocking while the
 * FIFO is non-empty) and uv_check_t (which runs right after poll) drain it,
 * whichever phase comes first.  Futures and calls share the one FIFO, so
 * the application sees events in the order the library produced them.
 *
 * The scheduler is found from the loop by uv_walk (uv_walk(3)): its check
 * handle's data points back at the scheduler, whose magic field holds the
 * address of a static const tag.  So that coap_future_new costs O(1) on a
 * loop with many handles, each thread keeps a small cache of the loops it
 * found schedulers for; an entry goes when its scheduler does.  A loop and
 * its futures belong to the thread that runs the loop (DESIGN.md, Threads).
 */
#include "future-internal.h"

#include "alloc-internal.h"
#include "queue.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

/* Futures and call records kept for reuse per scheduler, so that
 * request/response traffic in steady state allocates none (STYLE.md,
 * Memory and the hot path). */
#define FREE_LIST_MAX 64
#define CALL_FREE_LIST_MAX 256

#define INLINE_CALLBACKS 2

/* Loops whose scheduler a thread remembers. */
#define SCHEDULER_CACHE_SIZE 4

static const char scheduler_tag = 's';

enum { SOON_FUTURE, SOON_CALL };

/* An entry of the scheduler's FIFO. */
typedef struct soon_node {
  coap__queue link;
  /* The scheduler's generation when queued (see drain). */
  uint64_t generation;
  uint8_t kind; /* SOON_* */
} soon_node;

typedef struct call_record {
  soon_node node; /* first */
  coap__call call;
  struct call_record *next_free;
} call_record;

typedef struct done_callback {
  coap_future_done_cb cb; /* NULL once run or removed */
  void *user_data;
} done_callback;

struct coap_future {
  soon_node node;             /* first: the FIFO entry while queued */
  coap__scheduler *scheduler; /* holds one scheduler reference */
  size_t refcount;
  coap_future_state state;
  int error;
  void *result;
  coap_future_result_free_cb free_cb;
  coap_future_cancel_hook cancel_hook;
  void *cancel_data;
  /* Callbacks in the order added: index i < 2 lives in inline_cbs, the rest
   * in overflow.  [first, count) are not run yet (some may be removed). */
  done_callback inline_cbs[INLINE_CALLBACKS];
  done_callback *overflow;
  size_t overflow_cap;
  size_t first;
  size_t count;
  bool queued;  /* on the scheduler's FIFO */
  bool running; /* its callbacks are running now */
  coap_future *next_free;
};

struct coap__scheduler {
  const char *magic; /* &scheduler_tag: tells our check handle from others */
  uv_loop_t *loop;
  uv_check_t check;
  uv_idle_t idle;
  size_t refcount;
  int handles_open; /* handles not yet closed once closing */
  /* Incremented at each drain: a drain runs only entries queued before it
   * began, so callbacks that queue more callbacks cannot starve the loop
   * (asyncio runs call_soon callbacks scheduled by a callback on the next
   * iteration too). */
  uint64_t generation;
  coap__queue fifo;
  coap_future *free_list;
  size_t free_count;
  call_record *free_calls;
  size_t free_calls_count;
};

typedef struct scheduler_cache_entry {
  uv_loop_t *loop;
  coap__scheduler *scheduler;
} scheduler_cache_entry;

/* A lookup aid, not state: an empty cache changes nothing but speed. */
static _Thread_local scheduler_cache_entry
    scheduler_cache[SCHEDULER_CACHE_SIZE];

static coap__scheduler *cache_find(const uv_loop_t *loop) {
  for (size_t i = 0; i < SCHEDULER_CACHE_SIZE; i++)
    if (scheduler_cache[i].loop == loop)
      return scheduler_cache[i].scheduler;
  return NULL;
}

static void cache_put(coap__scheduler *s) {
  for (size_t i = 0; i < SCHEDULER_CACHE_SIZE; i++) {
    if (scheduler_cache[i].loop == NULL) {
      scheduler_cache[i] = (scheduler_cache_entry){s->loop, s};
      return;
    }
  }
  /* Full: the oldest entry makes room (it is found by uv_walk again). */
  memmove(&scheduler_cache[0], &scheduler_cache[1],
          (SCHEDULER_CACHE_SIZE - 1) * sizeof scheduler_cache[0]);
  scheduler_cache[SCHEDULER_CACHE_SIZE - 1] =
      (scheduler_cache_entry){s->loop, s};
}

static void cache_forget(const coap__scheduler *s) {
  for (size_t i = 0; i < SCHEDULER_CACHE_SIZE; i++)
    if (scheduler_cache[i].scheduler == s)
      scheduler_cache[i] = (scheduler_cache_entry){NULL, NULL};
}

static done_callback *callback_at(coap_future *f, size_t i) {
  return i < INLINE_CALLBACKS ? &f->inline_cbs[i]
                              : &f->overflow[i - INLINE_CALLBACKS];
}

static bool has_callbacks(const coap_future *f) {
  return f->first < f->count;
}

static void fifo_remove(coap__scheduler *s, soon_node *n) {
  coap__queue_remove(&n->link);
  if (coap__queue_empty(&s->fifo))
    uv_idle_stop(&s->idle);
}

static void drain(coap__scheduler *s);

static void idle_cb(uv_idle_t *handle) {
  drain(coap__container_of(handle, coap__scheduler, idle));
}

static void check_cb(uv_check_t *handle) {
  drain(coap__container_of(handle, coap__scheduler, check));
}

static void fifo_push(coap__scheduler *s, soon_node *n, uint8_t kind) {
  n->kind = kind;
  n->generation = s->generation;
  coap__queue_insert_tail(&s->fifo, &n->link);
  /* An active idle handle makes uv_run poll with a zero timeout and keeps
   * the loop alive until the queue is drained (uv_idle_t in libuv's docs). */
  if (!uv_is_active((uv_handle_t *)&s->idle))
    uv_idle_start(&s->idle, idle_cb);
}

/* Queues f when it is done, has callbacks left and is not already queued or
 * running (a running future re-queues itself afterwards). */
static void maybe_enqueue(coap_future *f) {
  if (f->state != COAP_FUTURE_PENDING && has_callbacks(f) && !f->queued &&
      !f->running) {
    f->queued = true;
    fifo_push(f->scheduler, &f->node, SOON_FUTURE);
  }
}

static void future_unqueue(coap_future *f) {
  fifo_remove(f->scheduler, &f->node);
  f->queued = false;
}

static void reset_callbacks(coap_future *f) {
  coap__free(f->overflow);
  f->overflow = NULL;
  f->overflow_cap = 0;
  f->first = f->count = 0;
}

/* Runs the callbacks f had when it came off the queue; ones added meanwhile
 * wait for the next drain.  The caller holds a reference. */
static void run_callbacks(coap_future *f) {
  size_t end = f->count;
  f->running = true;
  while (f->first < end) {
    done_callback *entry = callback_at(f, f->first++);
    coap_future_done_cb cb = entry->cb;
    entry->cb = NULL;
    if (cb != NULL)
      cb(f, entry->user_data);
  }
  f->running = false;
  if (!has_callbacks(f))
    f->first = f->count = 0;
  maybe_enqueue(f);
}

static void call_put(coap__scheduler *s, call_record *rec) {
  if (s->free_calls_count < CALL_FREE_LIST_MAX) {
    rec->next_free = s->free_calls;
    s->free_calls = rec;
    s->free_calls_count++;
  } else {
    coap__free(rec);
  }
}

static void run_call(coap__scheduler *s, call_record *rec) {
  coap__call *call = &rec->call;
  call->run(call);
  if (call->release != NULL)
    call->release(call);
  call_put(s, rec);
  /* The call's scheduler reference; the last one closes the handles, whose
   * memory goes from their close callbacks, so s stays readable here. */
  coap__scheduler_release(s);
}

static void drain(coap__scheduler *s) {
  uint64_t generation = ++s->generation;
  /* Everything queued during this drain carries the new generation and is
   * behind every older entry, so stopping at the first one suffices.  A
   * future freed by a callback unlinks itself, so the head is re-read. */
  while (!coap__queue_empty(&s->fifo)) {
    soon_node *n =
        coap__queue_data(coap__queue_head(&s->fifo), soon_node, link);
    if (n->generation == generation)
      break;
    fifo_remove(s, n);
    if (n->kind == SOON_CALL) {
      run_call(s, (call_record *)n);
      continue;
    }
    coap_future *f = (coap_future *)n;
    f->queued = false;
    /* Held while the callbacks run: a callback may drop the last reference
     * (future.h), and the future goes only once they are done. */
    f->refcount++;
    run_callbacks(f);
    coap_future_unref(f);
  }
}

static void scheduler_closed(uv_handle_t *handle) {
  coap__scheduler *s = handle->data;
  if (--s->handles_open > 0)
    return;
  while (s->free_list != NULL) {
    coap_future *f = s->free_list;
    s->free_list = f->next_free;
    coap__free(f);
  }
  while (s->free_calls != NULL) {
    call_record *rec = s->free_calls;
    s->free_calls = rec->next_free;
    coap__free(rec);
  }
  coap__free(s);
}

typedef struct scheduler_search {
  coap__scheduler *found;
} scheduler_search;

static void find_scheduler(uv_handle_t *handle, void *arg) {
  scheduler_search *search = arg;
  if (handle->type != UV_CHECK || handle->data == NULL || uv_is_closing(handle))
    return;
  /* Compare addresses before touching memory: only a check handle embedded
   * in the structure its data points at can be ours. */
  coap__scheduler *s = coap__container_of(handle, coap__scheduler, check);
  if (handle->data != (void *)s || s->magic != &scheduler_tag)
    return;
  search->found = s;
}

int coap__scheduler_acquire(uv_loop_t *loop, coap__scheduler **out) {
  coap__scheduler *found = cache_find(loop);
  if (found == NULL) {
    scheduler_search search = {NULL};
    uv_walk(loop, find_scheduler, &search);
    found = search.found;
    if (found != NULL)
      cache_put(found);
  }
  if (found != NULL) {
    found->refcount++;
    *out = found;
    return 0;
  }
  coap__scheduler *s = coap__calloc(1, sizeof(*s));
  if (s == NULL)
    return COAP_ENOMEM;
  s->magic = &scheduler_tag;
  s->loop = loop;
  s->refcount = 1;
  coap__queue_init(&s->fifo);
  uv_check_init(loop, &s->check);
  uv_idle_init(loop, &s->idle);
  s->check.data = s;
  s->idle.data = s;
  uv_check_start(&s->check, check_cb);
  /* The check handle only watches; it must not keep uv_run going on its
   * own (the idle handle does that while callbacks are queued). */
  uv_unref((uv_handle_t *)&s->check);
  cache_put(s);
  *out = s;
  return 0;
}

coap__scheduler *coap__scheduler_ref(coap__scheduler *s) {
  s->refcount++;
  return s;
}

void coap__scheduler_release(coap__scheduler *s) {
  if (s == NULL || --s->refcount > 0)
    return;
  /* No future or call is left, so the queue is empty; memory goes from the
   * close callbacks, as uv_close(3) requires. */
  assert(coap__queue_empty(&s->fifo));
  cache_forget(s);
  s->handles_open = 2;
  uv_close((uv_handle_t *)&s->check, scheduler_closed);
  uv_close((uv_handle_t *)&s->idle, scheduler_closed);
}

void *coap__scheduler_reserve(coap__scheduler *s) {
  call_record *rec = s->free_calls;
  if (rec != NULL) {
    s->free_calls = rec->next_free;
    s->free_calls_count--;
    return rec;
  }
  return coap__malloc(sizeof *rec);
}

void coap__scheduler_call_reserved(coap__scheduler *s, void *record,
                                   const coap__call *call) {
  call_record *rec = record;
  rec->call = *call;
  s->refcount++;
  fifo_push(s, &rec->node, SOON_CALL);
}

void coap__scheduler_unreserve(void *record) { coap__free(record); }

int coap__scheduler_call_soon(coap__scheduler *s, const coap__call *call) {
  call_record *rec = coap__scheduler_reserve(s);
  if (rec == NULL) {
    coap__call copy = *call;
    if (copy.release != NULL)
      copy.release(&copy);
    return COAP_ENOMEM;
  }
  coap__scheduler_call_reserved(s, rec, call);
  return 0;
}

static void run_cancel(coap__call *call) {
  coap_future_cancel(call->object);
}

static void release_future(coap__call *call) {
  coap_future_unref(call->object);
}

int coap__future_cancel_soon(coap__scheduler *s, coap_future *future) {
  coap__call call = {.run = run_cancel,
                     .release = release_future,
                     .object = coap_future_ref(future)};
  return coap__scheduler_call_soon(s, &call);
}

static int future_new_on(coap__scheduler *s, coap_future **out) {
  coap_future *f = s->free_list;
  if (f != NULL) {
    s->free_list = f->next_free;
    s->free_count--;
  } else {
    f = coap__malloc(sizeof(*f));
    if (f == NULL)
      return COAP_ENOMEM;
  }
  memset(f, 0, sizeof(*f));
  f->scheduler = s;
  f->refcount = 1;
  f->state = COAP_FUTURE_PENDING;
  *out = f;
  return 0;
}

int coap__future_new_on(coap__scheduler *s, coap_future **out) {
  int rc = future_new_on(s, out);
  if (rc == 0)
    coap__scheduler_ref(s);
  return rc;
}

int coap_future_new(uv_loop_t *loop, coap_future **out) {
  if (loop == NULL || out == NULL)
    return COAP_EINVAL;
  coap__scheduler *s;
  int rc = coap__scheduler_acquire(loop, &s);
  if (rc < 0)
    return rc;
  rc = future_new_on(s, out);
  if (rc < 0)
    coap__scheduler_release(s);
  return rc;
}

static void free_result(void *result, coap_future_result_free_cb free_cb) {
  if (result != NULL && free_cb != NULL)
    free_cb(result);
}

int coap_future_new_resolved(uv_loop_t *loop, void *result,
                             coap_future_result_free_cb free_cb,
                             coap_future **out) {
  int rc = coap_future_new(loop, out);
  if (rc < 0) {
    free_result(result, free_cb);
    return rc;
  }
  return coap_future_resolve(*out, result, free_cb);
}

int coap_future_new_failed(uv_loop_t *loop, int err, coap_future **out) {
  if (err >= 0)
    return COAP_EINVAL;
  int rc = coap_future_new(loop, out);
  if (rc < 0)
    return rc;
  return coap_future_fail(*out, err, NULL, NULL);
}

coap_future *coap_future_ref(coap_future *future) {
  if (future != NULL)
    future->refcount++;
  return future;
}

void coap_future_unref(coap_future *f) {
  if (f == NULL)
    return;
  assert(f->refcount > 0);
  if (--f->refcount > 0)
    return;
  coap__scheduler *s = f->scheduler;
  /* Callbacks not yet run are dropped (future.h). */
  if (f->queued)
    future_unqueue(f);
  free_result(f->result, f->free_cb);
  reset_callbacks(f);
  if (s->free_count < FREE_LIST_MAX) {
    f->next_free = s->free_list;
    s->free_list = f;
    s->free_count++;
  } else {
    coap__free(f);
  }
  coap__scheduler_release(s);
}

/* Moves a pending future to state; its callbacks are queued, never run
 * here. */
static void complete(coap_future *f, coap_future_state state, int err,
                     void *result, coap_future_result_free_cb free_cb) {
  f->state = state;
  f->error = err;
  f->result = result;
  f->free_cb = free_cb;
  f->cancel_hook = NULL;
  f->cancel_data = NULL;
  maybe_enqueue(f);
}

int coap_future_resolve(coap_future *f, void *result,
                        coap_future_result_free_cb free_cb) {
  if (f == NULL || f->state != COAP_FUTURE_PENDING) {
    free_result(result, free_cb);
    return COAP_EINVAL;
  }
  complete(f, COAP_FUTURE_DONE, 0, result, free_cb);
  return 0;
}

int coap_future_fail(coap_future *f, int err, void *result,
                     coap_future_result_free_cb free_cb) {
  if (f == NULL || f->state != COAP_FUTURE_PENDING || err >= 0) {
    free_result(result, free_cb);
    return COAP_EINVAL;
  }
  complete(f, COAP_FUTURE_FAILED, err, result, free_cb);
  return 0;
}

bool coap_future_cancel(coap_future *f) {
  if (f == NULL || f->state != COAP_FUTURE_PENDING)
    return false;
  coap_future_cancel_hook hook = f->cancel_hook;
  void *hook_data = f->cancel_data;
  complete(f, COAP_FUTURE_CANCELLED, COAP_ECANCELED, NULL, NULL);
  if (hook != NULL) {
    /* The hook may drop the producer's reference, maybe the last one. */
    f->refcount++;
    hook(f, hook_data);
    coap_future_unref(f);
  }
  return true;
}

void coap_future_set_cancel_hook(coap_future *f, coap_future_cancel_hook hook,
                                 void *user_data) {
  if (f == NULL || f->state != COAP_FUTURE_PENDING)
    return;
  f->cancel_hook = hook;
  f->cancel_data = hook != NULL ? user_data : NULL;
}

/* Room for one more callback at index f->count. */
static int reserve_callback(coap_future *f) {
  if (f->count < INLINE_CALLBACKS + f->overflow_cap)
    return 0;
  /* Not running, so the slots before first are free: compact first. */
  if (!f->running && f->first > 0) {
    size_t live = 0;
    for (size_t i = f->first; i < f->count; i++)
      *callback_at(f, live++) = *callback_at(f, i);
    f->first = 0;
    f->count = live;
    if (f->count < INLINE_CALLBACKS + f->overflow_cap)
      return 0;
  }
  size_t cap = f->overflow_cap == 0 ? 4 : f->overflow_cap * 2;
  done_callback *grown = coap__realloc(f->overflow, cap * sizeof(*grown));
  if (grown == NULL)
    return COAP_ENOMEM;
  f->overflow = grown;
  f->overflow_cap = cap;
  return 0;
}

int coap_future_add_done_callback(coap_future *f, coap_future_done_cb cb,
                                  void *user_data) {
  if (f == NULL || cb == NULL)
    return COAP_EINVAL;
  int rc = reserve_callback(f);
  if (rc < 0)
    return rc;
  done_callback *entry = callback_at(f, f->count++);
  entry->cb = cb;
  entry->user_data = user_data;
  maybe_enqueue(f);
  return 0;
}

size_t coap_future_remove_done_callback(coap_future *f, coap_future_done_cb cb,
                                        void *user_data) {
  if (f == NULL)
    return 0;
  size_t removed = 0;
  for (size_t i = f->first; i < f->count; i++) {
    done_callback *entry = callback_at(f, i);
    if (entry->cb == cb && entry->user_data == user_data && cb != NULL) {
      entry->cb = NULL;
      removed++;
    }
  }
  if (removed == 0 || f->running)
    return removed;
  /* Not running: squeeze the removed entries out so a future whose
   * callbacks come and go while it is pending does not grow. */
  size_t live = 0;
  for (size_t i = f->first; i < f->count; i++) {
    done_callback *entry = callback_at(f, i);
    if (entry->cb != NULL)
      *callback_at(f, live++) = *entry;
  }
  f->first = 0;
  f->count = live;
  if (f->queued && !has_callbacks(f))
    future_unqueue(f);
  return removed;
}

coap_future_state coap_future_get_state(const coap_future *f) {
  return f->state;
}

bool coap_future_done(const coap_future *f) {
  return f != NULL && f->state != COAP_FUTURE_PENDING;
}

bool coap_future_cancelled(const coap_future *f) {
  return f != NULL && f->state == COAP_FUTURE_CANCELLED;
}

void *coap_future_result(const coap_future *f) {
  return f != NULL ? f->result : NULL;
}

int coap_future_error(const coap_future *f) {
  return f != NULL ? f->error : COAP_EINVAL;
}

void *coap_future_take_result(coap_future *f) {
  if (f == NULL)
    return NULL;
  void *result = f->result;
  f->result = NULL;
  f->free_cb = NULL;
  return result;
}

uv_loop_t *coap_future_loop(const coap_future *f) {
  return f != NULL ? f->scheduler->loop : NULL;
}

/* What coap_run_until_complete waits with: its being queued when the
 * future completes starts the scheduler's idle handle, so the loop does
 * not go on to block in poll even when the future completed in a phase
 * after the poll timeout was reckoned with nothing else to wake it (a
 * prepare or check callback). */
static void wake_loop(coap_future *f, void *user_data) {
  (void)f;
  (void)user_data;
}

int coap_run_until_complete(uv_loop_t *loop, coap_future *f) {
  if (loop == NULL || f == NULL)
    return COAP_EINVAL;
  coap_future_ref(f);
  int rc = coap_future_add_done_callback(f, wake_loop, NULL);
  if (rc < 0) {
    coap_future_unref(f);
    return rc;
  }
  while (f->state == COAP_FUTURE_PENDING) {
    /* uv_run returns 0 once no referenced handle or request is left: nothing
     * can complete the future any more. */
    if (uv_run(loop, UV_RUN_ONCE) == 0 && f->state == COAP_FUTURE_PENDING) {
      rc = COAP_EAGAIN;
      break;
    }
  }
  /* As asyncio's run_until_complete, let the callbacks already waiting on
   * the future run before returning; UV_RUN_NOWAIT never blocks. */
  while (rc == 0 && f->queued)
    uv_run(loop, UV_RUN_NOWAIT);
  if (rc == 0)
    rc = f->error;
  coap_future_remove_done_callback(f, wake_loop, NULL);
  coap_future_unref(f);
  return rc;
}
