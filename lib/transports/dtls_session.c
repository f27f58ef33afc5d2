/*
 * One DTLS session (a peer of the endpoint): its handshake, the records
 * it carries both ways, its timers and how it ends.  An ended session
 * leaves the table at once and waits on t->dead until the transport
 * reports its end from a loop callback (transport.h: never from inside an
 * ops call) and frees it.
 */
#include "transports/dtls-internal.h"

#include "alloc-internal.h"

#include <aiocoap/error.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

coap__dtls_session *coap__dtls_session_new(coap__dtls *t,
                                           const coap_remote *remote) {
  coap__dtls_session *s = coap__calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->link.t = t;
  s->link.remote = *remote;
  s->link.remote.endpoint = t;
  coap__heap_node_init(&s->timer);
  coap__queue_init(&s->all);
  s->started_ms = s->active_ms = coap__dtls_now(t);
  return s;
}

void coap__dtls_session_free(coap__dtls_session *s) {
  coap__dtls *t = s->link.t;
  if (s->in_table)
    coap__dtls_table_remove(t, s);
  coap__heap_remove(&t->heap, &s->timer);
  coap__queue_remove(&s->all);
  SSL_free(s->ssl);
  for (uint32_t i = 0; i < s->n_pending; i++) {
    sodium_memzero(s->pending[i].data, s->pending[i].len);
    coap__free(s->pending[i].data);
  }
  if (s->psk != NULL) {
    sodium_memzero(s->psk, s->psk_len);
    coap__free(s->psk);
  }
  sodium_memzero(s->identity, sizeof s->identity);
  coap__free(s);
}

void coap__dtls_session_end(coap__dtls_session *s, int err, const char *detail,
                            bool send_close) {
  coap__dtls *t = s->link.t;
  if (s->ended)
    return;
  s->ended = true;
  /* RFC 5246 §7.2.1: close_notify on an established session, so the peer
   * forgets it too instead of waiting for its idle timeout. */
  if (send_close && !s->handshaking && !t->closing)
    (void)SSL_shutdown(s->ssl);
  ERR_clear_error();
  if (s->handshaking) {
    t->stats.handshaking--;
    if (err != 0)
      t->stats.handshakes_failed++;
  }
  t->stats.sessions--;
  if (s->in_table)
    coap__dtls_table_remove(t, s);
  coap__heap_remove(&t->heap, &s->timer);
  coap__queue_remove(&s->all);
  coap__queue_insert_tail(&t->dead, &s->all);
  s->end_err = err;
  snprintf(s->end_detail, sizeof s->end_detail, "%s",
           detail != NULL ? detail : "");
  coap__dtls_rearm(t);
}

/* Why the last SSL call failed, as transport.h's error wants it. */
static void end_failed(coap__dtls_session *s) {
  char detail[sizeof s->end_detail];
  int err = COAP_EHANDSHAKE;
  long verify = SSL_get_verify_result(s->ssl);
  if (verify != X509_V_OK) {
    err = COAP_ECERTIFICATE;
    snprintf(detail, sizeof detail, "%s",
             X509_verify_cert_error_string(verify));
  } else if (s->alert != 0) {
    /* A fatal alert from the peer is COAP_EALERT; one we sent, or the
     * peer's close_notify in the middle of the handshake (GnuTLS servers
     * close so on a wrong PSK), failed the handshake or the session. */
    bool fatal = (s->alert & COAP__DTLS_ALERT_FATAL) != 0;
    err = !s->alert_sent && fatal ? COAP_EALERT
          : s->handshaking        ? COAP_EHANDSHAKE
                                  : COAP_ESESSION_CLOSED;
    snprintf(detail, sizeof detail, "%s alert %s",
             s->alert_sent ? "sent" : "received",
             SSL_alert_desc_string_long(s->alert & 0xff));
  } else {
    if (!s->handshaking)
      err = COAP_ESESSION_CLOSED;
    /* No alert and no reason OpenSSL names: say where it stopped. */
    unsigned long e = ERR_peek_last_error();
    if (e != 0)
      snprintf(detail, sizeof detail, "%s", coap__dtls_ssl_reason());
    else
      snprintf(detail, sizeof detail, "failed in %s",
               SSL_state_string_long(s->ssl));
  }
  coap__dtls_session_end(s, err, detail, false);
}

static void flush_pending(coap__dtls_session *s) {
  uint32_t n = s->n_pending;
  s->n_pending = 0;
  s->pending_bytes = 0;
  for (uint32_t i = 0; i < n; i++) {
    coap__dtls_pending p = s->pending[i];
    if (!s->ended && SSL_write(s->ssl, p.data, (int)p.len) <= 0)
      end_failed(s);
    sodium_memzero(p.data, p.len);
    coap__free(p.data);
  }
}

static void handshake_done(coap__dtls_session *s) {
  coap__dtls *t = s->link.t;
  s->handshaking = false;
  t->stats.handshaking--;
  t->stats.handshakes_done++;
  s->active_ms = coap__dtls_now(t);
  X509 *peer = SSL_get0_peer_certificate(s->ssl);
  if (peer != NULL)
    X509_NAME_oneline(X509_get_subject_name(peer), s->identity,
                      sizeof s->identity);
  flush_pending(s);
}

void coap__dtls_session_handshake(coap__dtls_session *s) {
  s->alert = 0;
  int rc = SSL_do_handshake(s->ssl);
  if (rc == 1) {
    handshake_done(s);
  } else {
    int e = SSL_get_error(s->ssl, rc);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      end_failed(s);
  }
  ERR_clear_error();
  if (!s->ended)
    coap__dtls_session_reschedule(s);
}

static void read_records(coap__dtls_session *s) {
  coap__dtls *t = s->link.t;
  while (!s->ended && !t->closing) {
    s->alert = 0;
    int n = SSL_read(s->ssl, t->plain, (int)t->config.max_datagram);
    if (n > 0) {
      s->active_ms = coap__dtls_now(t);
      t->base.callbacks.recv(t->base.user_data, t->plain, (size_t)n,
                             &s->link.remote);
      continue;
    }
    int e = SSL_get_error(s->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
      break;
    if (e == SSL_ERROR_ZERO_RETURN)
      /* The peer closed: answer its close_notify (RFC 5246 §7.2.1). */
      coap__dtls_session_end(s, COAP_ESESSION_CLOSED, "close notify", true);
    else
      end_failed(s);
  }
  ERR_clear_error();
}

void coap__dtls_session_feed(coap__dtls_session *s, const uint8_t *data,
                             size_t len) {
  s->link.in = data;
  s->link.in_len = len;
  if (s->handshaking)
    coap__dtls_session_handshake(s);
  /* Records after the handshake's last flight, or the peer's flight
   * again (OpenSSL retransmits ours on it, RFC 6347 §4.2.4). */
  if (!s->handshaking && !s->ended)
    read_records(s);
  if (s->link.in != NULL)
    s->link.t->stats.records_dropped++;
  s->link.in = NULL;
  s->link.in_len = 0;
}

void coap__dtls_session_timeout(coap__dtls_session *s, uint64_t now) {
  coap__dtls *t = s->link.t;
  if (s->handshaking) {
    if (now - s->started_ms >= t->config.handshake_timeout_ms) {
      coap__dtls_session_end(s, COAP_EHANDSHAKE, "handshake timed out", false);
      return;
    }
    s->alert = 0;
    /* RFC 6347 §4.2.4: the flight again, with the timer doubled. */
    if (DTLSv1_handle_timeout(s->ssl) < 0) {
      end_failed(s);
      ERR_clear_error();
      return;
    }
    coap__dtls_session_reschedule(s);
    return;
  }
  if (now - s->active_ms >= t->config.idle_timeout_ms) {
    t->stats.idle_closed++;
    coap__dtls_session_end(s, COAP_ESESSION_CLOSED, "idle timeout", true);
    return;
  }
  coap__dtls_session_reschedule(s);
}

void coap__dtls_session_reschedule(coap__dtls_session *s) {
  coap__dtls *t = s->link.t;
  uint64_t deadline;
  if (s->handshaking) {
    deadline = s->started_ms + t->config.handshake_timeout_ms;
    struct timeval tv;
    if (DTLSv1_get_timeout(s->ssl, &tv) == 1) {
      /* Rounded up: OpenSSL's clock is not the loop's, and a timer that
       * fires early only asks again. */
      uint64_t next = coap__dtls_now(t) + (uint64_t)tv.tv_sec * 1000 +
                      ((uint64_t)tv.tv_usec + 999) / 1000;
      if (next < deadline)
        deadline = next;
    }
  } else {
    /* Activity moves the idle deadline without touching the heap: the
     * timer, once due, looks at active_ms again. */
    deadline = s->active_ms + t->config.idle_timeout_ms;
  }
  if (coap__heap_schedule(&t->heap, &s->timer, deadline) < 0) {
    coap__dtls_session_end(s, COAP_ENOMEM, "no memory for the timer", false);
    return;
  }
  coap__dtls_rearm(t);
}

static int queue_pending(coap__dtls_session *s, const uint8_t *data,
                         size_t len) {
  if (s->n_pending == COAP__DTLS_PENDING_MAX ||
      len > COAP__DTLS_PENDING_BYTES - s->pending_bytes)
    return COAP_ELIMIT;
  uint8_t *copy = coap__malloc(len > 0 ? len : 1);
  if (copy == NULL)
    return COAP_ENOMEM;
  memcpy(copy, data, len);
  s->pending[s->n_pending].data = copy;
  s->pending[s->n_pending].len = len;
  s->n_pending++;
  s->pending_bytes += len;
  return 0;
}

int coap__dtls_session_write(coap__dtls_session *s, const uint8_t *data,
                             size_t len) {
  if (s->ended)
    return COAP_ESESSION_CLOSED;
  size_t mtu = (size_t)(COAP__DTLS_MTU - COAP__DTLS_MTU_OVERHEAD);
  if (len > s->link.t->config.max_datagram || len > mtu)
    return COAP_EMSGSIZE;
  if (s->handshaking)
    return queue_pending(s, data, len);
  size_t room = DTLS_get_data_mtu(s->ssl);
  if (room > 0 && len > room)
    return COAP_EMSGSIZE;
  if (len == 0)
    return 0;
  s->alert = 0;
  if (SSL_write(s->ssl, data, (int)len) <= 0) {
    end_failed(s);
    ERR_clear_error();
    return COAP_ESESSION_CLOSED;
  }
  s->active_ms = coap__dtls_now(s->link.t);
  return 0;
}
