/* Throwaway certificates for the DTLS tests, made at test time. */
#ifndef AIOCOAP_DTLS_TEST_PKI_H
#define AIOCOAP_DTLS_TEST_PKI_H

#include <stdbool.h>

typedef struct dtls_test_pki {
  char dir[64];
  char ca[128];          /* the CA's certificate */
  char server_cert[128]; /* for IP 127.0.0.1 and DNS localhost */
  char server_key[128];
  char client_cert[128]; /* CN=client */
  char client_key[128];
  char other_cert[128]; /* self-signed, CN=other: signed by no CA we trust */
  char other_key[128];
} dtls_test_pki;

/* Makes the CA, keys and certificates in a new directory under /tmp. */
bool dtls_test_pki_make(dtls_test_pki *pki);
/* Removes the files and the directory. */
void dtls_test_pki_remove(dtls_test_pki *pki);

#endif
