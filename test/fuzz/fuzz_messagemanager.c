/*
 * libFuzzer target for the message layer (sans-I/O, so no sockets and no
 * clock): the input is a script of datagrams from a few peers, clock steps
 * and sends of our own.  Requests are answered at once, later, or never;
 * responses are claimed or not.  Nothing may crash, leak or trip a
 * sanitizer, whatever the script.
 *
 * Script, one byte of opcode each step:
 *   0..3  a datagram from peer (op & 3): next byte is its length, then data
 *   4     advance the clock by the next byte * 97 ms, then tick
 *   5     send a CON GET of ours to peer (next byte & 3)
 *   6     answer the oldest pending request, if any
 *   7     kill every exchange with peer (next byte & 3)
 */
#include "messagemanager.h"

#include <aiocoap/aiocoap.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { PEERS = 4, PENDING = 16 };

typedef struct state {
  coap__mm *mm;
  coap__mm_incoming pending[PENDING];
  uint8_t pending_token[PENDING][8];
  uint8_t pending_token_len[PENDING];
  size_t npending;
  uint64_t now;
  int owners[8];
  bool respond_now;
} state;

static void on_send(void *ud, const coap_remote *remote, const uint8_t *d,
                    size_t len) {
  (void)ud;
  (void)remote;
  /* Whatever we send must decode: the layer only emits valid messages. */
  coap_message m;
  coap_message_init(&m);
  if (coap_message_decode(&m, d, len) != 0)
    abort();
  coap_message_clear(&m);
}

static void answer(state *s, coap__mm_incoming in, const uint8_t *token,
                   size_t token_len) {
  coap_message resp;
  coap_message_init(&resp);
  resp.code = COAP_CODE_CONTENT;
  coap_message_set_token(&resp, token, token_len);
  coap_message_set_payload_borrowed(&resp, "fuzz", 4);
  (void)coap__mm_respond(s->mm, in, &resp, NULL, s->now);
  coap_message_clear(&resp);
}

static void on_request(void *ud, coap_message *msg, coap__mm_incoming in) {
  state *s = ud;
  s->respond_now = !s->respond_now;
  if (s->respond_now) {
    answer(s, in, msg->token, msg->token_len);
  } else if (s->npending < PENDING) {
    s->pending[s->npending] = in;
    memcpy(s->pending_token[s->npending], msg->token, msg->token_len);
    s->pending_token_len[s->npending] = msg->token_len;
    s->npending++;
  }
}

static bool on_response(void *ud, coap_message *msg) {
  (void)ud;
  return msg->token_len > 0 && (msg->token[0] & 1);
}

static void on_event(void *ud, void *owner, coap__mm_event ev, int err) {
  (void)ud;
  (void)owner;
  (void)ev;
  (void)err;
}

static coap_remote peer(uint8_t n) {
  coap_remote r;
  memset(&r, 0, sizeof r);
  r.addr.sin6_family = AF_INET6;
  r.addr.sin6_addr = in6addr_loopback;
  r.addr.sin6_port = htons((uint16_t)(5683 + (n & 3)));
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const coap__mm_callbacks cb = {on_send, on_request, on_response,
                                        on_event, NULL};
  coap__mm_config config = {
      .dedup_entries = 8,
      .max_outgoing = 8,
      .empty_ack_delay_ms = 100,
      .max_datagram_size = 1152,
  };
  coap_transmission_parameters_default(&config.transmission);
  config.transmission.nstart = 2;
  state s = {0};
  s.now = 1000;
  if (coap__mm_new(&config, &cb, &s, 42, &s.mm) != 0)
    return 0;
  size_t i = 0;
  while (i < size) {
    uint8_t op = data[i++] & 7;
    uint8_t arg = i < size ? data[i] : 0;
    if (op <= 3) {
      size_t len = i < size ? data[i++] : 0;
      if (len > size - i)
        len = size - i;
      coap_remote from = peer(op);
      coap__mm_recv(s.mm, data + i, len, &from, s.now);
      i += len;
    } else if (op == 4) {
      i++;
      s.now += (uint64_t)arg * 97;
      coap__mm_tick(s.mm, s.now);
    } else if (op == 5) {
      i++;
      coap_message req;
      coap_message_init(&req);
      req.code = COAP_CODE_GET;
      req.remote = peer(arg);
      uint8_t token[2] = {arg, (uint8_t)i};
      coap_message_set_token(&req, token, sizeof token);
      (void)coap__mm_send(s.mm, &req, &s.owners[arg & 7], s.now);
      coap_message_clear(&req);
    } else if (op == 6) {
      if (s.npending > 0) {
        s.npending--;
        answer(&s, s.pending[s.npending], s.pending_token[s.npending],
               s.pending_token_len[s.npending]);
      }
    } else {
      i++;
      coap_remote who = peer(arg);
      coap__mm_kill(s.mm, &who, COAP_EKILLED);
    }
    /* The deadline is always in the future or now, never behind. */
    uint64_t next = coap__mm_next_deadline(s.mm);
    if (next < s.now)
      coap__mm_tick(s.mm, s.now);
  }
  coap__mm_free(s.mm);
  return 0;
}
