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

/* Cells of the index at first; it doubles to stay at most half full. */
#define DEDUP_INITIAL_CELLS 128u
#define DEDUP_INITIAL_SLOTS 16u

/* splitmix64's finaliser (every input bit reaches every output bit). */
static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9u;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

int coap__mm_dedup_init(coap__mm *mm) {
  /* The table's own key, from the layer's seed (so a run replays from its
   * seed) without drawing from the layer's random sequence. */
  uint64_t k[2] = {mix(mm->hash_key ^ 0x6465647570206b30u),
                   mix(mm->hash_key ^ 0x6465647570206b31u)};
  memcpy(mm->dedup_key.bytes, k, sizeof mm->dedup_key.bytes);
  memset(mm->dedup_probe, 0, sizeof mm->dedup_probe);
  mm->dedup_probe_hash =
      coap__siphash(&mm->dedup_key, mm->dedup_probe, sizeof mm->dedup_probe);
  mm->dedup_index = coap__calloc(DEDUP_INITIAL_CELLS, sizeof(uint64_t));
  if (mm->dedup_index == NULL)
    return COAP_ENOMEM;
  mm->dedup_index_mask = DEDUP_INITIAL_CELLS - 1;
  mm->dedup_index_count = 0;
  return 0;
}

static uint64_t cell_of(uint64_t hash, uint32_t slot) {
  return (hash & 0xffffffffu) << 32 | ((uint64_t)slot + 1);
}

static uint32_t cell_home(uint64_t cell, uint32_t mask) {
  return (uint32_t)(cell >> 32) & mask;
}

static void index_place(uint64_t *cells, uint32_t mask, uint64_t cell) {
  uint32_t i = cell_home(cell, mask);
  while (cells[i] != 0)
    i = (i + 1) & mask;
  cells[i] = cell;
}

/* Room for one more cell: doubles the index past half full.  The cells
 * carry their home, so moving them reads no entry.  When growing fails the
 * index fills further, and refuses only when one free cell is left (a
 * probe must always meet an empty cell). */
static bool index_reserve(coap__mm *mm) {
  uint32_t size = mm->dedup_index_mask + 1;
  if ((mm->dedup_index_count + 1) * 2u <= size)
    return true;
  if (size <= (1u << 30)) {
    uint32_t mask = size * 2 - 1;
    uint64_t *cells = coap__calloc((size_t)size * 2, sizeof *cells);
    if (cells != NULL) {
      for (uint32_t i = 0; i < size; i++)
        if (mm->dedup_index[i] != 0)
          index_place(cells, mask, mm->dedup_index[i]);
      coap__free(mm->dedup_index);
      mm->dedup_index = cells;
      mm->dedup_index_mask = mask;
      return true;
    }
  }
  return mm->dedup_index_count + 2 <= size;
}

/* Linear probing's deletion by backward shift (Knuth, TAOCP 6.4,
 * Algorithm R): later cells of the run move up unless they would then sit
 * before their home, so no tombstones accumulate. */
static void index_remove(coap__mm *mm, const coap__mm_dedup *entry) {
  uint64_t *cells = mm->dedup_index;
  const uint32_t mask = mm->dedup_index_mask;
  const uint64_t cell = cell_of(entry->hash, entry->slot);
  uint32_t i = cell_home(cell, mask);
  while (cells[i] != cell) {
    if (cells[i] == 0)
      return;
    i = (i + 1) & mask;
  }
  for (uint32_t j = (i + 1) & mask; cells[j] != 0; j = (j + 1) & mask) {
    uint32_t home = cell_home(cells[j], mask);
    /* Stays when its home lies cyclically in (i, j]. */
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (!stays) {
      cells[i] = cells[j];
      i = j;
    }
  }
  cells[i] = 0;
  mm->dedup_index_count--;
}

/* RFC 7252 §4.5 matches on (remote, MID), and a peer picks both: SipHash
 * under the table's secret key, so that it cannot aim at one bucket. */
static uint64_t dedup_hash(coap__mm *mm, const coap_remote *remote,
                           uint16_t mid) {
  const struct sockaddr_in6 *a = &remote->addr;
  uint8_t in[COAP__MM_DEDUP_INPUT];
  memcpy(in, &a->sin6_addr, 16);
  memcpy(in + 16, &a->sin6_port, 2);
  memcpy(in + 18, &a->sin6_scope_id, 4);
  memcpy(in + 22, &mid, 2);
  if (memcmp(in, mm->dedup_probe, sizeof in) != 0) {
    memcpy(mm->dedup_probe, in, sizeof in);
    mm->dedup_probe_hash = coap__siphash(&mm->dedup_key, in, sizeof in);
  }
  return mm->dedup_probe_hash;
}

void coap__mm_dedup_free(coap__mm *mm) {
  for (uint32_t i = 0; i < mm->dedup_allocated; i++) {
    coap__free(mm->dedup_slots[i]->reply);
    coap__free(mm->dedup_slots[i]);
  }
  coap__free(mm->dedup_slots);
  mm->dedup_slots = NULL;
  mm->dedup_allocated = 0;
  coap__free(mm->dedup_index);
  mm->dedup_index = NULL;
  mm->dedup_index_mask = mm->dedup_index_count = 0;
}

static bool is_con(uint8_t kind) {
  return kind == COAP__MM_DEDUP_CON_REQUEST ||
         kind == COAP__MM_DEDUP_CON_RESPONSE;
}

coap__mm_dedup *coap__mm_dedup_find(coap__mm *mm, const coap_remote *remote,
                                    uint16_t mid) {
  const uint64_t hash = dedup_hash(mm, remote, mid);
  const uint64_t tag = hash & 0xffffffffu;
  const uint32_t mask = mm->dedup_index_mask;
  for (uint32_t i = (uint32_t)hash & mask;; i = (i + 1) & mask) {
    uint64_t cell = mm->dedup_index[i];
    if (cell == 0)
      return NULL;
    if (cell >> 32 != tag)
      continue;
    coap__mm_dedup *entry = mm->dedup_slots[(uint32_t)cell - 1];
    if (entry->hash == hash && entry->mid == mid &&
        coap_remote_equal(&entry->remote, remote))
      return entry;
  }
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
  index_remove(mm, entry);
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

/* The older head of two FIFOs, or NULL when both are empty. */
static coap__mm_fifo *older(coap__mm_fifo *a, coap__mm_fifo *b) {
  if (a->head == NULL)
    return b->head != NULL ? b : NULL;
  if (b->head == NULL)
    return a;
  return b->head->arrived < a->head->arrived ? b : a;
}

/* The cache is full: the oldest entry goes before its time.  RFC 7252
 * §4.5 matters most for requests that must not run twice (POST, PATCH):
 * their entries go only when no other is left (issue 9: at 43k requests/s
 * a retransmitted POST came back after its entry had been evicted).  Each
 * such eviction is counted, so an operator sees when the guarantee no
 * longer holds and can give dedup_entries more room. */
static void evict_oldest(coap__mm *mm) {
  coap__mm_fifo *f = mm->dedup_fifo;
  coap__mm_fifo *fifo = older(&f[0], &f[1]);
  if (fifo == NULL)
    fifo = older(&f[2], &f[3]);
  if (fifo == NULL)
    return;
  entry_release(mm, fifo_pop(fifo));
  mm->stats.dedup_evictions++;
}

coap__mm_dedup *coap__mm_dedup_add(coap__mm *mm, const coap_remote *remote,
                                   uint16_t mid, uint8_t kind, bool keep,
                                   uint64_t now) {
  if (mm->dedup_in_use >= mm->config.dedup_entries)
    evict_oldest(mm);
  if (!index_reserve(mm))
    return NULL;
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
  entry->hash = dedup_hash(mm, remote, mid);
  index_place(mm->dedup_index, mm->dedup_index_mask,
              cell_of(entry->hash, entry->slot));
  mm->dedup_index_count++;
  coap__mm_fifo *fifo =
      &mm->dedup_fifo[(is_con(kind) ? 0 : 1) + (keep ? 2 : 0)];
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
  for (int i = 0; i < 4; i++) {
    coap__mm_fifo *fifo = &mm->dedup_fifo[i];
    while (fifo->head != NULL && fifo->head->expires <= now)
      entry_release(mm, fifo_pop(fifo));
  }
}

uint64_t coap__mm_dedup_next_expiry(const coap__mm *mm) {
  uint64_t next = UINT64_MAX;
  for (int i = 0; i < 4; i++) {
    const coap__mm_dedup *head = mm->dedup_fifo[i].head;
    if (head != NULL && head->expires < next)
      next = head->expires;
  }
  return next;
}
