/*
 * aiocoap-fileserver: what its files share (aiocoap's cli/fileserver.py).
 *
 * fileserver_main.c    command line, context, signals
 * fileserver_resource.c the one path-capable resource: dispatch by method
 * fileserver_path.c    Uri-Path checks and opening beneath the root
 * fileserver_meta.c    ETags from stat, Content-Format from the file name
 * fileserver_get.c     GET of files (Block2 by pread) and directories
 * fileserver_put.c     PUT (atomic, by rename) and DELETE, conditionals
 * fileserver_commit.c  the end of a body: fsync off the loop, then rename
 * fileserver_upload.c  Block1 uploads streamed into temporary files
 * fileserver_watch.c   Observe through uv_fs_event
 */
#ifndef AIOCOAP_CLI_FILESERVER_H
#define AIOCOAP_CLI_FILESERVER_H

#include <aiocoap/aiocoap.h>

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* RFC 7959 §2.2: our largest block, 1024 bytes (SZX 6). */
#define FS_MAX_SZX 6
/* Longest relative path handled (Linux PATH_MAX). */
#define FS_PATH_MAX 4096
/* Uploads in progress at once (--max-uploads), and per peer. */
#define FS_DEFAULT_MAX_UPLOADS 16
#define FS_MAX_UPLOADS_PER_PEER 4
/* An upload with no block for this long is abandoned (--upload-timeout);
 * RFC 7959 §2.5 leaves the time to the server.  Default: four ACK
 * timeouts' worth of retransmissions, as the library's Block1 uses. */
#define FS_DEFAULT_UPLOAD_TIMEOUT_MS 30000u
/* Largest file a PUT may make: what 2**20 blocks of 1024 bytes hold
 * (RFC 7959 §2.2, NUM has 20 bits). */
#define FS_MAX_UPLOAD_BYTES ((uint64_t)1 << 30)
/* Largest directory listing rendered: the library slices it, and keeps
 * up to max_block2_cached (32) of them for the later blocks. */
#define FS_MAX_LISTING_BYTES (1u << 20)
/* Events on one file within this time become one notification. */
#define FS_WATCH_COALESCE_MS 10u
/* Temporary upload files start with this; they are hidden from listings
 * and no request may name them. */
#define FS_TEMP_PREFIX ".aiocoap-upload-"

typedef struct fs_uploads fs_uploads;
typedef struct fs_watches fs_watches;

typedef struct fileserver {
  uv_loop_t *loop;
  int root_fd;     /* PATH, O_PATH | O_DIRECTORY */
  char *root_path; /* PATH made absolute, for uv_fs_event */
  bool write;
  size_t etag_length; /* 0: no ETags */
  int verbosity;
  fs_uploads *uploads;
  fs_watches *watches;
} fileserver;

/* Logs a line to stderr when verbosity >= level. */
void fs_log(const fileserver *fs, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- fileserver_path.c ---- */

/* A request's Uri-Path, checked: rel is its n non-empty segments joined
 * with '/' ("" for the root; no segment holds '/' or NUL), dir whether the
 * path asks for a directory (no segment at all, or a trailing empty one).
 * rel[0..parent_len) is the parent directory and rel + name_off the last
 * segment (both 0 with n = 0). */
typedef struct fs_path {
  size_t n;
  bool dir;
  char rel[FS_PATH_MAX];
  size_t parent_len;
  size_t name_off;
} fs_path;

/*
 * Checks request's Uri-Path and fills out.  On a path that must not be
 * served (".", "..", an empty segment not last, '/' or NUL in a segment,
 * a temporary upload's name, too long) fills response with 4.00 (or 4.03
 * for a reserved name) and a message, and returns -1; else 0.
 */
int fs_path_parse(const coap_message *request, coap_message *response,
                  fs_path *out);

/*
 * Opens rel (relative, no "." or ".." segments; "" is the root itself)
 * beneath root_fd, never following a symlink out of it: openat2 with
 * RESOLVE_BENEATH where the kernel has it, else a walk with O_NOFOLLOW
 * per segment (which then follows no symlink at all).  flags as for
 * open(2); O_CLOEXEC is added.  Returns the fd or -errno (EXDEV or ELOOP
 * for a symlink leading out).
 */
int fs_open_beneath(int root_fd, const char *rel, int flags);

/* Opens path's parent directory beneath fs's root (O_PATH | O_DIRECTORY);
 * the fd or -errno. */
int fs_open_parent(const fileserver *fs, const fs_path *path);

/*
 * Fills response with the answer for a failed open or stat (-err): 4.04
 * for a missing path or one below a file, 4.03 for a refused one (a
 * symlink out, permissions, a FIFO without writer), 5.00 otherwise.  No
 * errno text reaches the payload.
 */
void fs_answer_errno(coap_message *response, int err);

/* Sets response's code and a diagnostic payload (RFC 7252 §5.5.2). */
void fs_answer(coap_message *response, uint8_t code, const char *text);

/* ---- fileserver_meta.c ---- */

/* The ETag of st (mtime ns, ctime ns, size), fs->etag_length bytes into
 * etag; returns the length (0 when ETags are off). */
size_t fs_etag(const fileserver *fs, const struct stat *st,
               uint8_t etag[COAP_ETAG_MAX_LENGTH]);
/* True when request carries etag among its ETag options. */
bool fs_request_has_etag(const coap_message *request, const uint8_t *etag,
                         size_t len);
/* The Content-Format for a file name by its extension, or -1. */
int fs_content_format_for_name(const char *name, size_t len);

/* ---- fileserver_get.c ---- */

int fs_get(fileserver *fs, const coap_message *request, const fs_path *path,
           coap_message *response);

/* ---- fileserver_put.c ---- */

/* PUT: answers in response, or (the last block of a body) through *later
 * as coap_render_fn allows. */
int fs_put(fileserver *fs, const coap_message *request, const fs_path *path,
           coap_message *response, coap_future **later);
int fs_delete(fileserver *fs, const coap_message *request, const fs_path *path,
              coap_message *response);
/* Moves the finished temporary file tmp_name (open as tmp_fd, synced;
 * the caller closes it) in parent_fd to the request's path, under the
 * request's If-Match / If-None-Match, and answers (2.01, 2.04, 4.12, ...).
 * The temporary name is gone afterwards either way. */
void fs_put_commit(fileserver *fs, const coap_message *request,
                   const fs_path *path, int parent_fd, int tmp_fd,
                   const char *tmp_name, coap_message *response);
/* RFC 7252 §5.10.8: true when request's If-Match and If-None-Match hold
 * for a file that exists with stat st (or does not: exists false). */
bool fs_conditions_hold(const fileserver *fs, const coap_message *request,
                        bool exists, const struct stat *st);
/* The request's preconditions against the file name in parent_fd as it is
 * now (RFC 7252 §5.10.8): 0 when they hold, -1 with a 4.12 answer when not
 * (or another answer when the file cannot be read). */
int fs_check_preconditions(fileserver *fs, const coap_message *request,
                           int parent_fd, const char *name,
                           coap_message *response);

/* ---- fileserver_commit.c ---- */

/*
 * The end of a body: the temporary file's data is synced to disk on
 * libuv's thread pool (so the loop serves others meanwhile), then
 * fs_put_commit runs on the loop and *later resolves with its answer,
 * with block1 (when not NULL) as the response's Block1.  Takes ownership
 * of parent_fd and tmp_fd.  0, or an error after which the temporary file
 * is removed and response holds the answer.
 */
int fs_commit_later(fileserver *fs, const coap_message *request,
                    const fs_path *path, int parent_fd, int tmp_fd,
                    const char *tmp_name, const coap_block *block1,
                    coap_message *response, coap_future **later);

/* ---- fileserver_upload.c ---- */

int fs_uploads_new(fileserver *fs, size_t max_uploads, uint32_t timeout_ms,
                   fs_uploads **out);
/* Handles one PUT with Block1 (RFC 7959 §2.3) or without; the last
 * block is answered through *later (fs_commit_later). */
int fs_upload_block(fs_uploads *ups, const coap_message *request,
                    const fs_path *path, coap_message *response,
                    coap_future **later);
/* Abandons every upload (their temporary files removed) and closes the
 * timer; ups is freed from the loop. */
void fs_uploads_close(fs_uploads *ups);

/* ---- fileserver_watch.c ---- */

int fs_watches_new(fileserver *fs, fs_watches **out);
/* add_observation: watches the request's file or directory and accepts
 * the observation; leaves it unaccepted when that cannot be done. */
void fs_watch_add_observation(fs_watches *w, const coap_message *request,
                              coap_server_observation *observation);
/* Closes the coalescing timer; every watch must be gone (the context has
 * shut down, which ends every observation).  w is freed from the loop. */
void fs_watches_close(fs_watches *w);

/* ---- fileserver_resource.c ---- */

/* The path-capable resource serving everything below "/", one reference
 * for the caller. */
int fs_resource_new(fileserver *fs, coap_resource **out);

#endif
