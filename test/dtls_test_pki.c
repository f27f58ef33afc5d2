/*
 * Test certificates made at test time with the OpenSSL API (no key
 * material in the repository): an EC P-256 CA, a server certificate for
 * 127.0.0.1 and localhost, and a client certificate, as PEM files in a
 * fresh temporary directory.
 */
#include "dtls_test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const names[] = {"ca.pem",     "server.pem", "server.key",
                                    "client.pem", "client.key", "other.pem",
                                    "other.key"};

static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (ext == NULL)
    return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/* A certificate for key named cn, signed by issuer_key (itself when
 * issuer is NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
                       EVP_PKEY *issuer_key, const char *san, long serial) {
  X509 *x = X509_new();
  if (x == NULL)
    return NULL;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *)cn, -1,
                             -1, 0);
  X509_set_issuer_name(x,
                       issuer != NULL ? X509_get_subject_name(issuer) : name);
  X509 *signer = issuer != NULL ? issuer : x;
  bool ok = add_ext(x, signer, NID_subject_key_identifier, "hash");
  if (issuer == NULL) {
    ok = ok && add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE") &&
         add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    ok = ok && add_ext(x, signer, NID_basic_constraints, "CA:FALSE") &&
         add_ext(x, signer, NID_authority_key_identifier, "keyid") &&
         add_ext(x, signer, NID_key_usage,
                 "critical,digitalSignature,keyAgreement");
  }
  if (san != NULL)
    ok = ok && add_ext(x, signer, NID_subject_alt_name, san);
  if (!ok ||
      X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) <= 0) {
    X509_free(x);
    return NULL;
  }
  return x;
}

static bool write_cert(const char *dir, const char *name, X509 *x) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return false;
  bool ok = PEM_write_X509(f, x) == 1;
  return fclose(f) == 0 && ok;
}

static bool write_key(const char *dir, const char *name, EVP_PKEY *key) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return false;
  bool ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
  return fclose(f) == 0 && ok;
}

bool dtls_test_pki_make(dtls_test_pki *pki) {
  memset(pki, 0, sizeof *pki);
  snprintf(pki->dir, sizeof pki->dir, "/tmp/aiocoap-dtls-XXXXXX");
  if (mkdtemp(pki->dir) == NULL)
    return false;
  EVP_PKEY *ca_key = EVP_EC_gen("P-256");
  EVP_PKEY *server_key = EVP_EC_gen("P-256");
  EVP_PKEY *client_key = EVP_EC_gen("P-256");
  EVP_PKEY *other_key = EVP_EC_gen("P-256");
  X509 *ca = make_cert(ca_key, "aiocoap test CA", NULL, NULL, NULL, 1);
  X509 *server = make_cert(server_key, "server", ca, ca_key,
                           "IP:127.0.0.1,DNS:localhost", 2);
  X509 *client = make_cert(client_key, "client", ca, ca_key, NULL, 3);
  /* Self-signed, so that nothing signed by the CA verifies against it. */
  X509 *other = make_cert(other_key, "other", NULL, NULL, NULL, 4);
  bool ok = ca != NULL && server != NULL && client != NULL && other != NULL &&
            write_cert(pki->dir, "ca.pem", ca) &&
            write_cert(pki->dir, "server.pem", server) &&
            write_key(pki->dir, "server.key", server_key) &&
            write_cert(pki->dir, "client.pem", client) &&
            write_key(pki->dir, "client.key", client_key) &&
            write_cert(pki->dir, "other.pem", other) &&
            write_key(pki->dir, "other.key", other_key);
  X509_free(ca);
  X509_free(server);
  X509_free(client);
  X509_free(other);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(server_key);
  EVP_PKEY_free(client_key);
  EVP_PKEY_free(other_key);
#define PATH(field, file)                                                      \
  snprintf(pki->field, sizeof pki->field, "%s/" file, pki->dir)
  PATH(ca, "ca.pem");
  PATH(server_cert, "server.pem");
  PATH(server_key, "server.key");
  PATH(client_cert, "client.pem");
  PATH(client_key, "client.key");
  PATH(other_cert, "other.pem");
  PATH(other_key, "other.key");
#undef PATH
  return ok;
}

void dtls_test_pki_remove(dtls_test_pki *pki) {
  if (pki->dir[0] == '\0')
    return;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", pki->dir, names[i]);
    unlink(path);
  }
  rmdir(pki->dir);
  pki->dir[0] = '\0';
}
