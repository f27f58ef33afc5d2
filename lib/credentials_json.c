/*
 * aiocoap's CredentialsMap.load_from_dict from JSON, with jansson.
 *
 * Loading runs in two steps so a bad file changes nothing: every entry is
 * parsed into an owned staging record and checked, labels named by string
 * values are resolved, and room for all of them is reserved in the map;
 * only then are they put in, which cannot fail.
 */
#include "alloc-internal.h"
#include "credentials-internal.h"

#include <aiocoap/error.h>

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef enum staged_kind {
  STAGED_CREDENTIAL,
  STAGED_REFERENCE, /* a string value naming a label */
  STAGED_REMOVE,    /* null */
} staged_kind;

typedef struct staged {
  char *pattern;   /* owned, handed to the map at commit */
  const char *key; /* the same text, borrowed from the JSON, for errors */
  staged_kind kind;
  const char *target; /* STAGED_REFERENCE: the label, borrowed */
  bool resolved;
  coap__credential cred;
} staged;

typedef struct loader {
  coap_credentials *map;
  const char *base_dir; /* NULL: file names stay as written */
  size_t base_len;
  char *err;
  size_t cap;
  staged *items;
  size_t count;
} loader;

static void set_err(loader *l, const char *fmt, ...) {
  va_list ap;

  if (l->err == NULL || l->cap == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(l->err, l->cap, fmt, ap);
  va_end(ap);
}

static int hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/* {"hex": "..."} as aiocoap reads it: bytes.fromhex after dropping '-',
 * ' ' and ':' separators. */
static const char *decode_hex(const char *s, size_t len, uint8_t *out,
                              size_t *out_len) {
  size_t n = 0;
  int high = -1;

  for (size_t i = 0; i < len; i++) {
    int v;
    if (s[i] == '-' || s[i] == ' ' || s[i] == ':')
      continue;
    v = hex_value(s[i]);
    if (v < 0)
      return "hex digits expected";
    if (high < 0) {
      high = v;
    } else {
      out[n++] = (uint8_t)(high << 4 | v);
      high = -1;
    }
  }
  if (high >= 0)
    return "odd number of hex digits";
  *out_len = n;
  return NULL;
}

/* A byte string: {"ascii": s}, {"hex": s} or a plain string s. */
static int parse_bytes(loader *l, const char *key, const char *field,
                       const json_t *v, uint8_t **out, size_t *out_len) {
  const char *form = NULL;
  const json_t *s = v;
  const char *text;
  const char *reason;
  size_t len = 0;

  if (json_is_object(v)) {
    if (json_object_size(v) != 1 ||
        ((s = json_object_get(v, "ascii")) == NULL &&
         (s = json_object_get(v, "hex")) == NULL)) {
      set_err(l,
              "%s: dtls.%s: an object with one key, \"ascii\" or \"hex\", "
              "expected",
              key, field);
      return COAP_ECREDENTIALS;
    }
    form = json_object_get(v, "ascii") != NULL ? "ascii" : "hex";
  }
  if (!json_is_string(s)) {
    set_err(l, "%s: dtls.%s%s%s: a string expected", key, field,
            form ? "." : "", form ? form : "");
    return COAP_ECREDENTIALS;
  }
  text = json_string_value(s);
  len = json_string_length(s);
  if (form != NULL && strcmp(form, "ascii") == 0) {
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)text[i] >= 0x80) {
        set_err(l, "%s: dtls.%s.ascii: not ASCII (use \"hex\")", key, field);
        return COAP_ECREDENTIALS;
      }
  }
  *out = coap__malloc(len);
  if (*out == NULL)
    return COAP_ENOMEM;
  /* The whole buffer is zeroed if this entry fails half-way. */
  *out_len = len;
  if (form != NULL && strcmp(form, "hex") == 0) {
    reason = decode_hex(text, len, *out, out_len);
    if (reason != NULL) {
      set_err(l, "%s: dtls.%s.hex: %s", key, field, reason);
      return COAP_ECREDENTIALS;
    }
  } else {
    memcpy(*out, text, len);
    *out_len = len;
  }
  if (*out_len == 0) {
    set_err(l, "%s: dtls.%s: empty", key, field);
    return COAP_ECREDENTIALS;
  }
  return 0;
}

static int parse_dtls(loader *l, const char *key, const json_t *v,
                      coap__credential *cred) {
  const char *field;
  json_t *value;
  int rc;

  if (!json_is_object(v)) {
    set_err(l, "%s: dtls: an object expected", key);
    return COAP_ECREDENTIALS;
  }
  json_object_foreach((json_t *)v, field, value) {
    if (strcmp(field, "psk") == 0)
      rc = parse_bytes(l, key, field, value, &cred->psk, &cred->psk_len);
    else if (strcmp(field, "client-identity") == 0)
      rc = parse_bytes(l, key, field, value, &cred->client_identity,
                       &cred->client_identity_len);
    else {
      set_err(l, "%s: dtls.%s: unknown key (psk, client-identity expected)",
              key, field);
      return COAP_ECREDENTIALS;
    }
    if (rc < 0)
      return rc;
  }
  /* aiocoap's DTLS(psk, client_identity) takes both. */
  if (cred->psk == NULL || cred->client_identity == NULL) {
    set_err(l, "%s: dtls.%s: missing", key,
            cred->psk == NULL ? "psk" : "client-identity");
    return COAP_ECREDENTIALS;
  }
  return 0;
}

static int file_name(loader *l, const char *key, const char *field,
                     const json_t *v, char **out) {
  const char *name;
  size_t len = 0;

  if (!json_is_string(v) || json_string_length(v) == 0) {
    set_err(l, "%s: x509.%s: a file name expected", key, field);
    return COAP_ECREDENTIALS;
  }
  name = json_string_value(v);
  len = json_string_length(v);
  if (l->base_dir == NULL || name[0] == '/') {
    *out = coap__strndup(name, len);
    return *out == NULL ? COAP_ENOMEM : 0;
  }
  *out = coap__malloc(l->base_len + 1 + len + 1);
  if (*out == NULL)
    return COAP_ENOMEM;
  memcpy(*out, l->base_dir, l->base_len);
  (*out)[l->base_len] = '/';
  memcpy(*out + l->base_len + 1, name, len + 1);
  return 0;
}

static int parse_x509(loader *l, const char *key, const json_t *v,
                      coap__credential *cred) {
  const char *field;
  json_t *value;
  int rc = 0;

  if (!json_is_object(v) || json_object_size(v) == 0) {
    set_err(l, "%s: x509: a non-empty object expected", key);
    return COAP_ECREDENTIALS;
  }
  json_object_foreach((json_t *)v, field, value) {
    if (strcmp(field, "certfile") == 0)
      rc = file_name(l, key, field, value, &cred->certfile);
    else if (strcmp(field, "keyfile") == 0)
      rc = file_name(l, key, field, value, &cred->keyfile);
    else if (strcmp(field, "cafile") == 0)
      rc = file_name(l, key, field, value, &cred->cafile);
    else if (strcmp(field, "insecure-no-verify") == 0) {
      if (!json_is_boolean(value)) {
        set_err(l, "%s: x509.%s: true or false expected", key, field);
        return COAP_ECREDENTIALS;
      }
      cred->insecure_no_verify = json_is_true(value);
    } else {
      set_err(l,
              "%s: x509.%s: unknown key (certfile, keyfile, cafile, "
              "insecure-no-verify expected)",
              key, field);
      return COAP_ECREDENTIALS;
    }
    if (rc < 0)
      return rc;
  }
  return 0;
}

static coap_credential view(const coap__credential *cred) {
  coap_credential v = {
      .psk = cred->psk,
      .psk_len = cred->psk_len,
      .client_identity = cred->client_identity,
      .client_identity_len = cred->client_identity_len,
      .certfile = cred->certfile,
      .keyfile = cred->keyfile,
      .cafile = cred->cafile,
      .insecure_no_verify = cred->insecure_no_verify,
  };
  return v;
}

static int check(loader *l, const staged *s) {
  coap_credential v = view(&s->cred);
  const char *reason = coap__credential_check(s->key, &v);

  if (reason == NULL)
    return 0;
  set_err(l, "%s: %s", s->key[0] == '\0' ? "\"\"" : s->key, reason);
  return COAP_ECREDENTIALS;
}

static int parse_entry(loader *l, const char *key, const json_t *v, staged *s) {
  const char *type;
  json_t *body;
  int rc;

  s->key = key;
  s->pattern = coap__strdup(key);
  if (s->pattern == NULL)
    return COAP_ENOMEM;
  if (json_is_null(v)) {
    s->kind = STAGED_REMOVE;
    return 0;
  }
  if (json_is_string(v)) {
    s->kind = STAGED_REFERENCE;
    s->target = json_string_value(v);
    if (s->target[0] != ':') {
      set_err(l, "%s: a reference names a label, which starts with ':'", key);
      return COAP_ECREDENTIALS;
    }
    return 0;
  }
  s->kind = STAGED_CREDENTIAL;
  if (!json_is_object(v)) {
    set_err(l, "%s: an object, a label or null expected", key);
    return COAP_ECREDENTIALS;
  }
  /* As aiocoap (serde's encoding of an enum): exactly one key, the type. */
  if (json_object_size(v) != 1) {
    set_err(l, "%s: exactly one key (\"dtls\" or \"x509\") expected, found %zu",
            key, json_object_size(v));
    return COAP_ECREDENTIALS;
  }
  json_object_foreach((json_t *)v, type, body) {
    if (strcmp(type, "dtls") == 0)
      rc = parse_dtls(l, key, body, &s->cred);
    else if (strcmp(type, "x509") == 0)
      rc = parse_x509(l, key, body, &s->cred);
    else {
      set_err(l, "%s: %s: unknown or unsupported credential type", key, type);
      return COAP_ECREDENTIALS;
    }
    if (rc < 0)
      return rc;
  }
  return check(l, s);
}

/* The credential a label stands for after this load: staged in the same
 * text (and not removed there), or already in the map. */
static int lookup_label(const loader *l, const char *label,
                        const coap__credential **out) {
  for (size_t i = 0; i < l->count; i++) {
    const staged *s = &l->items[i];
    if (strcmp(s->key, label) != 0)
      continue;
    if (s->kind == STAGED_REMOVE)
      return COAP_ENOENT;
    if (s->kind == STAGED_REFERENCE && !s->resolved)
      return COAP_EAGAIN;
    *out = &s->cred;
    return 0;
  }
  *out = coap__credentials_get(l->map, label);
  return *out == NULL ? COAP_ENOENT : 0;
}

/* aiocoap resolves a reference at each lookup; we copy the label's
 * credential at load time.  Chains resolve over several passes; a pass
 * with no progress leaves an unknown label or a cycle. */
static int resolve_references(loader *l) {
  bool progress = true;

  while (progress) {
    progress = false;
    for (size_t i = 0; i < l->count; i++) {
      staged *s = &l->items[i];
      const coap__credential *target;
      coap_credential v;
      int rc;

      if (s->kind != STAGED_REFERENCE || s->resolved)
        continue;
      rc = lookup_label(l, s->target, &target);
      if (rc == COAP_EAGAIN)
        continue;
      if (rc < 0) {
        set_err(l, "%s: %s: no such label", s->key, s->target);
        return COAP_ECREDENTIALS;
      }
      v = view(target);
      if (coap__credential_copy(&s->cred, &v) < 0)
        return COAP_ENOMEM;
      s->resolved = true;
      progress = true;
      rc = check(l, s);
      if (rc < 0)
        return rc;
    }
  }
  for (size_t i = 0; i < l->count; i++)
    if (l->items[i].kind == STAGED_REFERENCE && !l->items[i].resolved) {
      set_err(l, "%s: %s: the references form a cycle", l->items[i].key,
              l->items[i].target);
      return COAP_ECREDENTIALS;
    }
  return 0;
}

static void wipe_strings(json_t *v) {
  const char *key;
  json_t *member;
  size_t i;

  if (json_is_string(v)) {
    /* jansson frees its strings without clearing them; the key text is
     * ours to scrub before it does. */
    sodium_memzero((char *)json_string_value(v), json_string_length(v));
  } else if (json_is_object(v)) {
    json_object_foreach(v, key, member) wipe_strings(member);
  } else if (json_is_array(v)) {
    json_array_foreach(v, i, member) wipe_strings(member);
  }
}

static int load_root(loader *l, json_t *root) {
  const char *key;
  json_t *value;
  int rc = 0;

  if (!json_is_object(root)) {
    set_err(l, "the top level is not an object");
    return COAP_ECREDENTIALS;
  }
  l->items = coap__calloc(json_object_size(root), sizeof(*l->items));
  if (l->items == NULL)
    return COAP_ENOMEM;
  json_object_foreach(root, key, value) {
    rc = parse_entry(l, key, value, &l->items[l->count++]);
    if (rc < 0)
      goto done;
  }
  rc = resolve_references(l);
  if (rc < 0)
    goto done;
  rc = coap__credentials_reserve(l->map, l->count);
  if (rc < 0)
    goto done;
  for (size_t i = 0; i < l->count; i++) {
    staged *s = &l->items[i];
    coap__credentials_put(l->map, s->pattern,
                          s->kind == STAGED_REMOVE ? NULL : &s->cred);
    s->pattern = NULL;
  }
done:
  for (size_t i = 0; i < l->count; i++) {
    coap__free(l->items[i].pattern);
    coap__credential_clear(&l->items[i].cred);
  }
  coap__free(l->items);
  return rc;
}

static int load_buffer(coap_credentials *c, const char *text, size_t len,
                       const char *base_dir, size_t base_len, char *err,
                       size_t cap) {
  loader l = {.map = c,
              .base_dir = base_dir,
              .base_len = base_len,
              .err = err,
              .cap = cap};
  json_error_t jerr;
  json_t *root;
  int rc;

  if (err != NULL && cap > 0)
    err[0] = '\0';
  if (len > COAP_CREDENTIALS_JSON_MAX) {
    set_err(&l, "larger than COAP_CREDENTIALS_JSON_MAX (%d bytes)",
            COAP_CREDENTIALS_JSON_MAX);
    return COAP_ECREDENTIALS;
  }
  root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL) {
    if (json_error_code(&jerr) == json_error_out_of_memory)
      return COAP_ENOMEM;
    set_err(&l, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    return COAP_ECREDENTIALS;
  }
  rc = load_root(&l, root);
  wipe_strings(root);
  json_decref(root);
  return rc;
}

int coap_credentials_load_json(coap_credentials *c, const char *json, char *err,
                               size_t cap) {
  if (c == NULL || json == NULL)
    return COAP_EINVAL;
  return load_buffer(c, json, strnlen(json, COAP_CREDENTIALS_JSON_MAX + 1),
                     NULL, 0, err, cap);
}

/* The file's bytes, read in chunks; a grown buffer's old copy is zeroed
 * as it holds keys. */
static int read_file(FILE *f, char **out, size_t *out_len) {
  size_t cap = 4096;
  size_t len = 0;
  char *buf = coap__malloc(cap);

  if (buf == NULL)
    return COAP_ENOMEM;
  for (;;) {
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (len < cap) {
      if (ferror(f)) {
        int rc = errno != 0 ? -errno : COAP_EINVAL;
        sodium_memzero(buf, len);
        coap__free(buf);
        return rc;
      }
      break;
    }
    if (len > COAP_CREDENTIALS_JSON_MAX)
      break; /* load_buffer names the limit */
    char *grown = coap__malloc(cap * 2);
    if (grown == NULL) {
      sodium_memzero(buf, len);
      coap__free(buf);
      return COAP_ENOMEM;
    }
    memcpy(grown, buf, len);
    sodium_memzero(buf, len);
    coap__free(buf);
    buf = grown;
    cap *= 2;
  }
  *out = buf;
  *out_len = len;
  return 0;
}

int coap_credentials_load_json_file(coap_credentials *c, const char *path,
                                    char *err, size_t cap) {
  const char *slash;
  size_t base_len;
  char *text = NULL;
  size_t len = 0;
  FILE *f;
  int rc;

  if (c == NULL || path == NULL)
    return COAP_EINVAL;
  if (err != NULL && cap > 0)
    err[0] = '\0';
  f = fopen(path, "rb");
  if (f == NULL) {
    rc = -errno;
    if (err != NULL && cap > 0)
      snprintf(err, cap, "%s", strerror(-rc));
    return rc;
  }
  rc = read_file(f, &text, &len);
  fclose(f);
  if (rc < 0) {
    if (err != NULL && cap > 0)
      snprintf(err, cap, "%s", strerror(-rc));
    return rc;
  }
  /* File names are joined as base "/" name: "dir/creds.json" gives "dir",
   * "/creds.json" the empty base (so "/name"), "creds.json" none. */
  slash = strrchr(path, '/');
  base_len = slash == NULL ? 0 : (size_t)(slash - path);
  rc = load_buffer(c, text, len, slash == NULL ? NULL : path, base_len, err,
                   cap);
  sodium_memzero(text, len);
  coap__free(text);
  return rc;
}
