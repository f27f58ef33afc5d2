/*
 * Outgoing Confirmable messages (RFC 7252 §4.2): records holding the encoded
 * datagram, indexed by (remote, MID) to match ACK and RST, retransmitted on
 * the heap with exponential back-off, and held back per peer by NSTART
 * (RFC 7252 §4.7).  NON requests with an owner get a record too: they hold
 * an NSTART slot while their response is awaited (§4.7 counts them as
 * outstanding interactions) and match an RST by MID meanwhile.  So does any
 * message that must wait for a MID (mm_mid.c); MIDs are taken when a
 * message first goes out, so waiting for NSTART does not age them.
 * Records and peers come from free lists and keep their buffers, so steady
 * state allocates nothing.  Records are indexed by owner and listed per
 * peer, so that cancel and kill cost O(records of that owner or peer).
 *
 * Callbacks may call back into the layer (send, respond, cancel, kill), so a
 * record is always fully detached before its owner hears of it, and a peer
 * is looked up again after any callback instead of being held.
 */
#include "messagemanager-internal.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <string.h>

#define OUT_INITIAL_BUCKETS 64u
#define PEER_INITIAL_BUCKETS 16u

int coap__mm_out_init(coap__mm *mm) {
  if (coap__mm_table_init(&mm->out_table, OUT_INITIAL_BUCKETS) < 0 ||
      coap__mm_table_init(&mm->out_by_owner, OUT_INITIAL_BUCKETS) < 0)
    return COAP_ENOMEM;
  return coap__mm_table_init(&mm->peer_table, PEER_INITIAL_BUCKETS);
}

static void free_record(coap__mm_out *rec) {
  coap__free(rec->buf);
  coap__free(rec);
}

void coap__mm_out_free(coap__mm *mm) {
  while (mm->out_live != NULL) {
    coap__mm_out *rec = mm->out_live;
    mm->out_live = rec->live_next;
    free_record(rec);
  }
  while (mm->out_free != NULL) {
    coap__mm_out *rec = mm->out_free;
    mm->out_free = rec->next;
    free_record(rec);
  }
  if (mm->peer_table.buckets != NULL) {
    for (uint32_t i = 0; i <= mm->peer_table.mask; i++) {
      coap__mm_hnode *node = mm->peer_table.buckets[i];
      while (node != NULL) {
        coap__mm_hnode *next = node->next;
        coap__free(coap__container_of(node, coap__mm_peer, by_remote));
        node = next;
      }
    }
  }
  while (mm->peer_free != NULL) {
    coap__mm_peer *peer = mm->peer_free;
    mm->peer_free = peer->next_free;
    coap__free(peer);
  }
  coap__mm_table_free(&mm->out_table);
  coap__mm_table_free(&mm->out_by_owner);
  coap__mm_table_free(&mm->peer_table);
}

static coap__mm_peer *peer_find(const coap__mm *mm, const coap_remote *remote) {
  uint64_t hash = coap__mm_hash(&mm->table_key, remote, 0);
  for (coap__mm_hnode *node = coap__mm_table_first(&mm->peer_table, hash);
       node != NULL; node = coap__mm_table_next(node)) {
    coap__mm_peer *peer = coap__container_of(node, coap__mm_peer, by_remote);
    if (coap_remote_equal(&peer->remote, remote))
      return peer;
  }
  return NULL;
}

static coap__mm_peer *peer_obtain(coap__mm *mm, const coap_remote *remote) {
  coap__mm_peer *peer = peer_find(mm, remote);
  if (peer != NULL)
    return peer;
  peer = mm->peer_free;
  if (peer != NULL)
    mm->peer_free = peer->next_free;
  else if ((peer = coap__malloc(sizeof *peer)) == NULL)
    return NULL;
  memset(peer, 0, sizeof *peer);
  peer->remote = *remote;
  coap__mm_table_insert(&mm->peer_table, &peer->by_remote,
                        coap__mm_hash(&mm->table_key, remote, 0));
  return peer;
}

uint32_t coap__mm_peer_outgoing(const coap__mm *mm, const coap_remote *remote) {
  const coap__mm_peer *peer = peer_find(mm, remote);
  return peer != NULL ? peer->records + peer->owed : 0;
}

/* The NSTART of a class (RFC 7252 §4.7: 1 unless configured higher). */
static uint32_t nstart_of(const coap__mm *mm, unsigned cls) {
  if (cls == COAP__MM_CLASS_RESPONSE && mm->config.nstart_responses > 0)
    return mm->config.nstart_responses;
  return mm->config.transmission.nstart;
}

/* The first queued record of peer that a free slot of its class lets go,
 * or NULL. */
static coap__mm_out *next_startable(const coap__mm *mm,
                                    const coap__mm_peer *peer) {
  for (unsigned c = 0; c < COAP__MM_CLASSES; c++)
    if (peer->queue_head[c] != NULL && peer->active[c] < nstart_of(mm, c))
      return peer->queue_head[c];
  return NULL;
}

/* Per-peer state lives only while the peer has records. */
static void peer_release_if_idle(coap__mm *mm, coap__mm_peer *peer) {
  for (unsigned c = 0; c < COAP__MM_CLASSES; c++)
    if (peer->active[c] > 0 || peer->queue_head[c] != NULL)
      return;
  if (peer->records_head != NULL || peer->owed > 0)
    return;
  coap__mm_table_remove(&mm->peer_table, &peer->by_remote);
  peer->next_free = mm->peer_free;
  mm->peer_free = peer;
}

static coap__mm_out *record_get(coap__mm *mm) {
  coap__mm_out *rec = mm->out_free;
  if (rec != NULL) {
    mm->out_free = rec->next;
    return rec;
  }
  rec = coap__calloc(1, sizeof *rec);
  if (rec == NULL)
    return NULL;
  coap__heap_node_init(&rec->timer.node);
  rec->timer.kind = COAP__MM_TIMER_OUT;
  return rec;
}

static void record_put(coap__mm *mm, coap__mm_out *rec) {
  rec->owner = NULL;
  rec->next = mm->out_free;
  mm->out_free = rec;
}

static uint64_t saturating_add(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* First transmission of the CON rec, which already holds an NSTART slot. */
static void transmit(coap__mm *mm, coap__mm_out *rec, uint64_t now) {
  const coap_transmission_parameters *tp = &mm->config.transmission;
  rec->state = COAP__MM_OUT_FLIGHT;
  coap__mm_table_insert(&mm->out_table, &rec->by_mid,
                        coap__mm_hash(&mm->table_key, &rec->remote, rec->mid));
  /* RFC 7252 §4.2: the initial timeout is random in
   * [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]. */
  uint64_t spread =
      (uint64_t)((double)tp->ack_timeout_ms * (tp->ack_random_factor - 1.0));
  rec->interval = tp->ack_timeout_ms + coap__mm_random(mm, spread);
  rec->retransmits = 0;
  /* The node is in the heap since the record was made: this only moves it,
   * so it cannot fail. */
  (void)coap__heap_schedule(&mm->heap, &rec->timer.node,
                            saturating_add(now, rec->interval));
  /* Beyond the amplification budget it is not sent, as if lost: the
   * retransmissions (which the budget may let go once the peer is
   * validated) or the timeout follow as usual. */
  if (!rec->amp_first || coap__mm_amp_allow(mm, &rec->remote, rec->len, true))
    coap__mm_emit(mm, &rec->remote, rec->buf, rec->len);
  if (rec->owner != NULL && mm->cb.event != NULL)
    mm->cb.event(mm->user_data, rec->owner, COAP__MM_SENT, 0);
}

static void detach(coap__mm *mm, coap__mm_out *rec);

/* Sends rec, which has its MID (and its NSTART slot when it needs one). */
static void go(coap__mm *mm, coap__mm_out *rec, uint64_t now) {
  if (rec->mtype == COAP_TYPE_CON) {
    transmit(mm, rec, now);
    return;
  }
  void *owner = rec->owner;
  if (rec->has_slot) {
    /* RFC 7252 §4.7: the request is outstanding until its response comes
     * (the owner cancels) or, at the latest, NON_LIFETIME has passed; its
     * MID matches an RST meanwhile (§4.3). */
    rec->state = COAP__MM_OUT_NON_WAIT;
    coap__mm_table_insert(
        &mm->out_table, &rec->by_mid,
        coap__mm_hash(&mm->table_key, &rec->remote, rec->mid));
    (void)coap__heap_schedule(&mm->heap, &rec->timer.node,
                              saturating_add(now, mm->non_lifetime));
    coap__mm_emit(mm, &rec->remote, rec->buf, rec->len);
  } else {
    /* It only waited for its MID: from here on it is an ordinary NON
     * (dropped, as if lost, beyond the amplification budget). */
    if (!rec->amp_first || coap__mm_amp_allow(mm, &rec->remote, rec->len, true))
      coap__mm_emit(mm, &rec->remote, rec->buf, rec->len);
    if (rec->mtype == COAP_TYPE_NON)
      coap__mm_non_add(mm, &rec->remote, rec->mid, owner, now);
    detach(mm, rec);
    record_put(mm, rec);
  }
  if (owner != NULL && mm->cb.event != NULL)
    mm->cb.event(mm->user_data, owner, COAP__MM_SENT, 0);
}

static void mid_unlink(coap__mm *mm, coap__mm_peer *peer, coap__mm_out *rec) {
  if (rec->prev != NULL) {
    rec->prev->next = rec->next;
  } else {
    peer->mid_head = rec->next;
    /* The new head waits for the tracker; the next tick asks it again. */
    if (peer->mid_head != NULL)
      (void)coap__heap_schedule(&mm->heap, &peer->mid_head->timer.node, 0);
  }
  if (rec->next != NULL)
    rec->next->prev = rec->prev;
  else
    peer->mid_tail = rec->prev;
  rec->prev = rec->next = NULL;
}

/* RFC 7252 §4.4: the peer's MIDs are used up; rec waits, in order, until
 * one is free again (retry_at for the head of the line). */
static void mid_wait(coap__mm *mm, coap__mm_out *rec, uint64_t retry_at) {
  coap__mm_peer *peer = rec->peer;
  rec->state = COAP__MM_OUT_MIDWAIT;
  rec->next = NULL;
  rec->prev = peer->mid_tail;
  if (peer->mid_tail != NULL)
    peer->mid_tail->next = rec;
  else
    peer->mid_head = rec;
  peer->mid_tail = rec;
  mm->stats.mid_waits++;
  (void)coap__heap_schedule(&mm->heap, &rec->timer.node,
                            rec == peer->mid_head ? retry_at : UINT64_MAX);
}

/* Writes mid into rec's datagram (RFC 7252 §3: bytes 2 and 3). */
static void set_mid(coap__mm_out *rec, uint16_t mid) {
  rec->mid = mid;
  rec->buf[2] = (uint8_t)(mid >> 8);
  rec->buf[3] = (uint8_t)mid;
}

/* Gives rec its MID and sends it, or makes it wait for one.  Returns the
 * MID it went out with, or -1. */
static int32_t start(coap__mm *mm, coap__mm_out *rec, uint64_t now) {
  if (!rec->fixed_mid) {
    uint16_t mid;
    uint64_t retry_at = UINT64_MAX;
    if (rec->peer->mid_head != NULL ||
        coap__mm_mid_take(mm, &rec->remote, now, &mid, &retry_at) < 0) {
      mid_wait(mm, rec, retry_at);
      return -1;
    }
    set_mid(rec, mid);
  }
  int32_t mid = rec->mid;
  go(mm, rec, now);
  return mid;
}

/* Sends what waits for a MID to remote while MIDs are free. */
static void mid_pump(coap__mm *mm, const coap_remote *remote, uint64_t now) {
  coap__mm_peer *peer;
  /* go() tells the owner, who may change this peer: look it up afresh. */
  while ((peer = peer_find(mm, remote)) != NULL && peer->mid_head != NULL) {
    coap__mm_out *rec = peer->mid_head;
    uint16_t mid;
    uint64_t retry_at;
    if (coap__mm_mid_take(mm, remote, now, &mid, &retry_at) < 0) {
      (void)coap__heap_schedule(&mm->heap, &rec->timer.node, retry_at);
      return;
    }
    peer->mid_head = rec->next;
    if (peer->mid_head != NULL)
      peer->mid_head->prev = NULL;
    else
      peer->mid_tail = NULL;
    rec->prev = rec->next = NULL;
    rec->state = COAP__MM_OUT_READY;
    set_mid(rec, mid);
    go(mm, rec, now);
  }
  if (peer != NULL)
    peer_release_if_idle(mm, peer);
}

bool coap__mm_peer_owe(coap__mm *mm, const coap_remote *remote) {
  coap__mm_peer *peer = peer_obtain(mm, remote);
  if (peer == NULL)
    return false;
  peer->owed++;
  return true;
}

void coap__mm_peer_settle(coap__mm *mm, coap__mm_dedup *entry) {
  if (!entry->owed)
    return;
  entry->owed = false;
  coap__mm_peer *peer = peer_find(mm, &entry->remote);
  if (peer == NULL)
    return;
  peer->owed--;
  peer_release_if_idle(mm, peer);
}

bool coap__mm_out_mid_blocked(coap__mm *mm, const coap_remote *remote) {
  coap__mm_peer *peer = peer_find(mm, remote);
  return peer != NULL && peer->mid_head != NULL;
}

int coap__mm_out_submit(coap__mm *mm, size_t len, const coap_remote *remote,
                        int32_t mid, int mtype, bool needs_slot, bool amp_first,
                        bool amp_probe, void *owner, uint64_t now,
                        int32_t *sent_mid) {
  *sent_mid = -1;
  if (mm->out_count >= mm->config.max_outgoing)
    return COAP_ELIMIT;
  const coap__mm_peer *known = peer_find(mm, remote);
  if (mm->config.max_outgoing_per_peer > 0 && known != NULL &&
      known->records >= mm->config.max_outgoing_per_peer) {
    mm->stats.peer_limited++;
    return COAP_ELIMIT;
  }
  coap__mm_out *rec = record_get(mm);
  if (rec == NULL)
    return COAP_ENOMEM;
  coap__mm_peer *peer = NULL;
  if (coap__mm_buf_reserve(&rec->buf, &rec->cap, len) < 0 ||
      (peer = peer_obtain(mm, remote)) == NULL)
    goto fail;
  /* Every record sits in the heap from the start (a queued one at
   * UINT64_MAX), so later rescheduling never needs to grow the heap. */
  if (coap__heap_schedule(&mm->heap, &rec->timer.node, UINT64_MAX) < 0)
    goto fail;
  memcpy(rec->buf, mm->scratch, len);
  rec->len = len;
  rec->remote = *remote;
  rec->mid = mid >= 0 ? (uint16_t)mid : 0;
  rec->fixed_mid = mid >= 0;
  rec->amp_first = amp_first;
  rec->amp_probe = amp_probe;
  rec->mtype = (uint8_t)mtype;
  rec->needs_slot = needs_slot;
  rec->has_slot = false;
  /* The first byte of a request's code is class 0 (RFC 7252 §3). */
  rec->cls = len > 1 && coap_code_is_response(mm->scratch[1])
                 ? COAP__MM_CLASS_RESPONSE
                 : COAP__MM_CLASS_REQUEST;
  rec->state = COAP__MM_OUT_READY;
  rec->owner = owner;
  rec->peer = peer;
  rec->prev = rec->next = NULL;
  rec->live_prev = NULL;
  rec->live_next = mm->out_live;
  if (mm->out_live != NULL)
    mm->out_live->live_prev = rec;
  mm->out_live = rec;
  rec->peer_next = NULL;
  rec->peer_prev = peer->records_tail;
  if (peer->records_tail != NULL)
    peer->records_tail->peer_next = rec;
  else
    peer->records_head = rec;
  peer->records_tail = rec;
  peer->records++;
  if (owner != NULL)
    coap__mm_table_insert(&mm->out_by_owner, &rec->by_owner,
                          coap__mm_owner_hash(mm->hash_key, owner));
  mm->out_count++;
  if (!needs_slot) {
    *sent_mid = start(mm, rec, now);
    if ((peer = peer_find(mm, remote)) != NULL)
      peer_release_if_idle(mm, peer);
    return 0;
  }
  /* RFC 7252 §4.7: at most NSTART outstanding interactions per peer; later
   * ones wait in order. */
  const unsigned cls = rec->cls;
  if (peer->active[cls] < nstart_of(mm, cls) && peer->queue_head[cls] == NULL) {
    peer->active[cls]++;
    rec->has_slot = true;
    *sent_mid = start(mm, rec, now);
    return 0;
  }
  rec->state = COAP__MM_OUT_QUEUED;
  rec->prev = peer->queue_tail[cls];
  if (peer->queue_tail[cls] != NULL)
    peer->queue_tail[cls]->next = rec;
  else
    peer->queue_head[cls] = rec;
  peer->queue_tail[cls] = rec;
  /* Behind a peer that acknowledges nothing the wait would never end (a
   * CON ahead of it times out, the next one takes its place): give up
   * after queue_timeout_ms, as the CON would after MAX_TRANSMIT_WAIT. */
  if (mm->config.queue_timeout_ms > 0)
    (void)coap__heap_schedule(&mm->heap, &rec->timer.node,
                              saturating_add(now, mm->config.queue_timeout_ms));
  return 0;

fail:
  if (peer != NULL)
    peer_release_if_idle(mm, peer);
  record_put(mm, rec);
  return COAP_ENOMEM;
}

coap__mm_out *coap__mm_out_find_con(coap__mm *mm, const void *owner) {
  uint64_t hash = coap__mm_owner_hash(mm->hash_key, owner);
  for (coap__mm_hnode *node = coap__mm_table_first(&mm->out_by_owner, hash);
       node != NULL; node = coap__mm_table_next(node)) {
    coap__mm_out *rec = coap__container_of(node, coap__mm_out, by_owner);
    if (rec->owner == owner && rec->mtype == COAP_TYPE_CON)
      return rec;
  }
  return NULL;
}

int coap__mm_out_replace(coap__mm *mm, coap__mm_out *rec, size_t len,
                         uint64_t now, int32_t *sent_mid) {
  *sent_mid = -1;
  uint16_t mid = 0;
  uint64_t retry_at;
  if (rec->state == COAP__MM_OUT_FLIGHT &&
      coap__mm_mid_take(mm, &rec->remote, now, &mid, &retry_at) < 0)
    return COAP_EAGAIN;
  /* A MID taken and not used stays barred for the lifetime: harmless. */
  if (coap__mm_buf_reserve(&rec->buf, &rec->cap, len) < 0)
    return COAP_ENOMEM;
  memcpy(rec->buf, mm->scratch, len);
  rec->len = len;
  if (rec->state != COAP__MM_OUT_FLIGHT) {
    /* Not sent yet: it takes its MID when it goes, as any message. */
    rec->fixed_mid = false;
    return 0;
  }
  /* Only the index moves; the timer, rec->retransmits and rec->interval
   * stay, so the next (re)transmission carries the new state. */
  coap__mm_table_remove(&mm->out_table, &rec->by_mid);
  set_mid(rec, mid);
  coap__mm_table_insert(&mm->out_table, &rec->by_mid,
                        coap__mm_hash(&mm->table_key, &rec->remote, mid));
  *sent_mid = mid;
  return 0;
}

coap__mm_out *coap__mm_out_find(coap__mm *mm, const coap_remote *remote,
                                uint16_t mid) {
  uint64_t hash = coap__mm_hash(&mm->table_key, remote, mid);
  for (coap__mm_hnode *node = coap__mm_table_first(&mm->out_table, hash);
       node != NULL; node = coap__mm_table_next(node)) {
    coap__mm_out *rec = coap__container_of(node, coap__mm_out, by_mid);
    if (rec->mid == mid && coap_remote_equal(&rec->remote, remote))
      return rec;
  }
  return NULL;
}

static void queue_unlink(coap__mm_peer *peer, coap__mm_out *rec) {
  if (rec->prev != NULL)
    rec->prev->next = rec->next;
  else
    peer->queue_head[rec->cls] = rec->next;
  if (rec->next != NULL)
    rec->next->prev = rec->prev;
  else
    peer->queue_tail[rec->cls] = rec->prev;
  rec->prev = rec->next = NULL;
}

/* Gives the queued rec a slot of its class. */
static void take_slot(coap__mm_peer *peer, coap__mm_out *rec) {
  queue_unlink(peer, rec);
  peer->active[rec->cls]++;
  rec->has_slot = true;
  rec->state = COAP__MM_OUT_READY;
}

/* Takes rec out of every index; the caller recycles it.  The peer stays,
 * even when idle, until the caller pumps or promotes it. */
static void detach(coap__mm *mm, coap__mm_out *rec) {
  coap__mm_peer *peer = rec->peer;
  coap__heap_remove(&mm->heap, &rec->timer.node);
  if (rec->state == COAP__MM_OUT_QUEUED)
    queue_unlink(peer, rec);
  else if (rec->state == COAP__MM_OUT_MIDWAIT)
    mid_unlink(mm, peer, rec);
  coap__mm_table_remove(&mm->out_table, &rec->by_mid);
  if (rec->has_slot)
    peer->active[rec->cls]--;
  rec->has_slot = false;
  peer->records--;
  if (rec->peer_prev != NULL)
    rec->peer_prev->peer_next = rec->peer_next;
  else
    peer->records_head = rec->peer_next;
  if (rec->peer_next != NULL)
    rec->peer_next->peer_prev = rec->peer_prev;
  else
    peer->records_tail = rec->peer_prev;
  rec->peer_prev = rec->peer_next = NULL;
  coap__mm_table_remove(&mm->out_by_owner, &rec->by_owner);
  if (rec->live_prev != NULL)
    rec->live_prev->live_next = rec->live_next;
  else
    mm->out_live = rec->live_next;
  if (rec->live_next != NULL)
    rec->live_next->live_prev = rec->live_prev;
  rec->live_prev = rec->live_next = NULL;
  mm->out_count--;
  if (rec->amp_probe)
    coap__mm_amp_probe_done(mm, &rec->remote);
  rec->amp_probe = false;
}

void coap__mm_out_finish(coap__mm *mm, coap__mm_out *rec, coap__mm_event event,
                         int err) {
  void *owner = rec->owner;
  detach(mm, rec);
  record_put(mm, rec);
  if (owner != NULL && mm->cb.event != NULL)
    mm->cb.event(mm->user_data, owner, event, err);
}

void coap__mm_out_pump(coap__mm *mm, const coap_remote *remote, uint64_t now) {
  coap__mm_peer *peer;
  coap__mm_out *rec;
  /* transmit() tells the owner, who may change this peer: look it up
   * afresh every round. */
  while ((peer = peer_find(mm, remote)) != NULL &&
         (rec = next_startable(mm, peer)) != NULL) {
    take_slot(peer, rec);
    (void)start(mm, rec, now);
  }
  if (peer != NULL)
    peer_release_if_idle(mm, peer);
}

/* As coap__mm_out_pump without a clock: freed slots go to queued records
 * that the next tick transmits (their deadline is 0, so at once). */
static void promote(coap__mm *mm, const coap_remote *remote) {
  coap__mm_peer *peer = peer_find(mm, remote);
  if (peer == NULL)
    return;
  coap__mm_out *rec;
  while ((rec = next_startable(mm, peer)) != NULL) {
    take_slot(peer, rec);
    (void)coap__heap_schedule(&mm->heap, &rec->timer.node, 0);
  }
  peer_release_if_idle(mm, peer);
}

void coap__mm_out_timer(coap__mm *mm, coap__mm_out *rec, uint64_t now) {
  coap_remote remote;
  switch (rec->state) {
  case COAP__MM_OUT_READY:
    (void)start(mm, rec, now);
    return;
  case COAP__MM_OUT_QUEUED:
    if (mm->config.queue_timeout_ms == 0) {
      /* Only reached when the clock itself says UINT64_MAX: keep waiting. */
      (void)coap__heap_schedule(&mm->heap, &rec->timer.node, UINT64_MAX);
      return;
    }
    /* Waited queue_timeout_ms for NSTART: a CON that never went out fails
     * as one that went out and was never acknowledged would. */
    mm->stats.queue_expired++;
    remote = rec->remote;
    coap__mm_out_finish(mm, rec, COAP__MM_TIMEOUT, COAP_ETIMEDOUT);
    coap__mm_out_pump(mm, &remote, now);
    return;
  case COAP__MM_OUT_MIDWAIT:
    remote = rec->remote;
    mid_pump(mm, &remote, now);
    return;
  case COAP__MM_OUT_NON_WAIT:
    /* No response within NON_LIFETIME: the request no longer counts as
     * outstanding (the owner has its own timeout and is not told). */
    remote = rec->remote;
    detach(mm, rec);
    record_put(mm, rec);
    coap__mm_out_pump(mm, &remote, now);
    return;
  default:
    break;
  }
  if (rec->retransmits < mm->config.transmission.max_retransmit) {
    /* RFC 7252 §4.2: the timeout doubles with every retransmission. */
    rec->retransmits++;
    if (rec->interval <= UINT64_MAX / 2)
      rec->interval *= 2;
    (void)coap__heap_schedule(&mm->heap, &rec->timer.node,
                              saturating_add(now, rec->interval));
    /* RFC 7252 §11.3: a response retransmitted to a peer that has not
     * shown it receives them is amplification; beyond the budget it is
     * skipped as if lost (the exchange times out as for a lost one). */
    if (rec->cls != COAP__MM_CLASS_RESPONSE ||
        coap__mm_amp_allow(mm, &rec->remote, rec->len, true)) {
      mm->stats.retransmissions++;
      coap__mm_emit(mm, &rec->remote, rec->buf, rec->len);
    }
    if (rec->owner != NULL && mm->cb.event != NULL)
      mm->cb.event(mm->user_data, rec->owner, COAP__MM_RETRANSMITTED, 0);
    return;
  }
  /* RFC 7252 §4.2: after MAX_RETRANSMIT retransmissions and one more
   * (doubled) timeout, the attempt is given up. */
  remote = rec->remote;
  coap__mm_out_finish(mm, rec, COAP__MM_TIMEOUT, COAP_ETIMEDOUT);
  coap__mm_out_pump(mm, &remote, now);
}

void coap__mm_cancel(coap__mm *mm, void *owner) {
  if (owner == NULL)
    return;
  coap__mm_non_cancel(mm, owner);
  /* Only the owner's chain is walked: the request layer cancels every
   * request that ends, so this must not cost O(records). */
  coap__mm_out *cancelled = NULL;
  uint64_t hash = coap__mm_owner_hash(mm->hash_key, owner);
  coap__mm_hnode *node = coap__mm_table_first(&mm->out_by_owner, hash);
  while (node != NULL) {
    coap__mm_hnode *next = coap__mm_table_next(node);
    coap__mm_out *rec = coap__container_of(node, coap__mm_out, by_owner);
    if (rec->owner == owner) {
      detach(mm, rec);
      rec->next = cancelled;
      cancelled = rec;
    }
    node = next;
  }
  while (cancelled != NULL) {
    coap__mm_out *rec = cancelled;
    cancelled = rec->next;
    promote(mm, &rec->remote);
    record_put(mm, rec);
  }
}

size_t coap__mm_kill(coap__mm *mm, const coap_remote *remote, int err) {
  coap__mm_peer *peer = peer_find(mm, remote);
  /* The peer's records run oldest first, so the owners hear of their
   * failures in that order; only this peer's records are touched. */
  coap__mm_out *killed = NULL, *last = NULL;
  size_t n = 0;
  while (peer != NULL && peer->records_head != NULL) {
    coap__mm_out *rec = peer->records_head;
    detach(mm, rec);
    rec->next = NULL;
    if (last != NULL)
      last->next = rec;
    else
      killed = rec;
    last = rec;
    n++;
  }
  promote(mm, remote);
  coap__mm_non_kill(mm, remote);
  /* Everything is consistent before the first owner hears of it; owners
   * may send again from the callback. */
  while (killed != NULL) {
    coap__mm_out *rec = killed;
    killed = rec->next;
    void *owner = rec->owner;
    record_put(mm, rec);
    if (owner != NULL && mm->cb.event != NULL)
      mm->cb.event(mm->user_data, owner, COAP__MM_FAILED, err);
  }
  return n;
}
