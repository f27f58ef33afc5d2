/*
 * The insides of coap_request, shared by request.c (exchange, futures) and
 * request_blockwise.c (RFC 7959 on the client side).
 */
#ifndef AIOCOAP_REQUEST_INTERNAL_H
#define AIOCOAP_REQUEST_INTERNAL_H

#include "context-internal.h"

typedef enum coap__request_state {
  COAP__REQ_RESOLVING,
  COAP__REQ_WAITING,
  COAP__REQ_DONE
} coap__request_state;

struct coap__request_blockwise;

struct coap_request {
  coap__owner_kind kind; /* first: the message layer's owner tag */
  unsigned refs;
  coap_context *ctx; /* NULL once done */
  uv_loop_t *loop;
  coap__scheduler *scheduler; /* a reference: futures and monitor calls */
  coap__queue link;           /* ctx->requests while live */
  coap_message *msg;          /* the application's request, owned */
  struct sockaddr_in6 remote;
  /* The endpoint (transport) the request goes by, chosen by its URI's
   * scheme or named by the message's remote; remote_given says the latter
   * (a peer known from an exchange, a session that may already exist). */
  struct coap__transport *endpoint;
  bool remote_given;
  char *host;         /* the URI's host, for a secure transport's checks */
  char *error_detail; /* coap_request_error_detail */
  coap__token_entry token;
  bool in_token_map;
  bool in_mm; /* the message layer holds a CON of ours */
  bool handle_blockwise;
  bool localhost; /* the host is localhost: loopback if it does not resolve */
  coap__request_state state;
  coap__timer timeout;
  uv_getaddrinfo_t *resolving;
  char *uri; /* the request URI, for responses' get_request_uri */
  coap_exchange_monitor monitor;
  coap_future *response, *raising, *nonraising;
  int final_err;
  coap_message *final_msg;
  bool final_msg_handed_out; /* one future has final_msg itself */
  struct coap__request_blockwise *blockwise;
  /* A GET or FETCH with Observe 0: its observation (one reference), which
   * takes the token over after a first response with Observe
   * (observation_client.c). */
  struct coap_observation *observation;
  /* The message last handed to the message layer (the application's, or
   * the blockwise template), and whether it has been repeated with an
   * Echo already (RFC 9175 §2.3: once per request). */
  coap_message *sent;
  bool echo_retried;
  /* Streaming (coap_request_params): copies; write / read NULL when not
   * used.  Either callback runs with a reference held on the request
   * (request.c takes it around every entry into request_blockwise.c). */
  coap_body_sink sink;
  coap_body_source source;
};

/* request.c */
int coap__request_send(coap_request *req, coap_message *msg);
void coap__request_complete(coap_request *req, int err, coap_message *msg);
/* The final response msg ends the request: a copy goes to the futures,
 * without payload when the request streams into a sink (the sink has had
 * it). */
void coap__request_finish_with(coap_request *req, const coap_message *msg);
/* A copy of msg for the futures (*out), labelled with the request's URI,
 * with or without msg's payload.  0 or COAP_ENOMEM. */
int coap__request_copy_response(const coap_request *req,
                                const coap_message *msg, bool with_payload,
                                coap_message **out);

/* request_blockwise.c: starts the exchange (first block, or the whole
 * request), and takes every response for it. */
int coap__request_blockwise_start(coap_request *req);
void coap__request_blockwise_response(coap_request *req, coap_message *msg);
void coap__request_blockwise_free(coap_request *req);

#endif
