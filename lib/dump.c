/*
 * dump_to written with libpcap: a "dead" handle of link type LINKTYPE_RAW
 * (DLT_RAW: each record starts at the IP header, so IPv4 and IPv6 share
 * one file) and pcap_dump for each datagram.  pcap_dump writes through a
 * stdio FILE, which buffers; coap__dump_flush pushes it out per batch.
 */
#include "alloc-internal.h"
#include "dump-internal.h"

#include <aiocoap/error.h>

#include <errno.h>
#include <pcap/pcap.h>
#include <sys/time.h>

struct coap__dump {
  pcap_t *pcap;
  pcap_dumper_t *dumper;
  /* One packet's worth, reused: no allocation per datagram. */
  uint8_t packet[COAP__DUMP_PACKET_MAX];
};

int coap__dump_open(const char *path, coap__dump **out) {
  if (path == NULL || out == NULL)
    return COAP_EINVAL;
  *out = NULL;
  coap__dump *d = coap__calloc(1, sizeof *d);
  if (d == NULL)
    return COAP_ENOMEM;
  d->pcap = pcap_open_dead(DLT_RAW, (int)COAP__DUMP_PACKET_MAX);
  if (d->pcap == NULL) {
    coap__free(d);
    return COAP_ENOMEM;
  }
  errno = 0;
  d->dumper = pcap_dump_open(d->pcap, path);
  if (d->dumper == NULL) {
    int err = errno != 0 ? -errno : COAP_EINVAL;
    pcap_close(d->pcap);
    coap__free(d);
    return err;
  }
  *out = d;
  return 0;
}

void coap__dump_datagram(coap__dump *d, const struct sockaddr_in6 *src,
                         const struct sockaddr_in6 *dst, const uint8_t *data,
                         size_t len) {
  if (d == NULL)
    return;
  size_t n =
      coap__dump_build_packet(d->packet, sizeof d->packet, src, dst, data, len);
  if (n == 0)
    return;
  struct pcap_pkthdr h;
  /* pcap records carry wall-clock time (pcap-savefile(5)). */
  gettimeofday(&h.ts, NULL);
  h.caplen = (bpf_u_int32)n;
  h.len = (bpf_u_int32)n;
  pcap_dump((u_char *)d->dumper, &h, d->packet);
}

void coap__dump_flush(coap__dump *d) {
  if (d != NULL)
    pcap_dump_flush(d->dumper);
}

void coap__dump_close(coap__dump *d) {
  if (d == NULL)
    return;
  pcap_dump_close(d->dumper);
  pcap_close(d->pcap);
  coap__free(d);
}
