/*
 * NON messages sent with an owner, remembered so that an RST naming one
 * reaches that owner.  RFC 7252 §4.3 lets a recipient reject a NON with an
 * RST, and RFC 7641 §3.6 makes that the way a client that lost interest
 * stops a server's non-confirmable notifications; without a record the RST
 * would match nothing and the server would keep notifying.
 *
 * A record lives for NON_LIFETIME (after that the MID may be reused, RFC
 * 7252 §4.4) and at most config.non_records of them exist: the oldest goes
 * first when the bound is reached, which only means a very late RST is not
 * matched.  Records are kept in send order, which is also expiry order, so
 * expiry needs no heap and no timer: it happens when records are added or
 * looked up.  They are indexed by (remote, MID) for the RST, by owner for
 * coap__mm_cancel and by remote for coap__mm_kill, and recycled through a
 * free list.
 */
#include "messagemanager-internal.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#define NON_INITIAL_BUCKETS 16u

static uint64_t owner_hash(const coap__mm *mm, const void *owner) {
  return coap__mm_owner_hash(mm->hash_key, owner);
}

void coap__mm_non_free(coap__mm *mm) {
  while (mm->non_oldest != NULL) {
    coap__mm_non *rec = mm->non_oldest;
    mm->non_oldest = rec->next;
    coap__free(rec);
  }
  while (mm->non_free != NULL) {
    coap__mm_non *rec = mm->non_free;
    mm->non_free = rec->next;
    coap__free(rec);
  }
  mm->non_newest = NULL;
  mm->non_count = 0;
  coap__mm_table_free(&mm->non_by_mid);
  coap__mm_table_free(&mm->non_by_owner);
  coap__mm_table_free(&mm->non_by_remote);
}

/* Takes rec out of the indexes and the send order, onto the free list. */
static void release(coap__mm *mm, coap__mm_non *rec) {
  coap__mm_table_remove(&mm->non_by_mid, &rec->by_mid);
  coap__mm_table_remove(&mm->non_by_owner, &rec->by_owner);
  coap__mm_table_remove(&mm->non_by_remote, &rec->by_remote);
  if (rec->prev != NULL)
    rec->prev->next = rec->next;
  else
    mm->non_oldest = rec->next;
  if (rec->next != NULL)
    rec->next->prev = rec->prev;
  else
    mm->non_newest = rec->prev;
  rec->owner = NULL;
  rec->prev = NULL;
  rec->next = mm->non_free;
  mm->non_free = rec;
  mm->non_count--;
}

void coap__mm_non_expire(coap__mm *mm, uint64_t now) {
  while (mm->non_oldest != NULL && mm->non_oldest->expires <= now)
    release(mm, mm->non_oldest);
}

/* The tables are made on first use: a context that never sends a NON with
 * an owner pays nothing for them. */
static bool tables_ready(coap__mm *mm) {
  if (mm->non_by_mid.buckets == NULL &&
      coap__mm_table_init(&mm->non_by_mid, NON_INITIAL_BUCKETS) < 0)
    return false;
  if (mm->non_by_owner.buckets == NULL &&
      coap__mm_table_init(&mm->non_by_owner, NON_INITIAL_BUCKETS) < 0)
    return false;
  if (mm->non_by_remote.buckets == NULL &&
      coap__mm_table_init(&mm->non_by_remote, NON_INITIAL_BUCKETS) < 0)
    return false;
  return true;
}

void coap__mm_non_add(coap__mm *mm, const coap_remote *remote, uint16_t mid,
                      void *owner, uint64_t now) {
  if (mm->config.non_records == 0 || owner == NULL)
    return;
  coap__mm_non_expire(mm, now);
  if (!tables_ready(mm))
    return; /* out of memory: an RST to this NON will go unmatched */
  if (mm->non_count >= mm->config.non_records)
    release(mm, mm->non_oldest);
  coap__mm_non *rec = mm->non_free;
  if (rec != NULL)
    mm->non_free = rec->next;
  else if ((rec = coap__calloc(1, sizeof *rec)) == NULL)
    return;
  rec->remote = *remote;
  rec->mid = mid;
  rec->owner = owner;
  rec->expires =
      now > UINT64_MAX - mm->non_lifetime ? UINT64_MAX : now + mm->non_lifetime;
  rec->next = NULL;
  rec->prev = mm->non_newest;
  if (mm->non_newest != NULL)
    mm->non_newest->next = rec;
  else
    mm->non_oldest = rec;
  mm->non_newest = rec;
  mm->non_count++;
  coap__mm_table_insert(&mm->non_by_mid, &rec->by_mid,
                        coap__mm_hash(&mm->table_key, remote, mid));
  coap__mm_table_insert(&mm->non_by_owner, &rec->by_owner,
                        owner_hash(mm, owner));
  coap__mm_table_insert(&mm->non_by_remote, &rec->by_remote,
                        coap__mm_hash(&mm->table_key, remote, 0));
}

void *coap__mm_non_match_rst(coap__mm *mm, const coap_remote *remote,
                             uint16_t mid, uint64_t now) {
  if (mm->non_count == 0)
    return NULL;
  coap__mm_non_expire(mm, now);
  uint64_t hash = coap__mm_hash(&mm->table_key, remote, mid);
  for (coap__mm_hnode *node = coap__mm_table_first(&mm->non_by_mid, hash);
       node != NULL; node = coap__mm_table_next(node)) {
    coap__mm_non *rec = coap__container_of(node, coap__mm_non, by_mid);
    if (rec->mid != mid || !coap_remote_equal(&rec->remote, remote))
      continue;
    void *owner = rec->owner;
    release(mm, rec);
    return owner;
  }
  return NULL;
}

void coap__mm_non_cancel(coap__mm *mm, const void *owner) {
  if (mm->non_count == 0)
    return;
  uint64_t hash = owner_hash(mm, owner);
  coap__mm_hnode *node = coap__mm_table_first(&mm->non_by_owner, hash);
  while (node != NULL) {
    coap__mm_hnode *next = coap__mm_table_next(node);
    coap__mm_non *rec = coap__container_of(node, coap__mm_non, by_owner);
    if (rec->owner == owner)
      release(mm, rec);
    node = next;
  }
}

void coap__mm_non_kill(coap__mm *mm, const coap_remote *remote) {
  if (mm->non_count == 0)
    return;
  /* Only remote's records (and any sharing their hash) are walked, so an
   * ICMP error costs O(records to that peer), not O(all records). */
  uint64_t hash = coap__mm_hash(&mm->table_key, remote, 0);
  coap__mm_hnode *node = coap__mm_table_first(&mm->non_by_remote, hash);
  while (node != NULL) {
    coap__mm_hnode *next = coap__mm_table_next(node);
    coap__mm_non *rec = coap__container_of(node, coap__mm_non, by_remote);
    if (coap_remote_equal(&rec->remote, remote))
      release(mm, rec);
    node = next;
  }
}
