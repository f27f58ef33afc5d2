/*
 * aiocoap-c — the context (aiocoap.protocol.Context): CoAP on one libuv
 * loop, for clients and servers, over every transport it holds.
 *
 * A context belongs to one uv_loop_t and is used from that loop's thread
 * only.  It owns its endpoints (each a transport bound to an address: coap
 * over UDP, coaps over DTLS; every socket IPv6 with IPV6_V6ONLY off, so
 * IPv4 peers are reached as ::ffff:a.b.c.d), one timer and every exchange.
 * A request goes by the endpoint its URI's scheme names (a client context
 * opens one per scheme with the first request that needs it), or by the
 * one its remote came from; answers leave by the endpoint the request came
 * in on.
 */
#ifndef AIOCOAP_CONTEXT_H
#define AIOCOAP_CONTEXT_H

#include "common.h"
#include "credentials.h"
#include "future.h"
#include "message.h"
#include "numbers.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct coap_context coap_context;
typedef struct coap_site coap_site;
typedef struct coap_request coap_request;

typedef enum coap_log_level {
  COAP_LOG_ERROR,
  COAP_LOG_WARNING,
  COAP_LOG_INFO,
  COAP_LOG_DEBUG
} coap_log_level;

/* Log sink: the library never prints.  message is NUL-terminated, borrowed
 * for the call. */
typedef void (*coap_log_cb)(coap_log_level level, const char *message,
                            void *user_data);

/* Every limit and tunable of a context, with defaults from
 * coap_context_config_default. */
/*
 * A server's choice of PSK for the identity a DTLS client presents (RFC
 * 4279 §5.1), asked before the server credentials are: write the key to
 * key (at most cap bytes) and return its length; return 0 to leave it to
 * the server credentials, or a negative COAP_E* code to refuse the identity
 * (the handshake fails with an unknown_psk_identity alert).  identity is
 * NUL-terminated, borrowed for the call.  Called synchronously from inside
 * the handshake, so it must answer at once and must not call into the
 * context (no requests, no shutdown).
 */
typedef int (*coap_dtls_psk_lookup_cb)(const uint8_t *identity, size_t len,
                                       uint8_t *key, size_t cap,
                                       void *user_data);

typedef struct coap_context_config {
  /* RFC 7252 §4.8; nstart is the number of CON messages outstanding to one
   * peer at a time (default 1, as the RFC says; more queue). */
  coap_transmission_parameters transmission;
  /* Token length for new requests, 1..8 (default 8). */
  uint8_t token_length;
  /* Largest datagram received or sent (default 1500). */
  uint32_t max_datagram_size;
  /* Datagrams read with one recvmmsg / sent with one sendmmsg (default 32). */
  uint32_t batch_size;
  /* Deduplication entries kept (default 16384; about 200 bytes each with
   * their stored replies): entries expire after EXCHANGE_LIFETIME /
   * NON_LIFETIME; when all are taken the oldest goes first, those of POST
   * and PATCH requests only when no other is left, and each such eviction
   * is counted (dedup_evictions in the stats).  Sized for the request rate
   * times EXCHANGE_LIFETIME (247 s) it never evicts. */
  uint32_t dedup_entries;
  /* Outgoing messages the context holds across all peers (default 4096):
   * CONs in flight, NON requests awaiting their response (see
   * nstart_counts_non), and messages queued for NSTART or a free MID.
   * Beyond, a request fails with COAP_ELIMIT. */
  uint32_t max_outgoing_exchanges;
  /* A request not answered within this time sends an empty ACK and the
   * response follows separately (default EMPTY_ACK_DELAY, 100 ms). */
  uint32_t empty_ack_delay_ms;
  /* Largest Block1 body reassembled for a resource (default 1 MiB); beyond,
   * 4.13 Request Entity Too Large with Size1. */
  uint32_t max_body_size;
  /* Block size exponent offered by the server and used by the client
   * (default DEFAULT_BLOCK_SIZE_EXP, 1024 bytes). */
  uint8_t block_size_exp;
  /* Block1 uploads reassembled at once (default 64).  When all are taken,
   * a new upload from a peer below its own limit pushes out the upload
   * idle longest; one from a peer at max_block1_reassemblies_per_peer
   * (default 4) is refused with 5.03 Service Unavailable and a Max-Age
   * of block1_idle_timeout_ms.  An upload with no block for
   * block1_idle_timeout_ms (default 30000: the retransmissions of four
   * ACK timeouts) is given up (RFC 7959 §2.5; aiocoap's
   * WaitingForClientTimedOut): a later block gets 4.08. */
  uint32_t max_block1_reassemblies;
  uint32_t max_block1_reassemblies_per_peer;
  uint32_t block1_idle_timeout_ms;
  /* Rendered representations kept so that later Block2 blocks are served
   * without rendering again (default 32), each until EXCHANGE_LIFETIME
   * after its last block was asked for; 0 keeps none. */
  uint32_t max_block2_cached;
  /* Observers per resource and in the whole context (defaults 1024 and
   * 65536); beyond, a resource is served without Observe. */
  uint32_t max_observers_per_resource;
  uint32_t max_observers;
  /* RFC 7641 §4.5: every this many notifications to an observer one is
   * CON, the rest NON (default 20; 1 makes all CON, 0 leaves only the CON
   * sent at least every 24 hours). */
  uint32_t notification_con_interval;
  /* NON messages sent for an exchange or observation remembered for
   * NON_LIFETIME so that an RST rejecting one is matched (RFC 7641 §3.6:
   * how a client stops notifications); default 65536, and never fewer than
   * max_observers (so that every observer's notification is matched), the
   * oldest forgotten first; 0 remembers none. */
  uint32_t non_rst_entries;
  /* Client observations: notifications kept for coap_observation_next
   * while nobody waits (default 16, the oldest dropped first), and how long
   * after Max-Age of the newest notification has run out the observation
   * re-registers (RFC 7641 §3.3.1; default 2000 ms). */
  uint32_t max_queued_notifications;
  uint32_t reregister_margin_ms;
  /* Log sink and the most verbose level passed to it (default none). */
  coap_log_cb log;
  coap_log_level log_level;
  void *log_user_data;
  /* RFC 7252 §4.4: a message ID is not used again with the same peer
   * within EXCHANGE_LIFETIME (for NON messages too, since peers such as
   * Californium deduplicate those as long).  Each peer has its own MID
   * tracker; when its 65,536 MIDs are used up (about 265 messages a second
   * sustained to one peer), further messages to it wait for a free MID
   * (counted in coap_context_stats.mid_waits) instead of reusing one.
   * Default true; false uses one bare counter for all peers (Californium's
   * null tracker), which lets a fast sender's 65,537th message be taken for
   * a duplicate of its first. */
  bool mid_tracking;
  /* Peers with a MID tracker of their own (about 250 bytes each, made on
   * demand and forgotten once idle for EXCHANGE_LIFETIME; default 65536).
   * Peers beyond share one tracker: still safe, but their messages then
   * share one peer's rate. */
  uint32_t mid_tracked_peers;
  /* RFC 7252 §4.7: a NON request waiting for its response is an
   * outstanding interaction, so it counts for transmission.nstart like a
   * CON until its response arrives, it ends, or NON_LIFETIME passes
   * (default true, as the RFC says; false counts CONs only). */
  bool nstart_counts_non;
  /* Socket buffer sizes asked of the kernel, in bytes (SO_RCVBUF and
   * SO_SNDBUF; default COAP_SOCKET_BUFFER_DEFAULT, 4 MiB, each; 0 keeps the
   * system's default, net.core.rmem_default / wmem_default).  A burst of
   * requests larger than the receive buffer holds is dropped by the kernel
   * before the loop can read it (kernel_drops in the stats).  Linux caps
   * these at net.core.rmem_max / wmem_max (212992 by default) unless the
   * process has CAP_NET_ADMIN, in which case SO_RCVBUFFORCE / SO_SNDBUFFORCE
   * lift the cap; raise the sysctls (sysctl -w net.core.rmem_max=4194304)
   * to get more unprivileged.  What was granted is in the stats and logged
   * at COAP_LOG_INFO. */
  uint32_t socket_rcvbuf;
  uint32_t socket_sndbuf;
  /* Observations held by one client endpoint across all resources
   * (default 64); beyond, its registration is served without Observe, so
   * that one endpoint cannot take every slot of max_observers_per_resource
   * or max_observers; 0: no bound per endpoint.  See docs/limits.md for
   * how an endpoint that acknowledges nothing loses its observations. */
  uint32_t max_observers_per_peer;
  /* Outgoing messages held for one peer, counted as max_outgoing_exchanges
   * counts them (default 256, 1/16 of it: sixteen peers at their limit
   * still leave room for everyone else).  Beyond, a message to that peer
   * fails with COAP_ELIMIT, and a new CON request from that peer is
   * answered 5.03 Service Unavailable with Max-Age (RFC 7252 §5.9.3.4)
   * instead of taking work the server cannot deliver; 0: no bound but
   * max_outgoing_exchanges. */
  uint32_t max_outgoing_per_peer;
  /* RFC 7252 §4.7: NSTART for the separate CON responses and CON
   * notifications this context sends to one peer, counted apart from
   * transmission.nstart, which bounds the requests (default 4: a client
   * with several requests answered separately is not served one round trip
   * at a time, and a peer that acknowledges nothing still has at most four
   * CONs retransmitting; 0 uses transmission.nstart). */
  uint32_t nstart_responses;
  /* A message waiting for an NSTART slot gives up after this long: a CON
   * (a request, a separate response, a notification) fails with
   * COAP_ETIMEDOUT to its owner, as if it had been sent and never
   * acknowledged (default 0: MAX_TRANSMIT_WAIT of transmission, 93 s with
   * the RFC's values; UINT32_MAX waits for ever). */
  uint32_t queue_timeout_ms;
  /* How long a client waits for a separate response after the empty ACK
   * of its CON request (RFC 7252 §5.2.2 leaves it open; default 186000, two
   * MAX_TRANSMIT_WAIT: a server of this library may hold the response
   * queued for queue_timeout_ms and then retransmit it for
   * MAX_TRANSMIT_WAIT). */
  uint32_t separate_response_timeout_ms;
  /* RFC 7252 §11.3 anti-amplification, after QUIC (RFC 9000 §8.1): to a
   * peer not yet validated, everything beyond the first response to each
   * request (notifications, retransmissions of separate responses) is
   * sent only while the bytes of it stay within this many times the
   * bytes received from that peer; beyond, a notification waits (the
   * newest state goes later) and a retransmission is skipped as if lost
   * (stats.amplification_limited).  A peer is validated by an ACK or RST
   * to one of our CONs, an RST to a remembered NON, a response to one of
   * our requests, or a valid Echo (echo_first_response).  Default 3;
   * 0: no limit.  See docs/limits.md. */
  uint32_t amplification_factor;
  /* RFC 9175 §2.4: a request from an unvalidated peer whose response
   * would exceed amplification_factor times the request is answered 4.01
   * Unauthorized with an Echo option instead; the request repeated with
   * that Echo validates the peer and is served.  Default false: clients
   * that do not support Echo would only see 4.01. */
  bool echo_first_response;
  /* aiocoap's Context.client_credentials / server_credentials: the maps
   * coaps requests are looked up in (by URI) and coaps clients are checked
   * against (by PSK identity; the map's certificate entry is the server's
   * certificate).  Each is borrowed from the config and the context takes
   * a reference of its own; NULL gives the context an empty map of its own
   * (coap_context_client_credentials reaches it). */
  coap_credentials *client_credentials;
  coap_credentials *server_credentials;
  /* DTLS (coaps) sessions of each endpoint: held at once (default 1024),
   * of them handshaking (default 64; beyond, new ClientHellos are dropped
   * after the stateless cookie exchange of RFC 6347 §4.2.1), closed after
   * this long idle (default 300000 ms), given up when the handshake takes
   * longer than this (default 60000 ms).  psk_hint is the PSK identity hint
   * a server sends (RFC 4279 §2; default NULL, none; borrowed until the
   * context is created). */
  uint32_t dtls_max_sessions;
  uint32_t dtls_max_handshakes;
  uint32_t dtls_idle_timeout_ms;
  uint32_t dtls_handshake_timeout_ms;
  const char *dtls_psk_hint;
  /* See coap_dtls_psk_lookup_cb (default NULL: the server credentials
   * alone).  A coaps endpoint with a lookup needs no PSK entry. */
  coap_dtls_psk_lookup_cb dtls_psk_lookup;
  void *dtls_psk_lookup_data;
  /* aiocoap's dump_to: the path of a pcap file (created, or truncated) to
   * which the context writes every datagram it sends and receives on
   * every endpoint, coap and coaps (the DTLS records as on the wire),
   * with IPv4/IPv6 and UDP headers (LINKTYPE_RAW), so Wireshark and
   * tshark open it as it is.  Written after each batch of datagrams and
   * closed when the shutdown completes, before its callback.  Default
   * NULL, none; borrowed until the context is created.  Creation fails
   * with COAP_ENOTSUP in a build without libpcap, with -errno when the
   * file cannot be created. */
  const char *dump_to;
  /* RFC 7252 §8.2: a server answers a request that came by multicast at a
   * random point within its leisure, so that the group's answers do not
   * all arrive at once.  The leisure is S * G / R when both the group's
   * size G (multicast_group_size, servers) and the data rate R the
   * answers may take (multicast_data_rate, bytes per second) are set,
   * with S the answer's size; otherwise multicast_leisure_ms (default
   * DEFAULT_LEISURE, 5000; 0 answers at once).  A client's multicast
   * request waits multicast_leisure_ms + MAX_LATENCY by default. */
  uint32_t multicast_leisure_ms;
  uint32_t multicast_group_size;
  uint32_t multicast_data_rate;
} coap_context_config;

/* The default of socket_rcvbuf and socket_sndbuf: room for about 4,096
 * small datagrams, the largest burst of requests the defaults admit
 * (max_outgoing_exchanges), with the kernel's per-datagram overhead. */
#define COAP_SOCKET_BUFFER_DEFAULT (4u << 20)

/* Fills config with the defaults listed above. */
AIOCOAP_EXTERN void coap_context_config_default(coap_context_config *config);

/*
 * aiocoap's Context.create_client_context: a context bound to an ephemeral
 * port on [::].  config is copied (NULL for defaults).  Returns 0,
 * COAP_EINVAL, COAP_ENOMEM or a socket error (-errno).
 */
AIOCOAP_EXTERN int coap_context_create_client_context(
    uv_loop_t *loop, const coap_context_config *config, coap_context **out);

/*
 * aiocoap's Context.create_server_context: a context serving site (it takes
 * a reference of its own, dropped when it is freed, so the caller may
 * coap_site_unref its own at once) on bind, "HOST:PORT" as
 * coap_hostportsplit reads it ("[::]:5683" when NULL; port 0 picks one).  It
 * can send requests too.  Returns as the client variant, plus
 * COAP_EADDRINUSE.
 */
AIOCOAP_EXTERN int coap_context_create_server_context(
    uv_loop_t *loop, coap_site *site, const char *bind,
    const coap_context_config *config, coap_context **out);

/*
 * The context a message came in through: for the request a render function
 * is handed (and copies of it), the server context serving it; for a
 * response, the context that sent the request.  NULL for a message the
 * application made.  Borrowed; valid while that context lives.  So a render
 * function reaches its loop (coap_context_loop) and can send requests
 * without a global.
 */
AIOCOAP_EXTERN coap_context *coap_message_context(const coap_message *msg);

/* The loop, and the local address the context's first endpoint is bound
 * to (port resolved). */
AIOCOAP_EXTERN uv_loop_t *coap_context_loop(const coap_context *ctx);
AIOCOAP_EXTERN int coap_context_local_address(const coap_context *ctx,
                                              struct sockaddr_in6 *out);

/*
 * Adds a server endpoint to ctx (aiocoap's create_server_context with
 * several binds): bind is "coap://HOST:PORT", "coaps://HOST:PORT" or a bare
 * "HOST:PORT" (coap); a missing port is the scheme's default (5683, 5684),
 * port 0 picks one.  A coaps endpoint needs the server credentials to hold
 * a PSK entry or a certificate.  On failure a NUL-terminated reason goes to
 * err (cap bytes) when it is not NULL.  Returns 0, COAP_EURI_SCHEME (a
 * scheme this build does not serve), COAP_ECREDENTIALS, COAP_ERESOLVE,
 * COAP_EADDRINUSE, COAP_ESHUTDOWN, COAP_ENOMEM or a socket error.
 */
AIOCOAP_EXTERN int coap_context_bind(coap_context *ctx, const char *bind,
                                     char *err, size_t cap);

/* The local address of the index-th endpoint (0 first) serving scheme
 * ("coap", "coaps"): 0, COAP_ENOENT (no such endpoint) or COAP_ESHUTDOWN.
 * Client contexts open a coaps endpoint of their own with the first coaps
 * request. */
AIOCOAP_EXTERN int coap_context_endpoint_address(const coap_context *ctx,
                                                 const char *scheme,
                                                 unsigned index,
                                                 struct sockaddr_in6 *out);

/*
 * Joins the multicast group (text: an IPv6 group such as "ff02::fd", or an
 * IPv4 one such as "224.0.1.187") on the interface named ifname, or, when
 * ifname is NULL, on every interface that is up and multicast-capable, with
 * each of the context's coap endpoints (RFC 7252 §8; coaps has no
 * multicast).  What then arrives by the group: NON requests are served and
 * answered from a unicast address of ours; anything else (a CON, a
 * response, an empty message) is ignored, and nothing is answered with an
 * RST (§8.1).  Returns how many (socket, interface) memberships were made
 * (> 0), COAP_EINVAL (not a group address), COAP_ENODEV (no such
 * interface, or none is multicast-capable), COAP_ENOENT (no coap endpoint),
 * COAP_ESHUTDOWN or -errno from the kernel (-EADDRINUSE: already joined).
 */
AIOCOAP_EXTERN int coap_context_join_group(coap_context *ctx,
                                           const char *group,
                                           const char *ifname);

/* The maps the context looks credentials up in (see client_credentials in
 * coap_context_config).  Borrowed while the context lives; entries added
 * later apply to sessions started later. */
AIOCOAP_EXTERN coap_credentials *
coap_context_client_credentials(coap_context *ctx);
AIOCOAP_EXTERN coap_credentials *
coap_context_server_credentials(coap_context *ctx);

/* The scheme of the transport a message came in over ("coap", "coaps"),
 * "coap" for a message the application made.  Static storage. */
AIOCOAP_EXTERN const char *coap_remote_scheme(const coap_remote *remote);

/* The identity the peer of remote authenticated with over a secure
 * transport (its PSK identity, or its certificate's subject), written
 * NUL-terminated to buf: the length, COAP_ENOENT (not a secure session, or
 * no longer established) or COAP_ENOSPC. */
AIOCOAP_EXTERN int coap_remote_peer_identity(const coap_remote *remote,
                                             char *buf, size_t cap);

/* aiocoap's ExchangeMonitor: optional per-request callbacks.  Each fires from
 * the loop, never inside a library call (aiocoap.h), in the order the
 * events happened; any member may be NULL.  user_data must stay valid until
 * the request's futures have completed and their callbacks run. */
typedef struct coap_exchange_monitor {
  void (*enqueued)(void *user_data);
  void (*sent)(void *user_data);
  void (*retransmitted)(void *user_data);
  void (*timeout)(void *user_data);
  void (*rst)(void *user_data);
  void (*cancelled)(void *user_data);
  /* response (a copy the library keeps for the call) is borrowed for the
   * call. */
  void (*response)(const coap_message *response, void *user_data);
  void *user_data;
} coap_exchange_monitor;

/* Receives a response body piece by piece instead of having it assembled
 * (RFC 7959 §2.4 without max_body_size): see coap_request_params. */
typedef struct coap_body_sink {
  /* Called synchronously as each piece of the final response's body
   * arrives, in body order (offset is where data starts; each call's
   * offset is the previous one's plus its len), with a reference held on
   * the request: it may cancel or unref the request or shut the context
   * down (the effect follows after it returns, and no further write
   * comes).  response is the message the piece came in (borrowed for the
   * call: code, options such as Size2, Content-Format, ETag); the first
   * call comes for every final response, with len 0 when it has no
   * payload.  Return 0 to go on; a negative COAP_E* code ends the
   * transfer and the request fails with it.
   *
   * Offsets count within one response's body: when an unsuccessful
   * response (say 4.08 or 5.03) ends a Block2 transfer midway, it is the
   * final response, and its payload comes in a call at offset 0 with
   * response->code telling it apart from the blocks before.  data is
   * borrowed for the call (it points into the datagram) and never NULL. */
  int (*write)(void *user_data, const coap_message *response, uint64_t offset,
               const uint8_t *data, size_t len);
  void *user_data;
} coap_body_sink;

/* Provides a request body piece by piece (Block1, RFC 7959 §2.5) instead
 * of a payload held whole: see coap_request_params. */
typedef struct coap_body_source {
  /* Fills buf with up to len bytes of the body from offset and returns how
   * many (fewer than len only at the end of the body, 0 at its end), or a
   * negative COAP_E* code, which fails the request with it.  Called
   * synchronously, with offsets strictly sequential (each call's offset
   * is the previous one's plus what it returned), so stdin and pipes
   * work; the library holds at most one block of the body at a time.
   *
   * len is never more than one block (the largest read asked for is the
   * block size the transfer starts with); a short read is taken as the
   * end, so read is not called again after it.  Returning more than len
   * fails the request with COAP_EINVAL.  The first calls come from
   * coap_context_request itself (or, for a host name, once it resolves),
   * the rest as the server acknowledges blocks; like write, read may
   * cancel or unref the request or shut the context down. */
  ssize_t (*read)(void *user_data, uint64_t offset, uint8_t *buf, size_t len);
  /* The body's length when known, sent as Size1 (RFC 7959 §4); -1 when
   * unknown. */
  int64_t size;
  void *user_data;
} coap_body_source;

/* Parameters of one request; NULL means the defaults. */
typedef struct coap_request_params {
  /* Handle Block1/Block2 transparently (default true). */
  bool handle_blockwise;
  /* Copied; callbacks must outlive the request. */
  const coap_exchange_monitor *monitor;
  /* Streaming (default NULL for both).  Copied, as monitor is; user_data
   * must outlive the request.
   *
   * body_sink: every final response's body goes to write() (a one-block
   * response in one call, a Block2 sequence block by block; non-2.xx
   * responses too: the sink sees response->code), and max_body_size does
   * not apply; only RFC 7959 §2.2's 2**20 blocks bound it (1 GiB at 1024
   * bytes a block).  The response futures resolve with the last response
   * message with its payload emptied (Block2 removed, the first block's
   * Size2 kept).  Notifications of an observation are not streamed (the
   * first response to an observe request is).
   *
   * body_source: the message's own payload must be empty and it must not
   * carry Block1.  A body that fits one block is sent as a plain request
   * (no Block1): the library reads ahead up to one block + 1 byte before
   * deciding.  Larger bodies go as Block1 with Size1 when size >= 0 (a
   * known size beyond 2**20 blocks fails with COAP_ELIMIT before anything
   * is read).  A read error fails the request with the read's code, and
   * nothing further is sent.
   *
   * Both need handle_blockwise true; otherwise (and when write or read is
   * NULL) coap_context_request returns COAP_EINVAL. */
  const coap_body_sink *body_sink;
  const coap_body_source *body_source;
} coap_request_params;

AIOCOAP_EXTERN void coap_request_params_default(coap_request_params *params);

/*
 * aiocoap's Context.request: sends msg (takes ownership; it must come from
 * coap_message_new, and is freed even on error) and returns the request
 * through *out with one reference for the caller (coap_request_unref).
 * The destination comes from the message's remote if set, else from its
 * unresolved remote or Uri-Host/Uri-Port (resolved with uv_getaddrinfo).
 * mtype unset means CON.  Returns 0, COAP_EINVAL (no destination, not a
 * request code, streaming parameters that do not fit: see
 * coap_request_params), COAP_ENOMEM or COAP_ESHUTDOWN (coap_context_shutdown
 * has begun; callbacks it caused may still call this and get that).  A request
 * that cannot get a token of its own (token_length 1 or 2 with every token in
 * use) fails through its future with COAP_ELIMIT.  Failures after this call
 * arrive through the response future.
 */
AIOCOAP_EXTERN int coap_context_request(coap_context *ctx, coap_message *msg,
                                        const coap_request_params *params,
                                        coap_request **out);

/*
 * aiocoap's kill_transactions: fails every pending exchange with remote with
 * err (COAP_EKILLED when 0).  Observations with remote end as well: the
 * server's observers there are dropped, the client's observations of it
 * fail with err.  Returns how many requests were failed.
 */
AIOCOAP_EXTERN size_t coap_context_kill_transactions(coap_context *ctx,
                                                     const coap_remote *remote,
                                                     int err);

/*
 * Fires once the context has closed every handle and every callback the
 * shutdown caused has run, from the loop.  The context is freed right after
 * the callback returns.
 */
typedef void (*coap_context_shutdown_cb)(coap_context *ctx, void *user_data);

/*
 * aiocoap's Context.shutdown: fails every pending request and observation
 * with COAP_ESHUTDOWN, drops server state and closes the handles.  When cb
 * has fired (cb may be NULL) the loop has nothing of the context left alive.
 * Calling it twice is harmless.
 */
AIOCOAP_EXTERN void coap_context_shutdown(coap_context *ctx,
                                          coap_context_shutdown_cb cb,
                                          void *user_data);

/* Counters for tests and tools (read-only snapshot). */
typedef struct coap_context_stats {
  uint64_t datagrams_received;
  uint64_t datagrams_sent;
  uint64_t malformed_dropped;
  uint64_t duplicates;
  uint64_t retransmissions;
  uint64_t requests_handled;
  uint64_t separate_responses;
  uint64_t rst_sent;
  uint64_t icmp_errors;
  /* Messages that waited for a free message ID because every MID had been
   * used with their peer within EXCHANGE_LIFETIME (mid_tracking). */
  uint64_t mid_waits;
  /* Deduplication entries forgotten before their lifetime ended because
   * dedup_entries were all taken (RFC 7252 §4.5 no longer holds for
   * them: a duplicate would be processed again).  Entries of POST and
   * PATCH requests go last. */
  uint64_t dedup_evictions;
  /* Datagrams the kernel dropped on the socket because its receive buffer
   * was full (or for lack of memory): the socket's cumulative count as the
   * latest datagram received carried it (SO_RXQ_OVFL, socket(7)), so a
   * drop shows once a later datagram has been read. */
  uint64_t kernel_drops;
  /* The socket buffer sizes the kernel granted, as getsockopt reports them:
   * Linux doubles the value set, for its bookkeeping overhead, and caps it
   * (see socket_rcvbuf in coap_context_config). */
  uint64_t socket_rcvbuf;
  uint64_t socket_sndbuf;
  /* Messages that gave up waiting for an NSTART slot (queue_timeout_ms). */
  uint64_t queue_expired;
  /* Messages refused because their peer held max_outgoing_per_peer. */
  uint64_t peer_outgoing_limited;
  /* CON requests answered 5.03 because their peer held
   * max_outgoing_per_peer messages. */
  uint64_t peer_busy_refusals;
  /* Registrations served without Observe because their endpoint held
   * max_observers_per_peer observations. */
  uint64_t peer_observers_refused;
  /* Notifications not sent to an observer that had acknowledged nothing
   * for MAX_TRANSMIT_WAIT while no CON could be sent (the newest state
   * goes once one can). */
  uint64_t notifications_deferred;
  /* Datagrams (notifications, retransmissions of separate responses) not
   * sent to an unvalidated peer because they would exceed
   * amplification_factor times what it had sent. */
  uint64_t amplification_limited;
  /* RFC 9175 §2.4 (echo_first_response): responses replaced with 4.01 and
   * an Echo, and requests whose valid Echo validated their peer. */
  uint64_t echo_challenges;
  uint64_t echo_validated;
  /* Datagrams sent to a group this context joined that were not NON
   * requests (a CON, a response, an empty message), ignored as RFC 7252
   * §8.1 says. */
  uint64_t multicast_ignored;
  /* Answers to multicast requests held back for the leisure (§8.2). */
  uint64_t leisure_delayed;
} coap_context_stats;

AIOCOAP_EXTERN void coap_context_get_stats(const coap_context *ctx,
                                           coap_context_stats *out);

#ifdef __cplusplus
}
#endif

#endif
