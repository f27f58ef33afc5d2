/*
 * The UDP transport (transports/udp6.h): one dual-stack IPv6 socket.
 *
 * Why uv_poll_t on our own socket and not uv_udp_t: uv_udp_t hands out only
 * the payload and the peer address.  It exposes neither the IPV6_PKTINFO
 * control message (RFC 3542 §6.1), which tells a server which of its
 * addresses a request went to so that the response can leave from that
 * address (RFC 7252 §8.1 for multicast, and any multi-homed host), nor the
 * socket error queue (IPV6_RECVERR / IP_RECVERR, ipv6(7), ip(7)), which
 * carries ICMP errors together with the destination they concern, so an
 * exchange with a closed port fails at once instead of after
 * MAX_TRANSMIT_WAIT.  With our own socket we also batch with recvmmsg(2) and
 * sendmmsg(2).
 */
#include "addr-internal.h"
#include "transports/udp6.h"

#include "alloc-internal.h"
#include "dump-internal.h"

#include <aiocoap/error.h>

#include <errno.h>
#include <limits.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Destinations whose kernel-chosen source the dump remembers, and how
 * often one is used before it is looked up again (a route may change). */
#define DUMP_SOURCES 16
#define DUMP_SOURCE_REUSE 4096

/* recvmmsg(2)/sendmmsg(2) take at most UIO_MAXIOV (1024) messages. */
#define BATCH_MAX 1024
/* The largest UDP payload over IPv6 without jumbograms (RFC 8200 §4.5 limits
 * the payload length field to 16 bits, minus the 8-byte UDP header). */
#define DATAGRAM_MAX 65527
/* Receive batches per readable wakeup: the socket stays readable
 * (level-triggered), so what is left waits for the next loop iteration and
 * timers and other handles get their turn. */
#define RX_BATCHES_PER_WAKEUP 4
/* Error-queue entries read per wakeup, for the same reason. */
#define ERRORS_PER_WAKEUP 64
/* Refused destinations kept between two reports (see note_refused). */
#define REFUSED_MAX 16

/* Ancillary data buffers, aligned for struct cmsghdr (cmsg(3)).  A
 * received datagram carries IPV6_PKTINFO and, once the socket has dropped
 * any, SO_RXQ_OVFL (a uint32_t, socket(7)). */
#define PKTINFO_SPACE CMSG_SPACE(sizeof(struct in6_pktinfo))
#define RX_CONTROL_SIZE (PKTINFO_SPACE + CMSG_SPACE(sizeof(uint32_t)))
#define ERR_CONTROL_SIZE 512

typedef union rx_control {
  struct cmsghdr align;
  uint8_t buf[RX_CONTROL_SIZE];
} rx_control;

typedef union tx_control {
  struct cmsghdr align;
  uint8_t buf[PKTINFO_SPACE];
} tx_control;

/* batch messages with their iovecs, addresses, control buffers and data,
 * in one allocation made at open (no allocation per datagram). */
typedef struct ring {
  struct mmsghdr *msgs;
  struct iovec *iov;
  void *control; /* rx_control[] or tx_control[] */
  struct sockaddr_in6 *addrs;
  uint8_t *data;
} ring;

struct coap__udp6 {
  uv_loop_t *loop;
  int fd;
  uv_poll_t poll;
  uv_prepare_t prepare;
  int poll_events; /* what poll is started with; 0 while stopped */
  coap__udp6_callbacks callbacks;
  void *user_data;
  uint32_t batch;
  uint32_t max_datagram;
  ring rx;
  ring tx;
  uint32_t tx_first; /* [tx_first, tx_count) are queued, not yet sent */
  uint32_t tx_count;
  bool tx_blocked; /* sendmmsg said EAGAIN: wait for UV_WRITABLE */
  /* How many datagrams the kernel dropped on this socket so far: the
   * SO_RXQ_OVFL count (32 bits, cumulative) of the latest datagram that
   * carried it, widened so that it never wraps. */
  uint32_t rxq_ovfl;
  uint64_t kernel_drops;
  coap__udp6_filter filter;
  void *filter_data;
  /* dump_to: borrowed from the context, which outlives its sockets. */
  struct coap__dump *dump;
  struct sockaddr_in6 bound; /* getsockname when the dump was set */
  /* The sources the kernel picked for recent destinations, for the dump
   * (dump_source); looked up again after DUMP_SOURCE_REUSE uses. */
  struct {
    struct sockaddr_in6 dst;
    struct in6_addr src;
    uint32_t uses;
    bool set;
  } dump_sources[DUMP_SOURCES];
  uint32_t dump_sources_next;
  /* Sends the kernel refused for good (no route, no such address), kept
   * until coap__udp6_flush reports them: flush also runs from inside
   * coap__udp6_send, where the layers above are mid-update. */
  struct {
    struct sockaddr_in6 to;
    int err;
  } refused[REFUSED_MAX];
  uint32_t n_refused;
  bool closing;
  int handles_open;
  void (*closed)(void *user_data);
  union {
    struct cmsghdr align;
    uint8_t buf[ERR_CONTROL_SIZE];
  } err_control;
};

static int ring_alloc(ring *r, uint32_t batch, size_t control_size,
                      uint32_t max_datagram) {
  /* Ordered by alignment, largest first, so each part stays aligned. */
  size_t msgs_size = batch * sizeof(struct mmsghdr);
  size_t iov_size = batch * sizeof(struct iovec);
  size_t control_total = batch * control_size;
  size_t addrs_size = batch * sizeof(struct sockaddr_in6);
  size_t data_size = (size_t)batch * max_datagram;
  uint8_t *block = coap__calloc(1, msgs_size + iov_size + control_total +
                                       addrs_size + data_size);
  if (block == NULL)
    return COAP_ENOMEM;
  r->msgs = (struct mmsghdr *)block;
  r->iov = (struct iovec *)(block + msgs_size);
  r->control = block + msgs_size + iov_size;
  r->addrs =
      (struct sockaddr_in6 *)(block + msgs_size + iov_size + control_total);
  r->data = block + msgs_size + iov_size + control_total + addrs_size;
  for (uint32_t i = 0; i < batch; i++) {
    r->iov[i].iov_base = r->data + (size_t)i * max_datagram;
    r->msgs[i].msg_hdr.msg_name = &r->addrs[i];
    r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  return 0;
}

static void update_poll(coap__udp6 *t);
static void flush(coap__udp6 *t);

static bool is_loopback(const struct in6_addr *a) {
  return IN6_IS_ADDR_LOOPBACK(a) ||
         (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/*
 * The source address the kernel's route lookup picks for dst (RFC 6724
 * selection, as Linux does it for this socket's unbound sends): the name
 * of a UDP socket connected to dst, which sends nothing.  Kept for a few
 * destinations, so that a dump costs these four system calls per peer,
 * not per datagram.  False when it cannot be had (no route).
 */
static bool dump_source(coap__udp6 *t, const struct sockaddr_in6 *dst,
                        struct in6_addr *out) {
  for (uint32_t i = 0; i < DUMP_SOURCES; i++) {
    if (t->dump_sources[i].set &&
        memcmp(&t->dump_sources[i].dst, dst, sizeof *dst) == 0 &&
        t->dump_sources[i].uses++ < DUMP_SOURCE_REUSE) {
      *out = t->dump_sources[i].src;
      return true;
    }
  }
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  struct sockaddr_in6 name;
  socklen_t len = sizeof name;
  bool ok = connect(fd, (const struct sockaddr *)dst, sizeof *dst) == 0 &&
            getsockname(fd, (struct sockaddr *)&name, &len) == 0 &&
            name.sin6_family == AF_INET6;
  close(fd);
  if (!ok)
    return false;
  uint32_t slot = t->dump_sources_next++ % DUMP_SOURCES;
  t->dump_sources[slot].dst = *dst;
  t->dump_sources[slot].src = name.sin6_addr;
  t->dump_sources[slot].uses = 0;
  t->dump_sources[slot].set = true;
  *out = name.sin6_addr;
  return true;
}

/*
 * Our side of a datagram with remote, for the dump: the address
 * IPV6_PKTINFO named (received, or a reply sent from it), else the bound
 * address.  A wildcard-bound socket sending without PKTINFO (or with an
 * unspecified one that only picks the interface) leaves the source to the
 * kernel's route lookup, which dump_source asks about; where even that
 * fails, a loopback peer is recorded from the loopback address and any
 * other from the unspecified address of its family (0.0.0.0 or ::), which
 * says "not known" rather than guess.  The port is always the socket's.
 */
static struct sockaddr_in6 dump_local(coap__udp6 *t, const coap_remote *remote,
                                      bool sent) {
  struct sockaddr_in6 local = t->bound;
  bool v4 = IN6_IS_ADDR_V4MAPPED(&remote->addr.sin6_addr);
  bool unknown_source =
      !remote->has_local || IN6_IS_ADDR_UNSPECIFIED(&remote->local_addr) ||
      (IN6_IS_ADDR_V4MAPPED(&remote->local_addr) &&
       memcmp(&remote->local_addr.s6_addr[12], "\0\0\0\0", 4) == 0);
  if (remote->has_local && !unknown_source) {
    local.sin6_addr = remote->local_addr;
  } else if (sent && IN6_IS_ADDR_UNSPECIFIED(&t->bound.sin6_addr) &&
             dump_source(t, &remote->addr, &local.sin6_addr)) {
    /* the kernel's choice */
  } else if (remote->has_local) {
    local.sin6_addr = remote->local_addr;
  } else if (IN6_IS_ADDR_UNSPECIFIED(&t->bound.sin6_addr)) {
    memset(&local.sin6_addr, 0, sizeof local.sin6_addr);
    if (is_loopback(&remote->addr.sin6_addr))
      local.sin6_addr.s6_addr[15] = 1;
    if (v4) {
      local.sin6_addr.s6_addr[10] = local.sin6_addr.s6_addr[11] = 0xff;
      if (is_loopback(&remote->addr.sin6_addr)) {
        local.sin6_addr.s6_addr[12] = 127;
        local.sin6_addr.s6_addr[15] = 1;
      }
    }
  }
  return local;
}

/* A send error that says the destination cannot be reached from here at
 * all, now (ip(7), ipv6(7), udp(7)); retrying it would only time out. */
static bool refused_for_good(int err) {
  return err == ENETUNREACH || err == EHOSTUNREACH || err == EADDRNOTAVAIL ||
         err == EACCES || err == EPERM || err == EAFNOSUPPORT;
}

/* Keeps a refused send for report_refused; one entry per destination. */
static void note_refused(coap__udp6 *t, uint32_t i, int err) {
  const struct sockaddr_in6 *to = t->tx.msgs[i].msg_hdr.msg_name;
  for (uint32_t k = 0; k < t->n_refused; k++)
    if (memcmp(&t->refused[k].to, to, sizeof *to) == 0)
      return;
  if (t->n_refused == REFUSED_MAX)
    return; /* the rest time out as datagrams lost would */
  t->refused[t->n_refused].to = *to;
  t->refused[t->n_refused].err = -err;
  t->n_refused++;
}

static void report_refused(coap__udp6 *t) {
  /* The callback may close the transport or send (and so refuse) more:
   * take the list first. */
  uint32_t n = t->n_refused;
  t->n_refused = 0;
  for (uint32_t k = 0; k < n && !t->closing; k++) {
    struct sockaddr_in6 to = t->refused[k].to;
    coap_remote remote;
    memset(&remote, 0, sizeof remote);
    remote.addr = to;
    remote.endpoint = t;
    if (t->callbacks.error != NULL)
      t->callbacks.error(t->user_data, &remote, t->refused[k].err);
  }
}

static bool is_again(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

static coap_remote remote_for(coap__udp6 *t, const struct sockaddr_in6 *addr) {
  coap_remote remote;
  memset(&remote, 0, sizeof(remote));
  remote.addr = *addr;
  remote.endpoint = t;
  return remote;
}

/* One entry of the error queue (ip(7), IP_RECVERR; ipv6(7), IPV6_RECVERR).
 * msg_name is the destination of the datagram that caused the error. */
static void report_queued_error(coap__udp6 *t, const struct msghdr *msg,
                                const struct sockaddr_storage *name) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL;
       c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
    /* A dual-stack socket reports ICMPv4 errors for v4-mapped peers with
     * SOL_IPV6 too, but accept IP_RECVERR should a kernel use it. */
    bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
    bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
    if (!(v6 || v4) || c->cmsg_len < CMSG_LEN(sizeof(struct sock_extended_err)))
      continue;
    struct sock_extended_err ee;
    memcpy(&ee, CMSG_DATA(c), sizeof(ee));
    /* Local errors (e.g. SO_EE_ORIGIN_LOCAL for EMSGSIZE) were already
     * returned by sendmmsg; only what the network said is news here. */
    if ((ee.ee_origin != SO_EE_ORIGIN_ICMP &&
         ee.ee_origin != SO_EE_ORIGIN_ICMP6) ||
        ee.ee_errno == 0)
      continue;
    struct sockaddr_in6 dest;
    socklen_t need = name->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                 : sizeof(struct sockaddr_in);
    if (msg->msg_namelen < need ||
        !coap__sockaddr_to_in6((const struct sockaddr *)name, &dest))
      continue;
    coap_remote remote = remote_for(t, &dest);
    if (t->callbacks.error != NULL)
      t->callbacks.error(t->user_data, &remote, -(int)ee.ee_errno);
    return;
  }
}

static void drain_error_queue(coap__udp6 *t) {
  for (int i = 0; i < ERRORS_PER_WAKEUP && !t->closing; i++) {
    struct sockaddr_storage name;
    uint8_t payload[16]; /* the offending datagram, truncated: unused */
    struct iovec iov = {payload, sizeof(payload)};
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_name = &name;
    msg.msg_namelen = sizeof(name);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = t->err_control.buf;
    msg.msg_controllen = sizeof(t->err_control.buf);
    if (recvmsg(t->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    report_queued_error(t, &msg, &name);
  }
}

static void deliver(coap__udp6 *t, uint32_t i) {
  const struct mmsghdr *m = &t->rx.msgs[i];
  const struct msghdr *h = &m->msg_hdr;
  /* A datagram larger than max_datagram was cut short: decoding the rest
   * would be wrong, and the peer must use Block-wise (RFC 7959) anyway. */
  if ((h->msg_flags & MSG_TRUNC) ||
      h->msg_namelen < sizeof(struct sockaddr_in6))
    return;
  coap_remote remote = remote_for(t, &t->rx.addrs[i]);
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL;
       c = CMSG_NXTHDR((struct msghdr *)h, c)) {
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
      /* RFC 3542 §6.1; for IPv4 on this socket Linux reports the v4-mapped
       * destination, so a reply can still pick its source. */
      struct in6_pktinfo info;
      memcpy(&info, CMSG_DATA(c), sizeof(info));
      remote.local_addr = info.ipi6_addr;
      remote.local_ifindex = info.ipi6_ifindex;
      remote.has_local = true;
    } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
               c->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
      uint32_t count;
      memcpy(&count, CMSG_DATA(c), sizeof(count));
      t->kernel_drops += (uint32_t)(count - t->rxq_ovfl);
      t->rxq_ovfl = count;
    }
  }
  if (t->dump != NULL) {
    struct sockaddr_in6 local = dump_local(t, &remote, false);
    coap__dump_datagram(t->dump, &remote.addr, &local, t->rx.iov[i].iov_base,
                        m->msg_len);
  }
  t->callbacks.recv(t->user_data, t->rx.iov[i].iov_base, m->msg_len, &remote);
}

static void receive(coap__udp6 *t) {
  for (int round = 0; round < RX_BATCHES_PER_WAKEUP && !t->closing; round++) {
    rx_control *control = t->rx.control;
    for (uint32_t i = 0; i < t->batch; i++) {
      struct msghdr *h = &t->rx.msgs[i].msg_hdr;
      h->msg_namelen = sizeof(struct sockaddr_in6);
      h->msg_control = control[i].buf;
      h->msg_controllen = sizeof(control[i].buf);
      h->msg_flags = 0;
      t->rx.iov[i].iov_len = t->max_datagram;
    }
    int n = recvmmsg(t->fd, t->rx.msgs, t->batch, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (is_again(errno))
        return;
      /* A pending asynchronous error (sk_err, e.g. ECONNREFUSED from an
       * earlier ICMP) is reported and cleared by this call; the details
       * are on the error queue. */
      drain_error_queue(t);
      continue;
    }
    for (int i = 0; i < n && !t->closing; i++)
      deliver(t, (uint32_t)i);
    coap__dump_flush(t->dump);
    if (t->closing)
      return;
    if (t->callbacks.batch_done != NULL)
      t->callbacks.batch_done(t->user_data);
    if ((uint32_t)n < t->batch)
      return;
  }
}

static void poll_cb(uv_poll_t *handle, int status, int events) {
  coap__udp6 *t = coap__container_of(handle, coap__udp6, poll);
  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF and stops the handle
     * (src/unix/poll.c).  On a UDP socket POLLERR means a queued error
     * (datagram_poll in the kernel): read it, and watch again.  epoll
     * reports POLLERR whatever was asked for, so a plain readable wakeup
     * needs no MSG_ERRQUEUE read (receive() still drains the queue when
     * recvmmsg returns the pending error itself). */
    t->poll_events = 0;
    drain_error_queue(t);
    int pending = 0;
    socklen_t len = sizeof(pending);
    /* SO_ERROR reads and clears what is left of sk_err, so a stale error
     * cannot keep POLLERR up; a failure means the fd itself is bad. */
    if (!t->closing &&
        getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &pending, &len) < 0)
      return;
    if (!t->closing)
      receive(t);
  } else {
    if ((events & UV_WRITABLE) && !t->closing) {
      t->tx_blocked = false;
      flush(t);
    }
    if ((events & UV_DISCONNECT) && !t->closing)
      drain_error_queue(t);
    if ((events & UV_READABLE) && !t->closing)
      receive(t);
  }
  update_poll(t);
}

static void prepare_cb(uv_prepare_t *handle) {
  coap__udp6_flush(coap__container_of(handle, coap__udp6, prepare));
}

static void update_poll(coap__udp6 *t) {
  if (t->closing)
    return;
  int want = UV_READABLE | (t->tx_blocked ? UV_WRITABLE : 0);
  if (want != t->poll_events) {
    uv_poll_start(&t->poll, want, poll_cb);
    t->poll_events = want;
  }
  /* Flush before the loop next blocks, unless waiting for room. */
  bool queued = t->tx_first < t->tx_count;
  if ((queued && !t->tx_blocked) || t->n_refused > 0)
    uv_prepare_start(&t->prepare, prepare_cb);
  else
    uv_prepare_stop(&t->prepare);
}

/* The dump records what the kernel took, as it left: the slot's
 * IPV6_PKTINFO source when it has one. */
static void dump_sent(coap__udp6 *t, uint32_t first, uint32_t n) {
  for (uint32_t i = first; i < first + n; i++) {
    const struct msghdr *h = &t->tx.msgs[i].msg_hdr;
    coap_remote remote = remote_for(t, &t->tx.addrs[i]);
    if (h->msg_control != NULL) {
      struct in6_pktinfo info;
      memcpy(&info, CMSG_DATA(CMSG_FIRSTHDR(h)), sizeof(info));
      remote.local_addr = info.ipi6_addr;
      remote.has_local = true;
    }
    struct sockaddr_in6 local = dump_local(t, &remote, true);
    coap__dump_datagram(t->dump, &local, &remote.addr, t->tx.iov[i].iov_base,
                        t->tx.iov[i].iov_len);
  }
}

static void flush(coap__udp6 *t) {
  uint32_t retried = UINT32_MAX;
  bool dumped = false;
  while (t->tx_first < t->tx_count && !t->tx_blocked) {
    int n = sendmmsg(t->fd, &t->tx.msgs[t->tx_first], t->tx_count - t->tx_first,
                     MSG_DONTWAIT);
    if (n > 0) {
      if (t->dump != NULL) {
        dump_sent(t, t->tx_first, (uint32_t)n);
        dumped = true;
      }
      t->tx_first += (uint32_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && is_again(errno)) {
      t->tx_blocked = true;
      break;
    }
    /* The first datagram failed.  The error may be an earlier ICMP error
     * still pending on the socket (the kernel's send path reports and
     * clears sk_err without sending, e.g. ECONNREFUSED; its details stay on
     * the error queue): give it one more try.  Failing again, it is dropped
     * as the network would (CoAP retransmits, RFC 7252 §4.2), unless the
     * kernel says the destination cannot be reached from here at all: that
     * is reported, so the exchanges with it fail now with the reason
     * rather than after MAX_TRANSMIT_WAIT. */
    int err = n < 0 ? errno : EIO;
    if (retried != t->tx_first) {
      retried = t->tx_first;
      continue;
    }
    if (refused_for_good(err))
      note_refused(t, t->tx_first, err);
    t->tx_first++;
  }
  if (t->tx_first == t->tx_count)
    t->tx_first = t->tx_count = 0;
  if (dumped)
    coap__dump_flush(t->dump);
}

void coap__udp6_flush(coap__udp6 *t) {
  if (t == NULL || t->closing)
    return;
  flush(t);
  update_poll(t);
  if (t->n_refused > 0)
    report_refused(t);
}

static void fill_slot(coap__udp6 *t, uint32_t i, const coap_remote *remote,
                      const uint8_t *data, size_t len) {
  struct msghdr *h = &t->tx.msgs[i].msg_hdr;
  memcpy(t->tx.iov[i].iov_base, data, len);
  t->tx.iov[i].iov_len = len;
  /* sin6_scope_id travels in the address, so link-local peers keep their
   * interface (RFC 4007 §11). */
  t->tx.addrs[i] = remote->addr;
  h->msg_namelen = sizeof(struct sockaddr_in6);
  h->msg_control = NULL;
  h->msg_controllen = 0;
  if (!remote->has_local)
    return;
  /* RFC 3542 §6.1: the reply leaves from the address and interface the
   * request arrived on (for v4-mapped sources Linux's ip_cmsg_send accepts
   * the same IPV6_PKTINFO).  RFC 7252 §8.1: the answer to a request sent
   * to a group leaves from a unicast address of the interface it came in
   * on: the interface is named and the source left unspecified, which the
   * kernel then picks among that interface's addresses (RFC 6724). */
  tx_control *control = t->tx.control;
  struct in6_pktinfo info;
  memset(&info, 0, sizeof(info));
  info.ipi6_ifindex = remote->local_ifindex;
  if (!coap__addr_is_multicast(&remote->local_addr))
    info.ipi6_addr = remote->local_addr;
  else if (IN6_IS_ADDR_V4MAPPED(&remote->local_addr))
    info.ipi6_addr.s6_addr[10] = info.ipi6_addr.s6_addr[11] = 0xff;
  h->msg_control = control[i].buf;
  h->msg_controllen = sizeof(control[i].buf);
  struct cmsghdr *c = CMSG_FIRSTHDR(h);
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof(info));
  memcpy(CMSG_DATA(c), &info, sizeof(info));
}

int coap__udp6_send(coap__udp6 *t, const coap_remote *remote,
                    const uint8_t *data, size_t len) {
  if (t == NULL || remote == NULL || (data == NULL && len > 0) ||
      remote->addr.sin6_family != AF_INET6 || t->closing)
    return COAP_EINVAL;
  if (len > t->max_datagram)
    return COAP_EMSGSIZE;
  if (t->filter != NULL && !t->filter(t->filter_data, remote, data, len))
    return 0;
  if (t->tx_count == t->batch)
    flush(t);
  if (t->tx_count == t->batch) {
    /* The socket buffer is full and the ring too: drop, as a full
     * interface queue would; CoAP retransmits (RFC 7252 §4.2). */
    update_poll(t);
    return 0;
  }
  fill_slot(t, t->tx_count++, remote, data, len);
  if (t->tx_count == t->batch)
    flush(t);
  update_poll(t);
  return 0;
}

void *coap__udp6_user_data(const coap__udp6 *t) {
  return t->user_data;
}

int coap__udp6_local_address(const coap__udp6 *t, struct sockaddr_in6 *out) {
  if (t == NULL || out == NULL)
    return COAP_EINVAL;
  socklen_t len = sizeof(*out);
  if (getsockname(t->fd, (struct sockaddr *)out, &len) < 0)
    return -errno;
  return 0;
}

/* socket(7): the privileged *FORCE variant ignores net.core.rmem_max /
 * wmem_max; without CAP_NET_ADMIN it fails with EPERM and the plain option,
 * capped by the sysctl, is used instead. */
static int set_buffer(int fd, int force_name, int name, uint32_t bytes,
                      uint32_t *granted) {
  int value = bytes > INT_MAX / 2 ? INT_MAX / 2 : (int)bytes;
  if (bytes > 0 &&
      setsockopt(fd, SOL_SOCKET, force_name, &value, sizeof(value)) < 0 &&
      setsockopt(fd, SOL_SOCKET, name, &value, sizeof(value)) < 0)
    return -errno;
  int have = 0;
  socklen_t len = sizeof(have);
  if (getsockopt(fd, SOL_SOCKET, name, &have, &len) < 0)
    return -errno;
  *granted = have < 0 ? 0 : (uint32_t)have;
  return 0;
}

int coap__udp6_set_buffers(coap__udp6 *t, uint32_t rcvbuf, uint32_t sndbuf,
                           uint32_t *rcvbuf_granted, uint32_t *sndbuf_granted) {
  if (t == NULL || t->closing || rcvbuf_granted == NULL ||
      sndbuf_granted == NULL)
    return COAP_EINVAL;
  int rc = set_buffer(t->fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf, rcvbuf_granted);
  if (rc == 0)
    rc = set_buffer(t->fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf, sndbuf_granted);
  return rc;
}

uint64_t coap__udp6_kernel_drops(const coap__udp6 *t) {
  return t != NULL ? t->kernel_drops : 0;
}

void coap__udp6_set_dump(coap__udp6 *t, struct coap__dump *dump) {
  t->dump = dump;
  socklen_t len = sizeof t->bound;
  if (dump == NULL ||
      getsockname(t->fd, (struct sockaddr *)&t->bound, &len) < 0) {
    memset(&t->bound, 0, sizeof t->bound);
    t->bound.sin6_family = AF_INET6;
  }
}

void coap__udp6_set_send_filter(coap__udp6 *t, coap__udp6_filter filter,
                                void *filter_data) {
  t->filter = filter;
  t->filter_data = filter != NULL ? filter_data : NULL;
}

int coap__udp6_join(coap__udp6 *t, const struct in6_addr *group,
                    unsigned ifindex) {
  if (t == NULL || group == NULL || !coap__addr_is_multicast(group))
    return COAP_EINVAL;
  int rc;
  if (IN6_IS_ADDR_V4MAPPED(group)) {
    struct ip_mreqn req;
    memset(&req, 0, sizeof req);
    memcpy(&req.imr_multiaddr, &group->s6_addr[12], 4);
    req.imr_ifindex = (int)ifindex;
    rc = setsockopt(t->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof req);
  } else {
    struct ipv6_mreq req;
    req.ipv6mr_multiaddr = *group;
    req.ipv6mr_interface = ifindex;
    rc = setsockopt(t->fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &req, sizeof req);
  }
  return rc < 0 ? -errno : 0;
}

static void transport_free(coap__udp6 *t) {
  coap__free(t->rx.msgs);
  coap__free(t->tx.msgs);
  coap__free(t);
}

static void handle_closed(uv_handle_t *handle) {
  coap__udp6 *t = handle->data;
  if (handle == (uv_handle_t *)&t->poll) {
    /* Only now: libuv must stop watching the fd before it is reused
     * (uv_poll_t docs: close the fd after the handle). */
    close(t->fd);
    t->fd = -1;
  }
  if (--t->handles_open > 0)
    return;
  void (*closed)(void *) = t->closed;
  void *user_data = t->user_data;
  transport_free(t);
  if (closed != NULL)
    closed(user_data);
}

void coap__udp6_close(coap__udp6 *t, void (*closed)(void *user_data)) {
  if (t == NULL || t->closing)
    return;
  flush(t);
  t->closing = true;
  t->closed = closed;
  t->handles_open = 2;
  uv_close((uv_handle_t *)&t->poll, handle_closed);
  uv_close((uv_handle_t *)&t->prepare, handle_closed);
}

static int set_flag(int fd, int level, int name) {
  int on = 1;
  return setsockopt(fd, level, name, &on, sizeof(on)) < 0 ? -errno : 0;
}

static int open_socket(const struct sockaddr_in6 *bind_addr, int *out) {
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int off = 0;
  int rc = 0;
  /* Dual stack: IPv4 peers arrive as v4-mapped addresses (ipv6(7)). */
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0)
    rc = -errno;
  if (rc == 0)
    rc = set_flag(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO);
  if (rc == 0)
    rc = set_flag(fd, IPPROTO_IPV6, IPV6_RECVERR);
  /* ICMPv4 errors for v4-mapped peers are queued only with IP_RECVERR. */
  if (rc == 0)
    rc = set_flag(fd, IPPROTO_IP, IP_RECVERR);
  /* socket(7): each datagram then carries the socket's drop count. */
  if (rc == 0)
    rc = set_flag(fd, SOL_SOCKET, SO_RXQ_OVFL);
  struct sockaddr_in6 any;
  if (bind_addr == NULL) {
    memset(&any, 0, sizeof(any));
    any.sin6_family = AF_INET6;
    any.sin6_addr = in6addr_any;
    bind_addr = &any;
  }
  if (rc == 0 &&
      bind(fd, (const struct sockaddr *)bind_addr, sizeof(*bind_addr)) < 0)
    rc = -errno;
  if (rc < 0) {
    close(fd);
    return rc;
  }
  *out = fd;
  return 0;
}

int coap__udp6_open(uv_loop_t *loop, const struct sockaddr_in6 *bind_addr,
                    const coap__udp6_callbacks *callbacks, void *user_data,
                    uint32_t batch, uint32_t max_datagram, coap__udp6 **out) {
  if (loop == NULL || callbacks == NULL || callbacks->recv == NULL ||
      out == NULL || batch == 0 || batch > BATCH_MAX || max_datagram == 0 ||
      max_datagram > DATAGRAM_MAX ||
      (bind_addr != NULL && bind_addr->sin6_family != AF_INET6))
    return COAP_EINVAL;
  coap__udp6 *t = coap__calloc(1, sizeof(*t));
  if (t == NULL)
    return COAP_ENOMEM;
  t->loop = loop;
  t->fd = -1;
  t->callbacks = *callbacks;
  t->user_data = user_data;
  t->batch = batch;
  t->max_datagram = max_datagram;
  int rc = ring_alloc(&t->rx, batch, sizeof(rx_control), max_datagram);
  if (rc == 0)
    rc = ring_alloc(&t->tx, batch, sizeof(tx_control), max_datagram);
  if (rc == 0)
    rc = open_socket(bind_addr, &t->fd);
  /* uv_poll_init registers the handle only once its checks pass, so a
   * failure here leaves nothing to uv_close. */
  if (rc == 0)
    rc = uv_poll_init(loop, &t->poll, t->fd);
  if (rc < 0) {
    if (t->fd >= 0)
      close(t->fd);
    transport_free(t);
    return rc;
  }
  uv_prepare_init(loop, &t->prepare);
  /* The prepare handle only flushes; it must not keep the loop alive. */
  uv_unref((uv_handle_t *)&t->prepare);
  t->poll.data = t;
  t->prepare.data = t;
  update_poll(t);
  *out = t;
  return 0;
}
