/*
 * aiocoap.dump (a context's dump_to): every datagram a context's UDP
 * sockets send and receive, written to a pcap file that Wireshark and
 * tshark open with no configuration.  Each datagram is wrapped in the IPv4
 * or IPv6 header and the UDP header it had on the wire (LINKTYPE_RAW), so
 * a DTLS endpoint's dump shows the records as they were sent.
 *
 * dump_packet.c builds the headers (no libpcap); dump.c writes the file
 * with libpcap, dump_none.c stands in for builds without it.
 */
#ifndef AIOCOAP_DUMP_INTERNAL_H
#define AIOCOAP_DUMP_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest IP packet a dump holds: the IPv4 total length, the IPv6
 * payload length and the UDP length are 16 bits (RFC 791 §3.1, RFC 8200
 * §3, RFC 768); a larger datagram could not have been sent either. */
#define COAP__DUMP_PACKET_MAX 65535u
/* IPv6 header (RFC 8200 §3) + UDP header (RFC 768). */
#define COAP__DUMP_HEADROOM (40u + 8u)

typedef struct coap__dump coap__dump;

/*
 * Creates (truncating) the pcap file at path.  Returns 0 and *out, or
 * COAP_ENOTSUP (built without libpcap), COAP_ENOMEM, or -errno from
 * opening the file (COAP_EINVAL when libpcap gives no errno).
 */
int coap__dump_open(const char *path, coap__dump **out);

/*
 * Records one UDP datagram from src to dst (IPv6 socket addresses; both
 * v4-mapped makes an IPv4 packet) with the wall-clock time now.  Buffered:
 * coap__dump_flush writes it out.  Never fails; d NULL does nothing.
 */
void coap__dump_datagram(coap__dump *d, const struct sockaddr_in6 *src,
                         const struct sockaddr_in6 *dst, const uint8_t *data,
                         size_t len);

/* Writes buffered records to the file (after each batch, so that a file
 * read while the process runs, or after it is killed, is whole to the
 * last batch). */
void coap__dump_flush(coap__dump *d);

/* Flushes, closes the file and frees d (NULL: nothing). */
void coap__dump_close(coap__dump *d);

/*
 * The IP and UDP headers for a datagram from src to dst followed by its
 * payload, into out (cap bytes; COAP__DUMP_HEADROOM + len is enough).
 * IPv4 when both addresses are v4-mapped, IPv6 when neither is.  Checksums
 * filled (RFC 768; RFC 8200 §8.1; RFC 791 §3.1 for the IPv4 header).  Returns
 * the packet's length, or 0 when it cannot be one IP packet (larger than
 * COAP__DUMP_PACKET_MAX or cap, or one address v4-mapped and the other not).
 */
size_t coap__dump_build_packet(uint8_t *out, size_t cap,
                               const struct sockaddr_in6 *src,
                               const struct sockaddr_in6 *dst,
                               const uint8_t *data, size_t len);

#endif
