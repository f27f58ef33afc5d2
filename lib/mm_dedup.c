/*
 * The deduplication cache (RFC 7252 §4.5): every incoming CON and NON
 * request or response is remembered by (remote, MID) with the ACK or RST
 * that answered it, for EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON).
 *
 * Entries live in slots (a slot number and a generation make the
 * coap__mm_incoming handle) and are recycled with their reply buffers.
 * Expiry needs no heap: entries of one lifetime expire in arrival order, so
 * one FIFO per lifetime is sorted by expiry already.
 */
#include "messagemanager-internal.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <string.h>

#define DEDUP_INITIAL_BUCKETS 64u
#define DEDUP_INITIAL_SLOTS 16u

int coap__mm_dedup_init(coap__mm *mm) {
  return coap__mm_table_init(&mm->dedup_table, DEDUP_INITIAL_BUCKETS);
}

void coap__mm_dedup_free(coap__mm *mm) {
  for (uint32_t i = 0; i < mm->dedup_allocated; i++) {
    coap__free(mm->dedup_slots[i]->reply);
    coap__free(mm->dedup_slots[i]);
  }
  coap__free(mm->dedup_slots);
  mm->dedup_slots = NULL;
  mm->dedup_allocated = 0;
  coap__mm_table_free(&mm->dedup_table);
}

static bool is_con(uint8_t kind) {
  return kind == COAP__MM_DEDUP_CON_REQUEST ||
         kind == COAP__MM_DEDUP_CON_RESPONSE;
}

coap__mm_dedup *coap__mm_dedup_find(coap__mm *mm, const coap_remote *remote,
                                    uint16_t mid) {
  uint64_t hash = coap__mm_hash(mm->hash_key, remote, mid);
  for (coap__mm_hnode *node = coap__mm_table_first(&mm->dedup_table, hash);
       node != NULL; node = coap__mm_table_next(node)) {
    coap__mm_dedup *entry = coap__container_of(node, coap__mm_dedup, by_mid);
    if (entry->mid == mid && coap_remote_equal(&entry->remote, remote))
      return entry;
  }
  return NULL;
}

/* An unused entry: recycled, or new while fewer than dedup_entries exist. */
static coap__mm_dedup *entry_get(coap__mm *mm) {
  coap__mm_dedup *entry = mm->dedup_free;
  if (entry != NULL) {
    mm->dedup_free = entry->next;
    return entry;
  }
  if (mm->dedup_allocated >= mm->config.dedup_entries)
    return NULL;
  if (mm->dedup_allocated == mm->dedup_slots_cap) {
    uint32_t cap =
        mm->dedup_slots_cap ? mm->dedup_slots_cap * 2 : DEDUP_INITIAL_SLOTS;
    if (cap > mm->config.dedup_entries)
      cap = mm->config.dedup_entries;
    coap__mm_dedup **slots =
        coap__realloc(mm->dedup_slots, (size_t)cap * sizeof *slots);
    if (slots == NULL)
      return NULL;
    mm->dedup_slots = slots;
    mm->dedup_slots_cap = cap;
  }
  entry = coap__calloc(1, sizeof *entry);
  if (entry == NULL)
    return NULL;
  coap__heap_node_init(&entry->ack_timer.node);
  entry->ack_timer.kind = COAP__MM_TIMER_ACK;
  entry->slot = mm->dedup_allocated;
  mm->dedup_slots[mm->dedup_allocated++] = entry;
  return entry;
}

/* Forgets entry, which the caller has taken off its FIFO.  The generation
 * moves on so that handles naming it go stale. */
static void entry_release(coap__mm *mm, coap__mm_dedup *entry) {
  if (coap__heap_node_active(&entry->ack_timer.node)) {
    /* Still unanswered: acknowledge it now, or the peer would retransmit
     * and, no longer recognised, be processed twice. */
    coap__mm_dedup_send_empty_ack(mm, entry);
  }
  coap__mm_peer_settle(mm, entry);
  coap__mm_table_remove(&mm->dedup_table, &entry->by_mid);
  entry->in_use = false;
  entry->gen++;
  entry->next = mm->dedup_free;
  mm->dedup_free = entry;
  mm->dedup_in_use--;
}

static coap__mm_dedup *fifo_pop(coap__mm_fifo *fifo) {
  coap__mm_dedup *entry = fifo->head;
  fifo->head = entry->next;
  if (fifo->head == NULL)
    fifo->tail = NULL;
  entry->next = NULL;
  return entry;
}

static void evict_oldest(coap__mm *mm) {
  coap__mm_fifo *con = &mm->dedup_fifo[0], *non = &mm->dedup_fifo[1];
  coap__mm_fifo *fifo;
  if (con->head == NULL)
    fifo = non;
  else if (non->head == NULL)
    fifo = con;
  else
    fifo = non->head->arrived < con->head->arrived ? non : con;
  if (fifo->head != NULL)
    entry_release(mm, fifo_pop(fifo));
}

coap__mm_dedup *coap__mm_dedup_add(coap__mm *mm, const coap_remote *remote,
                                   uint16_t mid, uint8_t kind, uint64_t now) {
  if (mm->dedup_in_use >= mm->config.dedup_entries)
    evict_oldest(mm);
  coap__mm_dedup *entry = entry_get(mm);
  if (entry == NULL)
    return NULL;
  uint64_t lifetime = is_con(kind) ? mm->exchange_lifetime : mm->non_lifetime;
  entry->remote = *remote;
  entry->mid = mid;
  entry->kind = kind;
  entry->arrived = now;
  entry->expires = now > UINT64_MAX - lifetime ? UINT64_MAX : now + lifetime;
  entry->reply_len = 0;
  entry->in_use = true;
  entry->acked = false;
  entry->answered = false;
  entry->owed = false;
  entry->next = NULL;
  coap__mm_table_insert(&mm->dedup_table, &entry->by_mid,
                        coap__mm_hash(mm->hash_key, remote, mid));
  coap__mm_fifo *fifo = &mm->dedup_fifo[is_con(kind) ? 0 : 1];
  if (fifo->tail != NULL)
    fifo->tail->next = entry;
  else
    fifo->head = entry;
  fifo->tail = entry;
  mm->dedup_in_use++;
  return entry;
}

coap__mm_dedup *coap__mm_dedup_get(coap__mm *mm, coap__mm_incoming in) {
  if (in.slot >= mm->dedup_allocated)
    return NULL;
  coap__mm_dedup *entry = mm->dedup_slots[in.slot];
  if (!entry->in_use || entry->gen != in.gen ||
      (entry->kind != COAP__MM_DEDUP_CON_REQUEST &&
       entry->kind != COAP__MM_DEDUP_NON_REQUEST))
    return NULL;
  return entry;
}

int coap__mm_dedup_set_reply(coap__mm_dedup *entry, const uint8_t *reply,
                             size_t len) {
  int r = coap__mm_buf_reserve(&entry->reply, &entry->reply_cap, len);
  if (r < 0) {
    entry->reply_len = 0;
    return r;
  }
  memcpy(entry->reply, reply, len);
  entry->reply_len = len;
  return 0;
}

void coap__mm_dedup_send_empty_ack(coap__mm *mm, coap__mm_dedup *entry) {
  coap__heap_remove(&mm->heap, &entry->ack_timer.node);
  if (entry->acked || entry->answered)
    return;
  /* RFC 7252 §5.2.2: no answer within the delay, so acknowledge now and
   * send the response separately later.  A duplicate gets this ACK again
   * (RFC 7252 §4.5); without room to remember it, it gets nothing and is
   * retransmitted until the response comes. */
  uint8_t ack[4];
  coap__mm_emit_empty(mm, &entry->remote, COAP_TYPE_ACK, entry->mid, ack);
  mm->stats.empty_acks++;
  entry->acked = true;
  (void)coap__mm_dedup_set_reply(entry, ack, sizeof ack);
}

void coap__mm_dedup_expire(coap__mm *mm, uint64_t now) {
  for (int i = 0; i < 2; i++) {
    coap__mm_fifo *fifo = &mm->dedup_fifo[i];
    while (fifo->head != NULL && fifo->head->expires <= now)
      entry_release(mm, fifo_pop(fifo));
  }
}

uint64_t coap__mm_dedup_next_expiry(const coap__mm *mm) {
  uint64_t next = UINT64_MAX;
  for (int i = 0; i < 2; i++) {
    const coap__mm_dedup *head = mm->dedup_fifo[i].head;
    if (head != NULL && head->expires < next)
      next = head->expires;
  }
  return next;
}
