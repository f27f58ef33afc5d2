/*
 * The CoAP message layer (RFC 7252 §4), doing no I/O and reading no clock:
 * message IDs, deduplication, CON retransmission, ACK/RST, ping, NSTART and
 * the empty-ACK timer of separate responses.  It takes (datagram, remote,
 * now), hands out datagrams through the send callback, and reports its next
 * deadline; the context's transport and timer drive it, tests drive it with
 * a fake clock.  Above it, the context matches tokens.
 */
#ifndef AIOCOAP_MESSAGEMANAGER_H
#define AIOCOAP_MESSAGEMANAGER_H

#include <aiocoap/message.h>
#include <aiocoap/numbers.h>

#include <stdbool.h>
#include <stdint.h>

typedef struct coap__mm coap__mm;

typedef struct coap__mm_config {
  coap_transmission_parameters transmission; /* nstart: CONs per peer */
  uint32_t dedup_entries;      /* bound on remembered incoming MIDs */
  uint32_t max_outgoing;       /* bound on CONs in flight or queued */
  uint32_t empty_ack_delay_ms; /* wait this long for a piggybacked answer */
  uint32_t max_datagram_size;  /* largest datagram encoded */
  uint32_t non_records;        /* NONs with an owner remembered; 0: none */
  /* RFC 7252 §4.4: no MID is used again with a peer within
   * EXCHANGE_LIFETIME (mm_mid.c); false: one bare counter for all peers. */
  bool mid_tracking;
  uint32_t mid_peers; /* peers tracked on their own; the rest share one */
  /* RFC 7252 §4.7: a NON request sent with an owner is an outstanding
   * interaction, holding an NSTART slot until the owner cancels it (its
   * response came or it ended) or NON_LIFETIME has passed. */
  bool nstart_non;
  /* Records (CONs in flight or queued, NON requests awaiting their
   * response, messages waiting for a MID) to one peer; beyond, sending to
   * it fails with COAP_ELIMIT, so one peer cannot take all of
   * max_outgoing.  0: only max_outgoing bounds them. */
  uint32_t max_outgoing_per_peer;
  /* RFC 7252 §4.7 lets NSTART be raised by configuration: the CON
   * responses and notifications outstanding to one peer at a time, counted
   * apart from the requests to it (transmission.nstart).  0: nstart. */
  uint32_t nstart_responses;
  /* A message waiting for an NSTART slot longer than this gives up: its
   * owner gets TIMEOUT (a NON without an owner is dropped).  0: waits as
   * long as it takes. */
  uint64_t queue_timeout_ms;
  /* RFC 7252 §11.3, as RFC 9000 §8.1 bounds QUIC: to a peer not yet
   * validated (see coap__mm_peer_validate), everything beyond the first
   * response to each request (notifications, retransmissions of separate
   * responses) goes only while the bytes of it stay within this many
   * times the bytes received from the peer.  0: no limit. */
  uint32_t amplification_factor;
} coap__mm_config;

/* Identifies one incoming request for coap__mm_respond; stays safe to use
 * after the entry it names has expired or been reused (gen check). */
typedef struct coap__mm_incoming {
  uint32_t slot;
  uint32_t gen;
} coap__mm_incoming;

/* Events on an outgoing message that was given an owner. */
typedef enum coap__mm_event {
  COAP__MM_SENT, /* first transmission went out (after any NSTART wait) */
  COAP__MM_RETRANSMITTED, /* a CON was sent again */
  COAP__MM_ACKED,   /* ACK arrived (empty or piggybacked); exchange over */
  COAP__MM_RST,     /* RST arrived (to a CON, or to a remembered
                       NON); exchange over; err COAP_ERESET */
  COAP__MM_TIMEOUT, /* MAX_RETRANSMIT exhausted; err COAP_ETIMEDOUT */
  COAP__MM_FAILED   /* ICMP error or kill; err says which */
} coap__mm_event;

typedef struct coap__mm_callbacks {
  /* Puts a datagram on the wire; data is borrowed for the call. */
  void (*send)(void *user_data, const coap_remote *remote, const uint8_t *data,
               size_t len);
  /*
   * A request that is not a duplicate.  msg borrows the datagram: copy what
   * is kept beyond the call (coap_message_own on a copy).  Answer through
   * coap__mm_respond with in, now or later.
   */
  void (*request)(void *user_data, coap_message *msg, coap__mm_incoming in);
  /*
   * A response (piggybacked, CON or NON) that is not a duplicate.  Returns
   * true when it matched a request; an unmatched CON or NON response is
   * answered with RST (RFC 7252 §4.2, §4.3; RFC 7641 §3.6), a matched CON
   * with an empty ACK.  msg borrows the datagram.
   */
  bool (*response)(void *user_data, coap_message *msg);
  /*
   * An event on an outgoing message sent with a non-NULL owner.  A CON gets
   * SENT, any RETRANSMITTED, then one of ACKED, RST, TIMEOUT or FAILED,
   * after which the layer forgets it.  A NON gets SENT, and is then
   * remembered for NON_LIFETIME (at most config.non_records NONs, oldest
   * forgotten first) so that an RST with its MID reports RST to its owner
   * (RFC 7252 §4.3; RFC 7641 §3.6: how a client rejects a notification).
   * So an owner that sent a NON must coap__mm_cancel before it goes away,
   * as one with a CON in flight must.  A NON request that holds an NSTART
   * slot (config.nstart_non) is matched the same way, and also gets FAILED
   * from coap__mm_kill.  ACK and RST (and piggybacked responses) get SENT
   * only.
   */
  void (*event)(void *user_data, void *owner, coap__mm_event event, int err);
  /* remote has just become validated (coap__mm_peer_validate): what the
   * amplification limit held back may go now.  May be NULL. */
  void (*validated)(void *user_data, const coap_remote *remote);
} coap__mm_callbacks;

typedef struct coap__mm_stats {
  uint64_t received, sent, malformed, duplicates, retransmissions, rst_sent,
      empty_acks, separate_responses;
  uint64_t mid_waits; /* messages that waited for a free MID */
  /* Dedup entries forgotten before their lifetime ended because the cache
   * was full: duplicates of those would be processed again. */
  uint64_t dedup_evictions;
  uint64_t queue_expired; /* gave up waiting for NSTART (queue_timeout_ms) */
  uint64_t peer_limited;  /* refused: max_outgoing_per_peer reached */
  /* Datagrams not sent to an unvalidated peer (amplification_factor). */
  uint64_t amplification_limited;
  /* Datagrams to a group that were not NON requests (RFC 7252 §8.1). */
  uint64_t multicast_ignored;
} coap__mm_stats;

/* 0, COAP_EINVAL or COAP_ENOMEM.  seed feeds the MID generator's start. */
int coap__mm_new(const coap__mm_config *config,
                 const coap__mm_callbacks *callbacks, void *user_data,
                 uint64_t seed, coap__mm **out);
/* Frees everything; no events fire. */
void coap__mm_free(coap__mm *mm);

/* One datagram from remote, at time now (ms). */
void coap__mm_recv(coap__mm *mm, const uint8_t *data, size_t len,
                   const coap_remote *remote, uint64_t now);

/*
 * Sends a request or a message not tied to an incoming one (msg->remote
 * set).  mtype COAP_TYPE_UNSET becomes CON; mid -1 gets the peer's next MID
 * when the message goes out (written back into msg when that is at once;
 * it stays -1 while the message waits).  A CON is retransmitted until ACK,
 * RST or timeout.  A CON, and with config.nstart_non a NON request with an
 * owner, waits while NSTART interactions with that peer are outstanding;
 * any message waits while the peer's MIDs are used up (RFC 7252 §4.4).
 * owner (may be NULL) receives the events.  Returns 0, COAP_EINVAL,
 * COAP_EMSGSIZE (larger than max_datagram_size), COAP_ELIMIT (max_outgoing
 * or max_outgoing_per_peer reached), COAP_EAGAIN (a response, e.g. a
 * notification, to a peer not validated whose amplification budget it
 * would exceed: nothing was sent, try again once the peer is validated) or
 * COAP_ENOMEM.
 */
int coap__mm_send(coap__mm *mm, coap_message *msg, void *owner, uint64_t now);

/*
 * Answers incoming request in with resp (resp->remote is filled from the
 * request).  Piggybacked on the ACK when the request was CON and not yet
 * acknowledged; otherwise a separate response: CON after an empty ACK (with
 * retransmission and owner events), NON for a NON request, unless the caller
 * set resp->mtype.  The datagram is remembered so a duplicate request gets
 * the same answer.  Returns as coap__mm_send.
 */
int coap__mm_respond(coap__mm *mm, coap__mm_incoming in, coap_message *resp,
                     void *owner, uint64_t now);

/*
 * Ends incoming request in without a response (RFC 7967 §2: the client
 * asked for this class to be suppressed).  A CON not yet acknowledged gets
 * its empty ACK now (RFC 7967 §2.1: the ACK is still due), which a
 * duplicate gets again (RFC 7252 §4.5); a NON, or a CON acknowledged
 * already, gets nothing and a duplicate is dropped.  Returns 0 (also when
 * the entry is gone: nothing is due then), or COAP_EINVAL when it was
 * answered already.
 */
int coap__mm_suppress(coap__mm *mm, coap__mm_incoming in);

/*
 * Rejects incoming request in with an RST carrying its MID (RFC 7252 §4.2,
 * §4.3: a message that cannot be processed, e.g. a NON with an
 * unrecognised critical option, §5.4.1).  A duplicate of a CON gets the
 * same RST again.  Returns 0, or COAP_EINVAL when the entry is gone, was
 * answered, or is a CON already acknowledged (too late to reject).
 */
int coap__mm_reject(coap__mm *mm, coap__mm_incoming in);

/* The remote of an incoming request, or NULL when the entry is gone. */
const coap_remote *coap__mm_incoming_remote(coap__mm *mm, coap__mm_incoming in);

/* Stops every message of owner (no events); queued ones are dropped and
 * remembered NONs forgotten.  This is also how an owner says that the
 * response to its NON request came (or that the request ended): the NSTART
 * slot it held is free again.  Costs O(messages of owner). */
void coap__mm_cancel(coap__mm *mm, void *owner);

/* Fails every outgoing message to remote that the layer holds (CONs, NON
 * requests awaiting their response, messages waiting for NSTART or a MID):
 * FAILED events with err; remembered NONs to remote are forgotten without
 * events.  Costs O(messages to remote).  Returns how many failed. */
size_t coap__mm_kill(coap__mm *mm, const coap_remote *remote, int err);

/*
 * RFC 7641 §4.5.2: the state changed while owner's CON (a notification) is
 * unacknowledged, so msg (its remote is taken from the outstanding one) is
 * sent in its place.  The outstanding record keeps its retransmission
 * counter, its current timeout and its next deadline: msg goes out at that
 * deadline as the retransmission would have (the back-off still protects a
 * congested or departed client), with a new MID, and the stale datagram is
 * never sent again.  A CON still waiting for NSTART or a MID just has its
 * datagram swapped.  msg->mid is written back (-1 while it waits).
 *
 * The old MID is forgotten at once, as Californium does: a late ACK or RST
 * to it matches nothing and is ignored (RFC 7252 §4.2).  An ACK to the old
 * state does not confirm the new one, which must be acknowledged itself;
 * a client that lost interest answers the new one with RST as well, so
 * ignoring the old RST costs one round trip and loses nothing.
 *
 * Returns 0; COAP_ENOENT when owner has no CON outstanding (send it
 * normally); COAP_EAGAIN when no MID is free for the peer (the old one goes
 * on: try again once it is acknowledged); COAP_EINVAL, COAP_EMSGSIZE or
 * COAP_ENOMEM, all leaving the outstanding CON as it was.  No events fire.
 */
int coap__mm_replace(coap__mm *mm, void *owner, coap_message *msg,
                     uint64_t now);

/* What remote has asked of this side and not yet had, in O(1): the
 * outgoing records held for it (as max_outgoing_per_peer counts them)
 * plus its CON requests not yet answered through coap__mm_respond. */
uint32_t coap__mm_peer_outgoing(const coap__mm *mm, const coap_remote *remote);

/*
 * Marks remote as validated (RFC 9000 §8.1 in CoAP's terms): it has shown
 * that it receives what this side sends, so amplification_factor no longer
 * holds its messages back.  The layer does this itself when remote answers
 * one of its CONs with ACK or RST, rejects a remembered NON with RST, or
 * responds to a request; the layer above calls it when a request carried a
 * valid Echo (RFC 9175 §2.4) or a security session proves the address.
 * The mark lives in the peer's MID tracker (mm_mid.c): it is forgotten with
 * the tracker, once the peer has been idle for EXCHANGE_LIFETIME, and peers
 * beyond config.mid_peers are never validated (so only their first
 * responses go).  A no-op when amplification_factor is 0.
 */
void coap__mm_peer_validate(coap__mm *mm, const coap_remote *remote,
                            uint64_t now);
/* Whether remote is validated, or the limit is off. */
bool coap__mm_peer_validated(coap__mm *mm, const coap_remote *remote);

/* Runs what is due at now: retransmissions, timeouts, empty ACKs, expiry. */
void coap__mm_tick(coap__mm *mm, uint64_t now);
/* When coap__mm_tick next has work; UINT64_MAX for never. */
uint64_t coap__mm_next_deadline(const coap__mm *mm);

void coap__mm_get_stats(const coap__mm *mm, coap__mm_stats *out);

#endif
