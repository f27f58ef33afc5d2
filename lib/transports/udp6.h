/*
 * The UDP transport: one non-blocking IPv6 socket (IPV6_V6ONLY off) driven by
 * a uv_poll_t, receiving with recvmmsg and sending with sendmmsg, with
 * IPV6_PKTINFO so replies leave from the address the request arrived on, and
 * the error queue (IPV6_RECVERR / IP_RECVERR) so ICMP errors reach the
 * pending exchanges at once.
 */
#ifndef AIOCOAP_UDP6_H
#define AIOCOAP_UDP6_H

#include <aiocoap/message.h>

#include <netinet/in.h>
#include <uv.h>

typedef struct coap__udp6 coap__udp6;

typedef struct coap__udp6_callbacks {
  /* One datagram; data is borrowed for the call (it points into the
   * receive ring). remote->has_local is set from IPV6_PKTINFO. */
  void (*recv)(void *user_data, const uint8_t *data, size_t len,
               const coap_remote *remote);
  /* An ICMP error for a datagram we sent to remote, or a send to remote
   * the kernel refused for good (no route, no such local address,
   * forbidden): err is -errno (COAP_ECONNREFUSED for port unreachable,
   * COAP_EHOSTUNREACH, COAP_ENETUNREACH, COAP_EADDRNOTAVAIL, ...).
   * Refused sends are reported from coap__udp6_flush, never from inside
   * coap__udp6_send. */
  void (*error)(void *user_data, const coap_remote *remote, int err);
  /* After each receive batch has been delivered (a point to flush). */
  void (*batch_done)(void *user_data);
} coap__udp6_callbacks;

/*
 * Opens and binds the socket.  bind_addr NULL means [::]:0.  batch is the
 * number of datagrams per recvmmsg/sendmmsg, max_datagram the buffer size
 * of each.  Returns 0 or -errno (COAP_EADDRINUSE, ...).
 */
int coap__udp6_open(uv_loop_t *loop, const struct sockaddr_in6 *bind_addr,
                    const coap__udp6_callbacks *callbacks, void *user_data,
                    uint32_t batch, uint32_t max_datagram, coap__udp6 **out);

/*
 * Queues a datagram for remote (copied into the send ring; from
 * remote->local_addr when has_local).  The ring is flushed with sendmmsg
 * when full, by coap__udp6_flush, and before the loop next blocks.
 * Returns 0 or COAP_EMSGSIZE.
 */
int coap__udp6_send(coap__udp6 *t, const coap_remote *remote,
                    const uint8_t *data, size_t len);
void coap__udp6_flush(coap__udp6 *t);

/* The user_data the transport was opened with (its context). */
void *coap__udp6_user_data(const coap__udp6 *t);

int coap__udp6_local_address(const coap__udp6 *t, struct sockaddr_in6 *out);

/* Flushes, closes the handles and frees t; closed(user_data) fires from the
 * loop when done. */
void coap__udp6_close(coap__udp6 *t, void (*closed)(void *user_data));

/*
 * Asks the kernel for socket buffers of rcvbuf and sndbuf bytes (0 leaves
 * one as it is): SO_RCVBUFFORCE / SO_SNDBUFFORCE where the process may
 * (CAP_NET_ADMIN), else SO_RCVBUF / SO_SNDBUF, which Linux caps at
 * net.core.rmem_max / wmem_max.  *_granted get what getsockopt then
 * reports: Linux doubles the value set, for its bookkeeping overhead
 * (socket(7)).  Returns 0 or -errno.
 */
int coap__udp6_set_buffers(coap__udp6 *t, uint32_t rcvbuf, uint32_t sndbuf,
                           uint32_t *rcvbuf_granted, uint32_t *sndbuf_granted);

/* Datagrams the kernel dropped on the socket so far (SO_RXQ_OVFL, as the
 * latest datagram received reported it: a drop shows once the next
 * datagram after it has been read). */
uint64_t coap__udp6_kernel_drops(const coap__udp6 *t);

/*
 * Joins the socket to group (an IPv6 group, or an IPv4 one v4-mapped) on
 * the interface ifindex: IPV6_JOIN_GROUP, or IP_ADD_MEMBERSHIP for IPv4
 * (which Linux takes on a dual-stack socket).  Returns 0 or -errno
 * (EADDRINUSE when already joined there).
 */
int coap__udp6_join(coap__udp6 *t, const struct in6_addr *group,
                    unsigned ifindex);

/*
 * Records every datagram the socket sends (as sendmmsg took it) and
 * receives (as delivered: a truncated one is dropped unrecorded) to dump,
 * with the socket's addresses; NULL stops.  dump is borrowed and must
 * outlive the socket (coap__udp6_close flushes what is queued).
 */
struct coap__dump;
void coap__udp6_set_dump(coap__udp6 *t, struct coap__dump *dump);

/* For tests: a filter that sees each datagram before it is queued; return
 * false to drop it.  NULL removes it. */
typedef bool (*coap__udp6_filter)(void *filter_data, const coap_remote *remote,
                                  const uint8_t *data, size_t len);
void coap__udp6_set_send_filter(coap__udp6 *t, coap__udp6_filter filter,
                                void *filter_data);

#endif
