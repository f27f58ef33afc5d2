/*
 * The CoAP message layer (RFC 7252 §4): entry points, message IDs, and the
 * dispatch of incoming datagrams by type and code.  Outgoing CONs live in
 * mm_outgoing.c, the deduplication cache in mm_dedup.c.
 *
 * No I/O and no clock: time is the caller's `now`, datagrams leave through
 * the send callback.  Every message is encoded once into mm->scratch; CON
 * records and remembered replies copy those bytes into buffers they keep.
 *
 * Owner events: a CON gets SENT, any RETRANSMITTED, then one of ACKED, RST,
 * TIMEOUT or FAILED.  A NON gets SENT, and may get RST later: it is
 * remembered (mm_non.c, or for a NON request holding an NSTART slot its
 * record in mm_outgoing.c) so that an RST rejecting it reaches its owner.  An
 * ACK or RST (a piggybacked response included) gets SENT only, and the layer
 * forgets its owner at once.
 *
 * Callbacks may call coap__mm_send, coap__mm_respond, coap__mm_cancel and
 * coap__mm_kill, but not coap__mm_recv, coap__mm_tick or coap__mm_free.
 */
#include "messagemanager-internal.h"

#include "addr-internal.h"
#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <string.h>

/* The layer's generator: seeds the hash key, the first MIDs (RFC 7252
 * §4.4: randomized) and the retransmission timeouts. */
static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

uint64_t coap__mm_random(coap__mm *mm, uint64_t bound) {
  if (bound == 0)
    return 0;
  uint64_t r = splitmix64(&mm->rng);
  return bound == UINT64_MAX ? r : r % (bound + 1);
}

int coap__mm_buf_reserve(uint8_t **buf, size_t *cap, size_t len) {
  if (*buf != NULL && *cap >= len)
    return 0;
  /* Rounded up to 64 bytes, not to a power of two: these buffers are
   * recycled with their records, so a doubling saves few reallocations but
   * would make a 1,040-byte Block2 reply, kept for EXCHANGE_LIFETIME in
   * the deduplication cache, cost 2,048 bytes. */
  size_t size = (len + 63) & ~(size_t)63;
  if (size == 0)
    size = 64;
  uint8_t *fresh = coap__malloc(size);
  if (fresh == NULL)
    return COAP_ENOMEM;
  coap__free(*buf);
  *buf = fresh;
  *cap = size;
  return 0;
}

void coap__mm_emit_empty(coap__mm *mm, const coap_remote *remote, int mtype,
                         uint16_t mid, uint8_t out[4]) {
  /* RFC 7252 §8.1: nothing that arrived by multicast is answered with an
   * RST (nor ACKed: a multicast CON is never valid). */
  if (coap__remote_via_multicast(remote)) {
    if (out != NULL)
      memset(out, 0, 4);
    return;
  }
  /* RFC 7252 §4.1: an Empty message is the 4-byte header alone. */
  uint8_t header[4] = {(uint8_t)(1 << 6 | mtype << 4), COAP_CODE_EMPTY,
                       (uint8_t)(mid >> 8), (uint8_t)mid};
  if (out != NULL)
    memcpy(out, header, sizeof header);
  if (mtype == COAP_TYPE_RST)
    mm->stats.rst_sent++;
  coap__mm_emit(mm, remote, header, sizeof header);
}

static bool config_valid(const coap__mm_config *config) {
  const coap_transmission_parameters *tp = &config->transmission;
  /* The negated comparison also rejects a NaN factor. */
  return tp->ack_timeout_ms > 0 && !(tp->ack_random_factor < 1.0) &&
         tp->ack_random_factor <= 1000.0 && tp->nstart > 0 &&
         config->dedup_entries > 0 && config->max_outgoing > 0 &&
         config->max_datagram_size >= COAP_HEADER_LENGTH &&
         config->max_datagram_size <= 65535;
}

int coap__mm_new(const coap__mm_config *config,
                 const coap__mm_callbacks *callbacks, void *user_data,
                 uint64_t seed, coap__mm **out) {
  if (config == NULL || callbacks == NULL || out == NULL ||
      callbacks->send == NULL || callbacks->request == NULL ||
      callbacks->response == NULL || !config_valid(config))
    return COAP_EINVAL;
  coap__mm *mm = coap__calloc(1, sizeof *mm);
  if (mm == NULL)
    return COAP_ENOMEM;
  mm->config = *config;
  mm->cb = *callbacks;
  mm->user_data = user_data;
  mm->rng = seed;
  mm->hash_key = splitmix64(&mm->rng);
  /* From a copy of hash_key, so the layer's own random sequence (its
   * first MID) stays what the seed made it. */
  uint64_t derive = mm->hash_key ^ UINT64_C(0x7461626c65206b79);
  uint64_t table_key[2] = {splitmix64(&derive), splitmix64(&derive)};
  memcpy(mm->table_key.bytes, table_key, sizeof mm->table_key.bytes);
  mm->next_mid = (uint16_t)splitmix64(&mm->rng);
  mm->exchange_lifetime = coap_exchange_lifetime_ms(&config->transmission);
  mm->non_lifetime = coap_non_lifetime_ms(&config->transmission);
  coap__heap_init(&mm->heap);
  mm->scratch = coap__malloc(config->max_datagram_size);
  if (mm->scratch == NULL || coap__mm_out_init(mm) < 0 ||
      coap__mm_dedup_init(mm) < 0 || coap__mm_mid_init(mm) < 0) {
    coap__mm_free(mm);
    return COAP_ENOMEM;
  }
  *out = mm;
  return 0;
}

void coap__mm_free(coap__mm *mm) {
  if (mm == NULL)
    return;
  /* The heap array first: freeing it touches the nodes it holds. */
  coap__heap_free(&mm->heap);
  coap__mm_out_free(mm);
  coap__mm_dedup_free(mm);
  coap__mm_non_free(mm);
  coap__mm_mid_free(mm);
  coap__free(mm->scratch);
  coap__free(mm);
}

/* Encodes msg into the scratch buffer: its length, COAP_EMSGSIZE or
 * COAP_EINVAL. */
static int encode(coap__mm *mm, const coap_message *msg) {
  if (coap_message_encoded_size(msg) > mm->config.max_datagram_size)
    return COAP_EMSGSIZE;
  int n = coap_message_encode(msg, mm->scratch, mm->config.max_datagram_size);
  return n == COAP_ENOSPC ? COAP_EMSGSIZE : n;
}

/* Whether msg must wait while NSTART interactions with its peer are
 * outstanding (RFC 7252 §4.7): a CON, or a NON request whose owner will
 * say when its response has come. */
static bool needs_slot(const coap__mm *mm, int mtype, const coap_message *msg,
                       const void *owner) {
  return mtype == COAP_TYPE_CON ||
         (mtype == COAP_TYPE_NON && owner != NULL && mm->config.nstart_non &&
          coap_code_is_request(msg->code));
}

/* Sends msg (remote set) with a fresh MID when mid is -1.  first: msg is
 * the first response to a request, which the amplification budget lets go
 * (RFC 7252 §11.3 asks only that what goes beyond it be bounded). */
static int send_message(coap__mm *mm, coap_message *msg, void *owner,
                        bool first, uint64_t now) {
  const int old_mtype = msg->mtype;
  const int32_t old_mid = msg->mid;
  int mtype = old_mtype == COAP_TYPE_UNSET ? COAP_TYPE_CON : old_mtype;
  if (mtype < COAP_TYPE_CON || mtype > COAP_TYPE_RST || old_mid < -1 ||
      old_mid > 0xffff)
    return COAP_EINVAL;
  const bool slot = needs_slot(mm, mtype, msg, owner);
  if (slot && mm->out_count >= mm->config.max_outgoing)
    return COAP_ELIMIT;
  msg->mtype = mtype;
  msg->mid = old_mid >= 0 ? old_mid : 0;
  int n = encode(mm, msg);
  if (n < 0)
    goto restore;
  /* Our own requests are never limited: the peer asked for nothing. */
  const bool limited = mm->config.amplification_factor > 0 && !first &&
                       coap_code_is_response(msg->code);
  bool probe = false;
  if (limited && !coap__mm_amp_allow(mm, &msg->remote, (size_t)n, false)) {
    /* Beyond the budget only a CON may go, as the peer's one probe: by
     * acknowledging it the peer is validated. */
    probe = mtype == COAP_TYPE_CON && coap__mm_amp_probe(mm, &msg->remote);
    if (!probe) {
      mm->stats.amplification_limited++;
      n = COAP_EAGAIN;
      goto restore;
    }
  }
  uint16_t mid = (uint16_t)msg->mid;
  uint64_t retry_at;
  if (!slot && (old_mid >= 0 || (!coap__mm_out_mid_blocked(mm, &msg->remote) &&
                                 coap__mm_mid_take(mm, &msg->remote, now, &mid,
                                                   &retry_at) == 0))) {
    /* Nothing to wait for and nothing to retransmit: out at once. */
    msg->mid = mid;
    mm->scratch[2] = (uint8_t)(mid >> 8);
    mm->scratch[3] = (uint8_t)mid;
    if (limited)
      (void)coap__mm_amp_allow(mm, &msg->remote, (size_t)n, true);
    coap__mm_emit(mm, &msg->remote, mm->scratch, (size_t)n);
    if (mtype == COAP_TYPE_NON)
      coap__mm_non_add(mm, &msg->remote, mid, owner, now);
    if (owner != NULL && mm->cb.event != NULL)
      mm->cb.event(mm->user_data, owner, COAP__MM_SENT, 0);
    return 0;
  }
  int32_t sent_mid;
  n = coap__mm_out_submit(mm, (size_t)n, &msg->remote, old_mid, mtype, slot,
                          limited && !probe, probe, owner, now, &sent_mid);
  if (n < 0) {
    if (probe)
      coap__mm_amp_probe_done(mm, &msg->remote);
    goto restore;
  }
  msg->mid = sent_mid;
  return 0;

restore:
  msg->mtype = old_mtype;
  msg->mid = old_mid;
  return n;
}

int coap__mm_replace(coap__mm *mm, void *owner, coap_message *msg,
                     uint64_t now) {
  if (mm == NULL || owner == NULL || msg == NULL)
    return COAP_EINVAL;
  coap__mm_out *rec = coap__mm_out_find_con(mm, owner);
  if (rec == NULL)
    return COAP_ENOENT;
  const int old_mtype = msg->mtype;
  const int32_t old_mid = msg->mid;
  const coap_remote old_remote = msg->remote;
  msg->mtype = COAP_TYPE_CON;
  msg->mid = 0;
  msg->remote = rec->remote;
  int n = encode(mm, msg);
  int32_t sent_mid = -1;
  if (n >= 0)
    n = coap__mm_out_replace(mm, rec, (size_t)n, now, &sent_mid);
  if (n < 0) {
    msg->mtype = old_mtype;
    msg->mid = old_mid;
    msg->remote = old_remote;
    return n;
  }
  msg->mid = sent_mid;
  return 0;
}

int coap__mm_send(coap__mm *mm, coap_message *msg, void *owner, uint64_t now) {
  if (mm == NULL || msg == NULL || !coap_remote_is_set(&msg->remote))
    return COAP_EINVAL;
  return send_message(mm, msg, owner, false, now);
}

/* A separate response: its own exchange with a new MID (RFC 7252 §5.2.2). */
static int send_separate(coap__mm *mm, coap_message *resp, void *owner,
                         uint64_t now) {
  const int32_t old_mid = resp->mid;
  resp->mid = -1;
  int r = send_message(mm, resp, owner, true, now);
  if (r < 0) {
    resp->mid = old_mid;
    return r;
  }
  if (resp->mtype == COAP_TYPE_CON)
    mm->stats.separate_responses++;
  return 0;
}

/* RFC 7252 §5.2.1: the response rides on the ACK, with the request's MID. */
static int send_piggybacked(coap__mm *mm, coap__mm_dedup *entry,
                            coap_message *resp, void *owner) {
  const int old_mtype = resp->mtype;
  const int32_t old_mid = resp->mid;
  resp->mtype = COAP_TYPE_ACK;
  resp->mid = entry->mid;
  int n = encode(mm, resp);
  /* Remember the answer before sending it: a duplicate of the request must
   * get the very same bytes (RFC 7252 §4.5). */
  if (n >= 0)
    n = coap__mm_dedup_set_reply(entry, mm->scratch, (size_t)n) < 0
            ? COAP_ENOMEM
            : n;
  if (n < 0) {
    resp->mtype = old_mtype;
    resp->mid = old_mid;
    return n;
  }
  coap__heap_remove(&mm->heap, &entry->ack_timer.node);
  entry->answered = true;
  coap__mm_peer_settle(mm, entry);
  coap__mm_emit(mm, &entry->remote, entry->reply, entry->reply_len);
  if (owner != NULL && mm->cb.event != NULL)
    mm->cb.event(mm->user_data, owner, COAP__MM_SENT, 0);
  return 0;
}

static int respond_to_con(coap__mm *mm, coap__mm_dedup *entry,
                          coap_message *resp, void *owner, uint64_t now) {
  if (resp->mtype == COAP_TYPE_RST)
    return COAP_EINVAL;
  if (!entry->acked &&
      (resp->mtype == COAP_TYPE_UNSET || resp->mtype == COAP_TYPE_ACK))
    return send_piggybacked(mm, entry, resp, owner);
  /* Too late to piggyback (or the caller asked for CON/NON): make sure the
   * request is acknowledged, then answer separately. */
  if (resp->mtype == COAP_TYPE_ACK)
    resp->mtype = COAP_TYPE_UNSET;
  coap__mm_dedup_send_empty_ack(mm, entry);
  int r = send_separate(mm, resp, owner, now);
  if (r == 0) {
    entry->answered = true;
    coap__mm_peer_settle(mm, entry);
  }
  return r;
}

int coap__mm_respond(coap__mm *mm, coap__mm_incoming in, coap_message *resp,
                     void *owner, uint64_t now) {
  if (mm == NULL || resp == NULL)
    return COAP_EINVAL;
  coap__mm_dedup *entry = coap__mm_dedup_get(mm, in);
  if (entry == NULL) {
    /* The request is forgotten: only a separate CON response to a remote
     * the caller names can still reach the client. */
    if (!coap_remote_is_set(&resp->remote))
      return COAP_EINVAL;
    if (resp->mtype == COAP_TYPE_ACK || resp->mtype == COAP_TYPE_RST)
      resp->mtype = COAP_TYPE_UNSET;
    return send_separate(mm, resp, owner, now);
  }
  if (entry->answered)
    return COAP_EINVAL;
  resp->remote = entry->remote;
  if (entry->kind == COAP__MM_DEDUP_CON_REQUEST)
    return respond_to_con(mm, entry, resp, owner, now);
  /* RFC 7252 §5.2.3: a NON request is answered with a NON by default. */
  if (resp->mtype == COAP_TYPE_ACK || resp->mtype == COAP_TYPE_RST)
    return COAP_EINVAL;
  if (resp->mtype == COAP_TYPE_UNSET)
    resp->mtype = COAP_TYPE_NON;
  int r = send_separate(mm, resp, owner, now);
  if (r == 0) {
    entry->answered = true;
    coap__mm_peer_settle(mm, entry);
  }
  return r;
}

int coap__mm_suppress(coap__mm *mm, coap__mm_incoming in) {
  if (mm == NULL)
    return COAP_EINVAL;
  coap__mm_dedup *entry = coap__mm_dedup_get(mm, in);
  if (entry == NULL)
    return 0;
  if (entry->answered)
    return COAP_EINVAL;
  if (entry->kind == COAP__MM_DEDUP_CON_REQUEST)
    coap__mm_dedup_send_empty_ack(mm, entry); /* a no-op once acked */
  entry->answered = true;
  coap__mm_peer_settle(mm, entry);
  return 0;
}

int coap__mm_reject(coap__mm *mm, coap__mm_incoming in) {
  coap__mm_dedup *entry = mm != NULL ? coap__mm_dedup_get(mm, in) : NULL;
  if (entry == NULL || entry->answered || entry->acked)
    return COAP_EINVAL;
  uint8_t rst[4];
  coap__heap_remove(&mm->heap, &entry->ack_timer.node);
  coap__mm_emit_empty(mm, &entry->remote, COAP_TYPE_RST, entry->mid, rst);
  entry->answered = true;
  /* RFC 7252 §4.5: a duplicate CON gets the same RST; a duplicate NON is
   * dropped anyway. */
  if (entry->kind == COAP__MM_DEDUP_CON_REQUEST)
    (void)coap__mm_dedup_set_reply(entry, rst, sizeof rst);
  return 0;
}

const coap_remote *coap__mm_incoming_remote(coap__mm *mm,
                                            coap__mm_incoming in) {
  coap__mm_dedup *entry = coap__mm_dedup_get(mm, in);
  return entry != NULL ? &entry->remote : NULL;
}

/* A datagram that did not decode, or carries a code its type cannot. */
static void reject_malformed(coap__mm *mm, const uint8_t *data, size_t len,
                             const coap_remote *remote) {
  mm->stats.malformed++;
  /* RFC 7252 §4.2: a CON that cannot be processed is rejected with a
   * matching RST; §4.3 says to silently ignore anything else. */
  if (len >= COAP_HEADER_LENGTH && data[0] >> 6 == 1 &&
      ((data[0] >> 4) & 3) == COAP_TYPE_CON)
    coap__mm_emit_empty(mm, remote, COAP_TYPE_RST,
                        (uint16_t)(data[2] << 8 | data[3]), NULL);
}

/* RFC 7252 §4.5: a duplicate CON gets the same ACK or RST again; a
 * duplicate NON is dropped, and neither is processed twice. */
static void answer_duplicate(coap__mm *mm, const coap__mm_dedup *entry,
                             const coap_message *msg) {
  mm->stats.duplicates++;
  if (msg->mtype == COAP_TYPE_CON && entry->reply_len > 0)
    coap__mm_emit(mm, &msg->remote, entry->reply, entry->reply_len);
}

static void handle_empty(coap__mm *mm, coap_message *msg, uint64_t now) {
  coap__mm_out *rec;
  switch (msg->mtype) {
  case COAP_TYPE_CON:
    /* RFC 7252 §4.3: an Empty CON is a ping, answered with RST. */
    coap__mm_emit_empty(mm, &msg->remote, COAP_TYPE_RST, (uint16_t)msg->mid,
                        NULL);
    return;
  case COAP_TYPE_ACK:
  case COAP_TYPE_RST:
    rec = coap__mm_out_find(mm, &msg->remote, (uint16_t)msg->mid);
    if (rec == NULL && msg->mtype == COAP_TYPE_RST) {
      /* RFC 7252 §4.3: an RST may reject a NON; RFC 7641 §3.6: that is how
       * a client stops unwanted notifications. */
      void *owner =
          coap__mm_non_match_rst(mm, &msg->remote, (uint16_t)msg->mid, now);
      if (owner != NULL)
        coap__mm_peer_validate(mm, &msg->remote, now);
      if (owner != NULL && mm->cb.event != NULL)
        mm->cb.event(mm->user_data, owner, COAP__MM_RST, COAP_ERESET);
      return;
    }
    if (rec == NULL ||
        (msg->mtype == COAP_TYPE_ACK && rec->state != COAP__MM_OUT_FLIGHT))
      return; /* RFC 7252 §4.2: unmatched ACK/RST is silently ignored */
    /* It echoed a MID only sent to it: it receives what we send. */
    coap__mm_peer_validate(mm, &msg->remote, now);
    if (msg->mtype == COAP_TYPE_ACK)
      coap__mm_out_finish(mm, rec, COAP__MM_ACKED, 0);
    else
      coap__mm_out_finish(mm, rec, COAP__MM_RST, COAP_ERESET);
    coap__mm_out_pump(mm, &msg->remote, now);
    return;
  default:
    return; /* RFC 7252 §4.3: a NON is never Empty; ignore it */
  }
}

/*
 * RFC 7252 §4.5: a CON or NON seen before (same remote and MID) is answered
 * as the first one was and goes no further (NULL).  A new one gets its
 * cache entry, of con_kind or non_kind.  NULL too when out of memory: a CON
 * comes again, a NON may be lost.
 */
static coap__mm_dedup *admit(coap__mm *mm, coap_message *msg, uint8_t con_kind,
                             uint8_t non_kind, uint64_t now) {
  const uint16_t mid = (uint16_t)msg->mid;
  coap__mm_dedup *entry = coap__mm_dedup_find(mm, &msg->remote, mid);
  if (entry != NULL) {
    answer_duplicate(mm, entry, msg);
    return NULL;
  }
  /* RFC 7252 §5.1, RFC 8132 §2: POST and PATCH are not idempotent. */
  const bool keep = msg->code == COAP_CODE_POST || msg->code == COAP_CODE_PATCH;
  return coap__mm_dedup_add(mm, &msg->remote, mid,
                            msg->mtype == COAP_TYPE_CON ? con_kind : non_kind,
                            keep, now);
}

static void handle_request(coap__mm *mm, coap_message *msg, uint64_t now) {
  coap__mm_dedup *entry = admit(mm, msg, COAP__MM_DEDUP_CON_REQUEST,
                                COAP__MM_DEDUP_NON_REQUEST, now);
  if (entry == NULL)
    return;
  if (msg->mtype == COAP_TYPE_CON) {
    /* Counted until answered, so that coap__mm_peer_outgoing sees the work
     * a peer has asked for before any of it is sent. */
    entry->owed = coap__mm_peer_owe(mm, &msg->remote);
    uint64_t delay = mm->config.empty_ack_delay_ms;
    uint64_t at = now > UINT64_MAX - delay ? UINT64_MAX : now + delay;
    if (coap__heap_schedule(&mm->heap, &entry->ack_timer.node, at) < 0)
      coap__mm_dedup_send_empty_ack(mm, entry);
  }
  coap__mm_incoming in = {entry->slot, entry->gen};
  mm->cb.request(mm->user_data, msg, in);
}

static void handle_piggybacked(coap__mm *mm, coap_message *msg, uint64_t now) {
  coap__mm_out *rec = coap__mm_out_find(mm, &msg->remote, (uint16_t)msg->mid);
  if (rec == NULL || rec->state != COAP__MM_OUT_FLIGHT)
    return; /* RFC 7252 §4.2: unmatched ACK is silently ignored */
  coap__mm_peer_validate(mm, &msg->remote, now);
  coap__mm_out_finish(mm, rec, COAP__MM_ACKED, 0);
  (void)mm->cb.response(mm->user_data, msg);
  coap__mm_out_pump(mm, &msg->remote, now);
}

static void handle_response(coap__mm *mm, coap_message *msg, uint64_t now) {
  coap__mm_dedup *entry = admit(mm, msg, COAP__MM_DEDUP_CON_RESPONSE,
                                COAP__MM_DEDUP_NON_RESPONSE, now);
  if (entry == NULL)
    return;
  const bool con = msg->mtype == COAP_TYPE_CON;
  const uint32_t slot = entry->slot, gen = entry->gen;
  bool matched = mm->cb.response(mm->user_data, msg);
  uint8_t reply[4];
  if (matched) /* it answered a token only sent to it */
    coap__mm_peer_validate(mm, &msg->remote, now);
  if (matched && !con)
    return;
  /* RFC 7252 §4.2 and §4.3, RFC 7641 §3.6: a response nobody wanted is
   * rejected with RST, so the server stops sending it. */
  coap__mm_emit_empty(mm, &msg->remote, matched ? COAP_TYPE_ACK : COAP_TYPE_RST,
                      (uint16_t)msg->mid, reply);
  if (matched)
    mm->stats.empty_acks++;
  /* The entry is still ours unless the callback made it go away. */
  entry = mm->dedup_slots[slot];
  if (con && entry->in_use && entry->gen == gen)
    (void)coap__mm_dedup_set_reply(entry, reply, sizeof reply);
}

void coap__mm_recv(coap__mm *mm, const uint8_t *data, size_t len,
                   const coap_remote *remote, uint64_t now) {
  mm->stats.received++;
  coap__mm_dedup_expire(mm, now);
  coap__mm_amp_received(mm, remote, len, now);
  coap_message msg;
  coap_message_init(&msg);
  int r = coap_message_decode(&msg, data, len);
  if (r == COAP_ENOMEM)
    return;
  if (r < 0) {
    reject_malformed(mm, data, len, remote);
    return;
  }
  msg.remote = *remote;
  const uint8_t code = msg.code;
  if (coap__remote_via_multicast(remote) &&
      !(coap_code_is_request(code) && msg.mtype == COAP_TYPE_NON)) {
    /* RFC 7252 §8.1: a request by multicast is NON; a multicast CON, and
     * anything else sent to a group, is silently ignored. */
    mm->stats.multicast_ignored++;
    coap_message_clear(&msg);
    return;
  }
  if (code == COAP_CODE_EMPTY)
    handle_empty(mm, &msg, now);
  else if (coap_code_is_request(code) &&
           (msg.mtype == COAP_TYPE_CON || msg.mtype == COAP_TYPE_NON))
    handle_request(mm, &msg, now);
  else if (coap_code_is_response(code) && msg.mtype == COAP_TYPE_ACK)
    handle_piggybacked(mm, &msg, now);
  else if (coap_code_is_response(code) && msg.mtype != COAP_TYPE_RST)
    handle_response(mm, &msg, now);
  else
    /* A request in an ACK or RST, a response in an RST, or a reserved
     * class (1, 6, 7): RFC 7252 §4.2, §4.3 message format errors. */
    reject_malformed(mm, data, len, remote);
  coap_message_clear(&msg);
}

void coap__mm_tick(coap__mm *mm, uint64_t now) {
  /* Queued CONs wait at UINT64_MAX; a clock there must not wake them. */
  if (now == UINT64_MAX)
    now--;
  coap__heap_node *node;
  while ((node = coap__heap_pop_due(&mm->heap, now)) != NULL) {
    coap__mm_timer *timer = coap__container_of(node, coap__mm_timer, node);
    if (timer->kind == COAP__MM_TIMER_OUT)
      coap__mm_out_timer(mm, coap__container_of(timer, coap__mm_out, timer),
                         now);
    else
      coap__mm_dedup_send_empty_ack(
          mm, coap__container_of(timer, coap__mm_dedup, ack_timer));
  }
  coap__mm_dedup_expire(mm, now);
  coap__mm_non_expire(mm, now);
  coap__mm_mid_expire(mm, now);
}

uint64_t coap__mm_next_deadline(const coap__mm *mm) {
  uint64_t heap = coap__heap_next_deadline(&mm->heap);
  uint64_t expiry = coap__mm_dedup_next_expiry(mm);
  return heap < expiry ? heap : expiry;
}

void coap__mm_get_stats(const coap__mm *mm, coap__mm_stats *out) {
  *out = mm->stats;
}
