/*
 * Internals of the message layer, shared by messagemanager.c (entry points
 * and dispatch), mm_outgoing.c (CON records, peers, NSTART), mm_non.c (NON
 * records for RST matching), mm_dedup.c (the deduplication cache) and
 * mm_table.c (the intrusive hash table).
 */
#ifndef AIOCOAP_MESSAGEMANAGER_INTERNAL_H
#define AIOCOAP_MESSAGEMANAGER_INTERNAL_H

#include "hash-internal.h"
#include "heap.h"
#include "messagemanager.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Intrusive chained hash table: the node lives inside the indexed object and
 * keeps its full hash so that lookups compare keys only on a hash match.
 * The back link (pprev, NULL while out of the table) makes removal O(1)
 * however long the chain: many records share one key (an owner's, a
 * peer's), and removing them one by one must not cost O(n^2). */
typedef struct coap__mm_hnode {
  struct coap__mm_hnode *next;
  struct coap__mm_hnode **pprev;
  uint64_t hash;
} coap__mm_hnode;

typedef struct coap__mm_table {
  coap__mm_hnode **buckets;
  uint32_t mask; /* bucket count - 1, a power of two minus one */
  uint32_t count;
} coap__mm_table;

/* 0 or COAP_ENOMEM. */
int coap__mm_table_init(coap__mm_table *table, uint32_t buckets);
void coap__mm_table_free(coap__mm_table *table);
/* Never fails: when growing the bucket array fails, chains get longer. */
void coap__mm_table_insert(coap__mm_table *table, coap__mm_hnode *node,
                           uint64_t hash);
/* O(1); a node not in the table is left alone. */
void coap__mm_table_remove(coap__mm_table *table, coap__mm_hnode *node);
static inline coap__mm_hnode *coap__mm_table_first(const coap__mm_table *table,
                                                   uint64_t hash) {
  coap__mm_hnode *node = table->buckets[hash & table->mask];
  while (node != NULL && node->hash != hash)
    node = node->next;
  return node;
}
static inline coap__mm_hnode *coap__mm_table_next(const coap__mm_hnode *node) {
  uint64_t hash = node->hash;
  node = node->next;
  while (node != NULL && node->hash != hash)
    node = node->next;
  return (coap__mm_hnode *)node;
}

/* Owners are pointers: the address mixed with the layer's key so that they
 * spread over the buckets. */
uint64_t coap__mm_owner_hash(uint64_t key, const void *owner);

/* Keyed hash (SipHash) of a peer (address, port, scope: what
 * coap_remote_equal compares) and a message ID; the key comes from the seed
 * so that a peer cannot aim its address, port or MIDs at one bucket. */
uint64_t coap__mm_hash(const coap__hash_key *key, const coap_remote *remote,
                       uint32_t mid);

/* What the dedup table hashes: the peer's address, port and scope (what
 * coap_remote_equal compares) and the MID. */
#define COAP__MM_DEDUP_INPUT (16 + 2 + 4 + 2)

/* What a heap node belongs to. */
enum { COAP__MM_TIMER_OUT, COAP__MM_TIMER_ACK };

typedef struct coap__mm_timer {
  coap__heap_node node;
  uint8_t kind;
} coap__mm_timer;

/* Where an outgoing message with a record is in its life: every CON, every
 * NON request with an owner (it holds an NSTART slot while its response is
 * awaited, RFC 7252 §4.7), and any message waiting for a MID. */
enum {
  COAP__MM_OUT_QUEUED,  /* waiting for an NSTART slot */
  COAP__MM_OUT_READY,   /* holds a slot; the next tick transmits it */
  COAP__MM_OUT_MIDWAIT, /* waiting for a MID (the peer's MIDs are used up) */
  COAP__MM_OUT_FLIGHT,  /* a CON sent, retransmitting until ACK, RST, timeout */
  COAP__MM_OUT_NON_WAIT /* a NON request sent, its response awaited */
};

typedef struct coap__mm_peer coap__mm_peer;

/* NSTART budgets of a peer: requests (transmission.nstart) and the
 * responses and notifications sent to it (config.nstart_responses). */
enum { COAP__MM_CLASS_REQUEST, COAP__MM_CLASS_RESPONSE, COAP__MM_CLASSES };

/* One outgoing CON with its encoded datagram. */
typedef struct coap__mm_out {
  coap__mm_hnode by_mid;   /* in mm->out_table while in flight */
  coap__mm_hnode by_owner; /* in mm->out_by_owner when it has an owner */
  coap__mm_timer timer;    /* retransmission or timeout */
  struct coap__mm_out *live_prev, *live_next; /* every live record */
  struct coap__mm_out *peer_prev, *peer_next; /* the peer's, oldest first */
  /* peer queue (both), or free list and local lists (next only) */
  struct coap__mm_out *prev, *next;
  coap__mm_peer *peer;
  coap_remote remote;
  void *owner;
  uint8_t *buf; /* kept across reuse */
  size_t len, cap;
  uint64_t interval; /* current retransmission timeout */
  uint32_t retransmits;
  uint16_t mid;
  uint8_t state;
  uint8_t mtype;
  bool needs_slot; /* counts for NSTART: a CON or an owned NON request */
  bool has_slot;   /* holds one of the peer's NSTART slots */
  uint8_t cls;     /* COAP__MM_CLASS_*: which NSTART budget it draws on */
  bool fixed_mid;  /* the caller chose the MID */
  /* Its first transmission counts against the amplification budget (all
   * but a first response do); retransmissions of responses always do. */
  bool amp_first;
  bool amp_probe; /* the peer's one probe CON (coap__mm_amp_probe) */
} coap__mm_out;

/* NSTART bookkeeping for one peer (RFC 7252 §4.7). */
struct coap__mm_peer {
  coap__mm_hnode by_remote;
  coap_remote remote;
  uint32_t active[COAP__MM_CLASSES]; /* records holding an NSTART slot */
  uint32_t records;                  /* every record to the peer */
  uint32_t owed; /* CON requests from the peer not yet answered */
  /* waiting for a slot, per class */
  coap__mm_out *queue_head[COAP__MM_CLASSES], *queue_tail[COAP__MM_CLASSES];
  coap__mm_out *mid_head, *mid_tail;         /* waiting for a MID */
  coap__mm_out *records_head, *records_tail; /* every record to the peer */
  coap__mm_peer *next_free;
};

/* What a deduplication entry remembers. */
enum {
  COAP__MM_DEDUP_CON_REQUEST,
  COAP__MM_DEDUP_NON_REQUEST,
  COAP__MM_DEDUP_CON_RESPONSE,
  COAP__MM_DEDUP_NON_RESPONSE
};

/* One incoming CON or NON, remembered for deduplication (RFC 7252 §4.5). */
typedef struct coap__mm_dedup {
  uint64_t hash;               /* of (remote, mid), for mm->dedup_index */
  coap__mm_timer ack_timer;    /* pending empty ACK of a CON request */
  struct coap__mm_dedup *next; /* lifetime FIFO or free list */
  coap_remote remote;
  uint64_t arrived, expires;
  uint8_t *reply; /* the ACK or RST sent for it, kept across reuse */
  size_t reply_len, reply_cap;
  uint32_t slot, gen;
  uint16_t mid;
  uint8_t kind;
  bool in_use;
  bool acked;    /* an empty ACK went out for it */
  bool answered; /* coap__mm_respond ran for this request */
  bool owed;     /* counted in its peer's owed */
} coap__mm_dedup;

/* A NON sent with an owner, remembered for RST matching (mm_non.c). */
typedef struct coap__mm_non {
  coap__mm_hnode by_mid;            /* in mm->non_by_mid */
  coap__mm_hnode by_owner;          /* in mm->non_by_owner */
  coap__mm_hnode by_remote;         /* in mm->non_by_remote */
  struct coap__mm_non *prev, *next; /* send order, or the free list (next) */
  coap_remote remote;
  void *owner;
  uint64_t expires;
  uint16_t mid;
} coap__mm_non;

/* The MIDs used with one peer (mm_mid.c). */
#define COAP__MM_MID_GROUPS 16
typedef struct coap__mm_mids {
  coap__mm_hnode by_remote;
  struct coap__mm_mids *older, *newer; /* LRU order, or the free list */
  coap_remote remote;
  uint64_t idle_at; /* every MID may be used again from then on */
  uint64_t free_at[COAP__MM_MID_GROUPS]; /* the same, per group */
  uint16_t next;                         /* the next MID to take */
  /* Anti-amplification (RFC 7252 §11.3, RFC 9000 §8.1): bytes received
   * from the peer, bytes sent to it that the budget counts, and whether
   * it has shown it receives what is sent (coap__mm_peer_validate). */
  uint64_t amp_received, amp_sent;
  bool validated;
  bool probing; /* a probe CON (coap__mm_amp_probe) is outstanding */
} coap__mm_mids;

/* FIFO of entries that share one lifetime, so oldest first is also
 * earliest expiry first. */
typedef struct coap__mm_fifo {
  coap__mm_dedup *head, *tail;
} coap__mm_fifo;

struct coap__mm {
  coap__mm_config config;
  coap__mm_callbacks cb;
  void *user_data;
  coap__mm_stats stats;
  uint64_t rng;
  uint64_t hash_key;
  /* SipHash key of the tables keyed by peers (outgoing, NON records, MID
   * trackers): from the seed, so a run replays, and unknown to peers. */
  coap__hash_key table_key;
  uint16_t next_mid;
  uint64_t exchange_lifetime, non_lifetime;
  coap__heap heap;
  uint8_t *scratch; /* max_datagram_size bytes for encoding */

  coap__mm_table out_table, out_by_owner;
  coap__mm_out *out_live;
  coap__mm_out *out_free;
  uint32_t out_count;

  coap__mm_table peer_table;
  coap__mm_peer *peer_free;

  /* (remote, MID) -> entry: open addressing with linear probing, each
   * cell the hash's low 32 bits << 32 | slot + 1 (0: empty), so a lookup
   * that misses reads one cache line and no entry (mm_dedup.c). */
  uint64_t *dedup_index;
  uint32_t dedup_index_mask, dedup_index_count;
  coap__mm_dedup **dedup_slots; /* slot -> entry, allocated on demand */
  uint32_t dedup_allocated, dedup_slots_cap, dedup_in_use;
  coap__mm_dedup *dedup_free;
  /* Entries by arrival, each FIFO of one lifetime and so sorted by expiry:
   * [0] CON, [1] NON, and [2] CON, [3] NON for non-idempotent requests,
   * which are evicted last (see mm_dedup.c). */
  coap__mm_fifo dedup_fifo[4];

  coap__mm_table non_by_mid, non_by_owner, non_by_remote; /* on first use */
  coap__mm_non *non_oldest, *non_newest, *non_free;
  uint32_t non_count;

  coap__mm_table mid_table;
  coap__mm_mids *mid_lru, *mid_mru, *mid_free;
  uint32_t mid_count;
  coap__mm_mids mid_shared; /* for peers beyond config.mid_peers */
  /* The dedup table's SipHash key (mm_dedup.c), and the last input it
   * hashed: a lookup that misses is followed by an insert of the same
   * (remote, MID), which reuses the hash. */
  coap__hash_key dedup_key;
  uint8_t dedup_probe[COAP__MM_DEDUP_INPUT];
  uint64_t dedup_probe_hash;
};

/* Uniform in [0, bound]. */
uint64_t coap__mm_random(coap__mm *mm, uint64_t bound);

/* Hands a datagram to the send callback and counts it. */
static inline void coap__mm_emit(coap__mm *mm, const coap_remote *remote,
                                 const uint8_t *data, size_t len) {
  mm->stats.sent++;
  mm->cb.send(mm->user_data, remote, data, len);
}

/* Sends an Empty ACK or RST (RFC 7252 §4.1) with mid, and writes its 4
 * bytes into out when out is not NULL. */
void coap__mm_emit_empty(coap__mm *mm, const coap_remote *remote, int mtype,
                         uint16_t mid, uint8_t out[4]);

/* Makes *buf hold len bytes, keeping it when it already does.  Sizes are
 * rounded up so that a recycled buffer rarely needs to grow again. */
int coap__mm_buf_reserve(uint8_t **buf, size_t *cap, size_t len);

/* mm_outgoing.c */
int coap__mm_out_init(coap__mm *mm);
void coap__mm_out_free(coap__mm *mm);
/* Queues or transmits the message encoded in mm->scratch[0..len): mid -1
 * takes one from the peer's tracker when it goes out; needs_slot makes it
 * wait for NSTART.  *sent_mid is the MID it went out with, -1 while it
 * waits.  0, COAP_ELIMIT or COAP_ENOMEM. */
int coap__mm_out_submit(coap__mm *mm, size_t len, const coap_remote *remote,
                        int32_t mid, int mtype, bool needs_slot, bool amp_first,
                        bool amp_probe, void *owner, uint64_t now,
                        int32_t *sent_mid);
/* The CON of owner that coap__mm_replace swaps, or NULL. */
coap__mm_out *coap__mm_out_find_con(coap__mm *mm, const void *owner);
/* Puts the datagram in mm->scratch[0..len) in place of rec's (see
 * coap__mm_replace); *sent_mid as for coap__mm_out_submit. */
int coap__mm_out_replace(coap__mm *mm, coap__mm_out *rec, size_t len,
                         uint64_t now, int32_t *sent_mid);
/* Counts a CON request from remote as owed an answer (true), or when
 * false could not (no memory: it is then not counted). */
bool coap__mm_peer_owe(coap__mm *mm, const coap_remote *remote);
/* The answer owed to entry has been given (or never will be). */
void coap__mm_peer_settle(coap__mm *mm, coap__mm_dedup *entry);
/* Whether messages to remote wait for a MID (a new one must queue behind). */
bool coap__mm_out_mid_blocked(coap__mm *mm, const coap_remote *remote);
/* The in-flight CON or awaited NON request with (remote, mid), or NULL. */
coap__mm_out *coap__mm_out_find(coap__mm *mm, const coap_remote *remote,
                                uint16_t mid);
/* Ends rec's exchange with event (owner told, when there is one) but does
 * not yet send the peer's queued CONs: call coap__mm_out_pump after. */
void coap__mm_out_finish(coap__mm *mm, coap__mm_out *rec, coap__mm_event event,
                         int err);
/* Transmits queued CONs to remote while NSTART allows. */
void coap__mm_out_pump(coap__mm *mm, const coap_remote *remote, uint64_t now);
void coap__mm_out_timer(coap__mm *mm, coap__mm_out *rec, uint64_t now);

/* mm_non.c: NON messages sent with an owner, for RST matching. */
void coap__mm_non_free(coap__mm *mm);
/* Remembers a NON just sent (nothing when owner is NULL or the bound is 0;
 * the oldest record goes when the bound is reached). */
void coap__mm_non_add(coap__mm *mm, const coap_remote *remote, uint16_t mid,
                      void *owner, uint64_t now);
/* The owner of the NON that an RST with (remote, mid) answers, forgetting
 * the record; NULL when none matches. */
void *coap__mm_non_match_rst(coap__mm *mm, const coap_remote *remote,
                             uint16_t mid, uint64_t now);
/* Forgets every record of owner. */
void coap__mm_non_cancel(coap__mm *mm, const void *owner);
/* Forgets every record for remote. */
void coap__mm_non_kill(coap__mm *mm, const coap_remote *remote);
void coap__mm_non_expire(coap__mm *mm, uint64_t now);

/* mm_mid.c: MIDs per peer (RFC 7252 §4.4). */
int coap__mm_mid_init(coap__mm *mm);
void coap__mm_mid_free(coap__mm *mm);
/* Takes the next MID for remote: 0, or COAP_EAGAIN when none may be used
 * before *retry_at. */
int coap__mm_mid_take(coap__mm *mm, const coap_remote *remote, uint64_t now,
                      uint16_t *mid, uint64_t *retry_at);
/* Counts len bytes received from remote (its tracker made on demand). */
void coap__mm_amp_received(coap__mm *mm, const coap_remote *remote, size_t len,
                           uint64_t now);
/* Whether len more bytes may go to remote now (counted when consume);
 * a refusal with consume counts in stats.amplification_limited. */
bool coap__mm_amp_allow(coap__mm *mm, const coap_remote *remote, size_t len,
                        bool consume);
/* Whether a CON that the budget refuses may still go as the peer's probe:
 * true (and the peer is then probing) when remote has a tracker, is not
 * validated and has no probe outstanding.  Without one, a peer whose
 * notifications are larger than its budget could never acknowledge one
 * and so never be validated. */
bool coap__mm_amp_probe(coap__mm *mm, const coap_remote *remote);
/* The probe CON to remote has ended (acknowledged, rejected, given up). */
void coap__mm_amp_probe_done(coap__mm *mm, const coap_remote *remote);
/* Forgets trackers idle past the lifetime. */
void coap__mm_mid_expire(coap__mm *mm, uint64_t now);

/* mm_dedup.c */
int coap__mm_dedup_init(coap__mm *mm);
void coap__mm_dedup_free(coap__mm *mm);
coap__mm_dedup *coap__mm_dedup_find(coap__mm *mm, const coap_remote *remote,
                                    uint16_t mid);
/* A new entry, evicting the oldest when the cache is full; NULL on
 * COAP_ENOMEM. */
/* keep: a non-idempotent request (RFC 7252 §5.1: processing it twice
 * does harm), whose entry outlives the others when the cache is full. */
coap__mm_dedup *coap__mm_dedup_add(coap__mm *mm, const coap_remote *remote,
                                   uint16_t mid, uint8_t kind, bool keep,
                                   uint64_t now);
/* The live request entry in names, or NULL. */
coap__mm_dedup *coap__mm_dedup_get(coap__mm *mm, coap__mm_incoming in);
/* Remembers reply as what a duplicate of the entry's message gets. */
int coap__mm_dedup_set_reply(coap__mm_dedup *entry, const uint8_t *reply,
                             size_t len);
/* Sends the empty ACK of a CON request that is still unanswered. */
void coap__mm_dedup_send_empty_ack(coap__mm *mm, coap__mm_dedup *entry);
void coap__mm_dedup_expire(coap__mm *mm, uint64_t now);
uint64_t coap__mm_dedup_next_expiry(const coap__mm *mm);

#endif
