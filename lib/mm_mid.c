/*
 * Message IDs (RFC 7252 §4.4): "The same Message ID MUST NOT be reused (in
 * the communication with the same endpoint) within the EXCHANGE_LIFETIME."
 * A peer deduplicates by (our endpoint, MID) for that long, so a MID used
 * again too early is taken for a duplicate and answered from its cache, or
 * dropped.
 *
 * Each peer has a tracker, as Californium's GroupedMessageIdTracker: a
 * counter taken in sequence (randomly started, §4.4) and, for each of 16
 * groups of 4,096 MIDs, the time from which the group may be used again.
 * A group is entered only once that time has passed, so no MID recurs
 * within the lifetime; the price is being conservative by at most one
 * group.  When the next group is not free yet the peer's MID space is used
 * up and its messages wait (mm->stats.mid_waits); nothing is ever reused.
 *
 * The lifetime is EXCHANGE_LIFETIME for NON messages too.  RFC 7252 §4.8.2
 * would allow NON_LIFETIME (145 s instead of 247 s with the defaults), but
 * a peer cannot be relied on to deduplicate NONs for less: Californium, for
 * one, keeps every MID for EXCHANGE_LIFETIME, and would drop a NON whose
 * MID came back after 145 s as a duplicate.  The cost is a lower peak rate
 * to one peer (65,536 per EXCHANGE_LIFETIME, about 265/s), far beyond what
 * a constrained peer takes.
 *
 * Memory stays bounded: at most config.mid_peers trackers exist (made on
 * demand, recycled through a free list, so steady state allocates
 * nothing), kept in least-recently-used order and forgotten once idle past
 * the lifetime.  Peers beyond the bound share one tracker, which is still
 * safe (a MID not reused across them all is not reused with any); a
 * tracker made for a peer while the shared one is live starts as a copy of
 * it, so MIDs that peer got from the shared one stay barred.  With
 * config.mid_tracking off there is one bare counter for all peers, as
 * Californium's null tracker (and this library before).
 *
 * The tracker is also where a peer's anti-amplification state lives (RFC
 * 7252 §11.3, after RFC 9000 §8.1): bytes received from it, bytes sent to
 * it beyond first responses, and whether it is validated.  With
 * config.amplification_factor set, every datagram received makes or
 * refreshes its peer's tracker (idle for EXCHANGE_LIFETIME from then), so
 * the state is bounded as the trackers are; a peer with no tracker of its
 * own (beyond config.mid_peers, or out of memory) has no budget and is
 * never validated: it gets its first responses only.  One CON beyond the
 * budget may be outstanding to a peer at a time (its probe, see
 * coap__mm_amp_probe), so that a peer can be validated by acknowledging
 * it; its retransmissions are within the budget like any.
 */
#include "messagemanager-internal.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <string.h>

#define MID_INITIAL_BUCKETS 16u
#define GROUP_SHIFT 12 /* 65,536 MIDs in COAP__MM_MID_GROUPS groups */

int coap__mm_mid_init(coap__mm *mm) {
  mm->mid_shared.next = mm->next_mid;
  return coap__mm_table_init(&mm->mid_table, MID_INITIAL_BUCKETS);
}

void coap__mm_mid_free(coap__mm *mm) {
  while (mm->mid_lru != NULL) {
    coap__mm_mids *t = mm->mid_lru;
    mm->mid_lru = t->newer;
    coap__free(t);
  }
  while (mm->mid_free != NULL) {
    coap__mm_mids *t = mm->mid_free;
    mm->mid_free = t->newer;
    coap__free(t);
  }
  coap__mm_table_free(&mm->mid_table);
}

static void lru_unlink(coap__mm *mm, coap__mm_mids *t) {
  if (t->older != NULL)
    t->older->newer = t->newer;
  else
    mm->mid_lru = t->newer;
  if (t->newer != NULL)
    t->newer->older = t->older;
  else
    mm->mid_mru = t->older;
  t->older = t->newer = NULL;
}

static void lru_append(coap__mm *mm, coap__mm_mids *t) {
  t->newer = NULL;
  t->older = mm->mid_mru;
  if (mm->mid_mru != NULL)
    mm->mid_mru->newer = t;
  else
    mm->mid_lru = t;
  mm->mid_mru = t;
}

void coap__mm_mid_expire(coap__mm *mm, uint64_t now) {
  /* Least recently used first is also earliest idle first: every take
   * moves its tracker to the end with the latest idle time. */
  while (mm->mid_lru != NULL && mm->mid_lru->idle_at <= now) {
    coap__mm_mids *t = mm->mid_lru;
    lru_unlink(mm, t);
    coap__mm_table_remove(&mm->mid_table, &t->by_remote);
    t->newer = mm->mid_free;
    mm->mid_free = t;
    mm->mid_count--;
  }
}

static coap__mm_mids *find(coap__mm *mm, const coap_remote *remote,
                           uint64_t hash) {
  for (coap__mm_hnode *node = coap__mm_table_first(&mm->mid_table, hash);
       node != NULL; node = coap__mm_table_next(node)) {
    coap__mm_mids *t = coap__container_of(node, coap__mm_mids, by_remote);
    if (coap_remote_equal(&t->remote, remote))
      return t;
  }
  return NULL;
}

/* The tracker for remote: its own, a new one, or the shared one when the
 * bound is reached or memory is short. */
static coap__mm_mids *tracker(coap__mm *mm, const coap_remote *remote,
                              uint64_t now) {
  coap__mm_mid_expire(mm, now);
  uint64_t hash = coap__mm_hash(&mm->table_key, remote, 0);
  coap__mm_mids *t = find(mm, remote, hash);
  if (t != NULL)
    return t;
  if (mm->mid_count >= mm->config.mid_peers)
    return &mm->mid_shared;
  t = mm->mid_free;
  if (t != NULL)
    mm->mid_free = t->newer;
  else if ((t = coap__malloc(sizeof *t)) == NULL)
    return &mm->mid_shared;
  memset(t, 0, sizeof *t);
  t->remote = *remote;
  if (mm->mid_shared.idle_at > now) {
    /* The peer may have had MIDs from the shared tracker: bar them. */
    memcpy(t->free_at, mm->mid_shared.free_at, sizeof t->free_at);
    t->idle_at = mm->mid_shared.idle_at;
    t->next = mm->mid_shared.next;
  } else {
    /* RFC 7252 §4.4: the first MID should be randomized. */
    t->next = (uint16_t)coap__mm_random(mm, 0xffff);
  }
  coap__mm_table_insert(&mm->mid_table, &t->by_remote, hash);
  lru_append(mm, t);
  mm->mid_count++;
  return t;
}

/* The peer's own tracker, made on demand; NULL when it would be the
 * shared one. */
static coap__mm_mids *own_tracker(coap__mm *mm, const coap_remote *remote,
                                  uint64_t now) {
  coap__mm_mids *t = tracker(mm, remote, now);
  return t == &mm->mid_shared ? NULL : t;
}

static void touch(coap__mm *mm, coap__mm_mids *t, uint64_t now) {
  const uint64_t lifetime = mm->exchange_lifetime;
  const uint64_t until =
      now > UINT64_MAX - lifetime ? UINT64_MAX : now + lifetime;
  if (t->idle_at < until)
    t->idle_at = until;
  lru_unlink(mm, t);
  lru_append(mm, t);
}

void coap__mm_amp_received(coap__mm *mm, const coap_remote *remote, size_t len,
                           uint64_t now) {
  if (mm->config.amplification_factor == 0)
    return;
  coap__mm_mids *t = own_tracker(mm, remote, now);
  if (t == NULL)
    return;
  t->amp_received += len;
  touch(mm, t, now);
}

bool coap__mm_amp_allow(coap__mm *mm, const coap_remote *remote, size_t len,
                        bool consume) {
  const uint64_t factor = mm->config.amplification_factor;
  if (factor == 0)
    return true;
  coap__mm_mids *t = find(mm, remote, coap__mm_hash(&mm->table_key, remote, 0));
  if (t != NULL && t->validated)
    return true;
  /* RFC 9000 §8.1: at most factor times what was received. */
  const uint64_t budget = t != NULL ? t->amp_received * factor : 0;
  const uint64_t spent = t != NULL ? t->amp_sent : 0;
  if (spent > budget || len > budget - spent) {
    if (consume)
      mm->stats.amplification_limited++;
    return false;
  }
  if (consume)
    t->amp_sent += len;
  return true;
}

bool coap__mm_amp_probe(coap__mm *mm, const coap_remote *remote) {
  coap__mm_mids *t = find(mm, remote, coap__mm_hash(&mm->table_key, remote, 0));
  if (t == NULL || t->validated || t->probing)
    return false;
  t->probing = true;
  return true;
}

void coap__mm_amp_probe_done(coap__mm *mm, const coap_remote *remote) {
  coap__mm_mids *t = find(mm, remote, coap__mm_hash(&mm->table_key, remote, 0));
  if (t != NULL)
    t->probing = false;
}

void coap__mm_peer_validate(coap__mm *mm, const coap_remote *remote,
                            uint64_t now) {
  if (mm == NULL || remote == NULL || mm->config.amplification_factor == 0)
    return;
  coap__mm_mids *t = own_tracker(mm, remote, now);
  if (t == NULL)
    return;
  touch(mm, t, now);
  if (t->validated)
    return;
  t->validated = true;
  if (mm->cb.validated != NULL)
    mm->cb.validated(mm->user_data, remote);
}

bool coap__mm_peer_validated(coap__mm *mm, const coap_remote *remote) {
  if (mm->config.amplification_factor == 0)
    return true;
  coap__mm_mids *t = find(mm, remote, coap__mm_hash(&mm->table_key, remote, 0));
  return t != NULL && t->validated;
}

int coap__mm_mid_take(coap__mm *mm, const coap_remote *remote, uint64_t now,
                      uint16_t *mid, uint64_t *retry_at) {
  if (!mm->config.mid_tracking) {
    *mid = mm->next_mid++;
    return 0;
  }
  coap__mm_mids *t = tracker(mm, remote, now);
  const uint16_t m = t->next;
  const unsigned group = m >> GROUP_SHIFT;
  const bool entering = (m & ((1u << GROUP_SHIFT) - 1)) == 0;
  if (entering && t->free_at[group] > now) {
    *retry_at = t->free_at[group];
    return COAP_EAGAIN;
  }
  const uint64_t lifetime = mm->exchange_lifetime;
  const uint64_t until =
      now > UINT64_MAX - lifetime ? UINT64_MAX : now + lifetime;
  if (t->free_at[group] < until)
    t->free_at[group] = until;
  if (t->idle_at < until)
    t->idle_at = until;
  t->next = (uint16_t)(m + 1);
  if (t != &mm->mid_shared) {
    lru_unlink(mm, t);
    lru_append(mm, t);
  }
  *mid = m;
  return 0;
}
