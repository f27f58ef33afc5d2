/*
 * The server side's observation record, shared by observation_server.c
 * (registrations and notifications) and observation_table.c (the table of
 * observers by (remote, token) and by remote).  Never installed.
 */
#ifndef AIOCOAP_OBSERVATION_SERVER_INTERNAL_H
#define AIOCOAP_OBSERVATION_SERVER_INTERNAL_H

#include "observation-internal.h"

enum { OBS_PENDING, OBS_ACTIVE, OBS_ENDED };

struct coap_server_observation {
  coap__owner_kind kind; /* first: the message layer's owner tag */
  unsigned refs;         /* the table's, and a render in progress */
  coap_context *ctx;
  struct coap_server_observation *hash_next;
  uint64_t hash;
  struct coap_server_observation *peer_next; /* in peer_buckets */
  uint64_t peer_hash;
  coap__queue starved_link;  /* in o->starved while waiting for a slot */
  coap__queue resource_link; /* the observable's observers, once accepted */
  coap_resource *resource;   /* a reference while linked */
  coap__timer soon;          /* a notification owed right after the response */
  struct notification_render *rendering;
  coap_server_observation_cancel_cb cancel_cb;
  void *cancel_data;
  void *cancel_record; /* reserved at accept, so that cancel_cb fires */
  coap_remote remote;
  uint64_t last_con_at;
  uint64_t last_heard;  /* its registration or the last ACK it sent */
  coap__mm_incoming in; /* the (re-)registration being answered */
  uint32_t seq;         /* the last Observe value sent */
  uint32_t since_con;   /* notifications since the last CON */
  uint8_t *request;     /* the registration in wire form */
  uint16_t request_len;
  uint8_t token[COAP_TOKEN_MAX_LENGTH];
  uint8_t token_len;
  uint8_t state;
  bool accepted;
  bool answering;       /* the response to in is still to go out */
  bool dirty;           /* state changed while a notification could not go */
  bool con_outstanding; /* a CON notification awaits its ACK */
  bool mid_blocked;     /* replacing it found no free MID: wait for the ACK */
  bool used_mm;         /* the message layer may hold records owned by us */
  /* Some CON notification to this remote has been retransmitted and not
   * yet acknowledged: the peer may be gone, so no more NONs to it. */
  bool peer_silent;
  bool starved; /* in o->starved */
  /* The registration's No-Response classes (RFC 7967): notifications are
   * its responses, so these are not sent either. */
  uint8_t no_response;
};

/* The observation of (remote, token), or NULL. */
coap_server_observation *coap__obs_find(const coap__observations *o,
                                        const coap_remote *remote,
                                        const uint8_t *token, size_t len);
/* 0 or COAP_ENOMEM. */
int coap__obs_table_insert(coap__observations *o, coap_server_observation *obs);
void coap__obs_table_remove(coap__observations *o,
                            coap_server_observation *obs);
/* The observations of remote: the first, and the one after s; NULL at the
 * end.  Each step costs O(1) on average. */
coap_server_observation *coap__obs_peer_first(const coap__observations *o,
                                              const coap_remote *remote);
coap_server_observation *coap__obs_peer_next(const coap_server_observation *s,
                                             const coap_remote *remote);
/* Accepted observations held by remote; O(its observations). */
size_t coap__obs_peer_accepted(const coap__observations *o,
                               const coap_remote *remote);

#endif
