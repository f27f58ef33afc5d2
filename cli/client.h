/*
 * aiocoap-client's parts: the command line (client_args.c), the payload
 * (client_payload.c), body transfer (client_transfer.c), output
 * (client_output.c, client_pretty.c, client_json*.c, client_cbor*.c),
 * progress (client_progress.c), one request (client_request.c),
 * observation (client_observe.c), the interactive prompt
 * (client_interactive.c, client_lines*.c) and main (client_main.c).
 *
 * Everything here runs on the one loop of the program; nothing is
 * thread-safe.
 */
#ifndef AIOCOAP_CLI_CLIENT_H
#define AIOCOAP_CLI_CLIENT_H

#include <aiocoap/aiocoap.h>

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Exit statuses, as aiocoap's: 1 a failed request or an unsuccessful
 * response, 2 a bad command line, 3 interrupted (SIGINT). */
enum {
  CLIENT_EXIT_OK = 0,
  CLIENT_EXIT_FAIL = 1,
  CLIENT_EXIT_USAGE = 2,
  CLIENT_EXIT_INTERRUPTED = 3
};

/* An option given on the command line (--option, --etag, --if-match,
 * --if-none-match); value is owned. */
typedef struct client_extra_option {
  uint16_t number;
  uint8_t *value;
  size_t len;
} client_extra_option;

/* One request as the command line (or an interactive line) asks for it.
 * Strings are borrowed from the argument vector; extra is owned. */
typedef struct client_opts {
  int code; /* the method */
  bool non;
  bool observe;
  const char *observe_exec;
  long observe_count; /* payloads before the client stops; 0: no limit */
  int accept;         /* -1: none */
  int content_format; /* -1: none */
  const char *payload;
  int payload_szx; /* -1: the context's default */
  const char *proxy;
  /* --credentials FILE: aiocoap's JSON credentials, loaded into the
   * context's client credentials once, for the whole program. */
  const char *credentials;
  /* --dump FILE: the context's dump_to (pcap of every datagram). */
  const char *dump;
  bool set_hostname;
  int verbose, quiet; /* counts of -v and -q */
  int color, pretty;  /* -1 automatic (on when stdout is a terminal), 0, 1 */
  /* For a line at the prompt, interactive is set after parsing: its
   * responses are ended with a newline. */
  bool interactive, help, version;
  char **owned_argv; /* freed with the options: the words strings point to */
  client_extra_option *extra;
  size_t n_extra;
  const char *url;
  /* --multicast-timeout, in ms; 0: the library's default. */
  uint32_t multicast_timeout_ms;
} client_opts;

/* Set (by client_main.c's handler) when SIGINT arrives, before the loop
 * hears of it: a blocking read of @- gives up on it. */
extern volatile sig_atomic_t client_interrupted;

/* ---- client_args.c ---- */

/* The defaults: GET, CON, set_hostname, automatic colour and pretty
 * printing, nothing else. */
void client_opts_init(client_opts *o);
/* Deep copy of src's extra options into dst (the rest is copied as is).
 * 0 or COAP_ENOMEM. */
int client_opts_copy(client_opts *dst, const client_opts *src);
void client_opts_free(client_opts *o);

/* Reads argv[0..argc) (no program name) into o, which holds the defaults
 * (client_opts_init, or the global options of an interactive session).
 * A URL is required unless --help, --version or --interactive is given;
 * interactive_line (a line at the prompt) refuses the latter two.  A bad
 * command line returns -1 with a message naming the flag in err; 0 otherwise.
 * @FILE payloads are checked here (they must name a readable file that is not a
 * directory). */
int client_args_parse(int argc, char *const *argv, bool interactive_line,
                      client_opts *o, char *err, size_t cap);

/* Writes the usage (all options) to f; interactive_line leaves out the
 * options that only apply to the whole program. */
void client_args_usage(FILE *f, bool interactive_line);

/* ---- client_payload.c ---- */

/* The request body: either held (data, len) or read from fd as a stream
 * (fd >= 0, size its length when known, else -1). */
typedef struct client_payload {
  uint8_t *data;
  size_t len;
  int fd;
  bool close_fd;
  int64_t size;
  const char *name; /* for messages: the file name, or "stdin" */
} client_payload;

/* Prepares o->payload: text (converted from diagnostic notation for JSON
 * and CBOR content formats), @FILE or @- (stdin).  An empty payload is
 * data NULL, len 0, fd -1.  Returns 0, or -1 with a message in err. */
int client_payload_open(const client_opts *o, client_payload *out, char *err,
                        size_t cap);
void client_payload_close(client_payload *p);

/* ---- client_json.c / client_json_none.c, client_cbor.c /
 * client_cbor_none.c: optional, each says so when not built in ---- */

extern const bool client_json_available;
extern const bool client_cbor_available;
/* JSON text → indented JSON (malloc'd, NUL-terminated), or NULL when it is
 * not valid JSON or support is missing. */
char *client_json_pretty(const uint8_t *data, size_t len);
/* Checks that text is JSON (RFC 8259); 0 or -1 with a reason in err. */
int client_json_validate(const char *text, char *err, size_t cap);
/* A CBOR item → diagnostic notation (RFC 8949 §8; malloc'd), or NULL. */
char *client_cbor_diagnostic(const uint8_t *data, size_t len);
/* JSON text (the JSON subset of diagnostic notation) → CBOR (malloc'd).
 * 0, or -1 with a reason in err. */
int client_cbor_from_json(const char *text, uint8_t **out, size_t *len,
                          char *err, size_t cap);

/* ---- client_pretty.c ---- */

typedef enum client_kind {
  CLIENT_KIND_OTHER,
  CLIENT_KIND_TEXT,
  CLIENT_KIND_LINK_FORMAT,
  CLIENT_KIND_JSON,
  CLIENT_KIND_CBOR
} client_kind;

/* What a content format is, for pretty printing and payload conversion. */
client_kind client_kind_of(int content_format);

/* The pretty form of a body of kind (malloc'd, NUL-terminated) and a note
 * for stderr ("CBOR message shown in diagnostic notation"), or NULL when
 * the kind has no pretty form or the body is not of that kind; *note then
 * may say why (e.g. "not built in"). */
char *client_pretty(client_kind kind, const uint8_t *data, size_t len,
                    const char **note);

/* ---- client_output.c ---- */

/* How this program writes: decided once from the options and the
 * terminals. */
typedef struct client_output {
  bool color;
  bool pretty;
  bool stdout_tty;
  bool stderr_tty;
  int verbosity; /* verbose - quiet */
} client_output;

void client_output_init(client_output *out, const client_opts *o);
/* Log sink for the library (coap_log_cb), coloured when out->color. */
void client_output_log(coap_log_level level, const char *message,
                       void *user_data);
/* The log level a verbosity asks for; -1 for none. */
int client_output_log_level(int verbosity);
/* The message as -v shows it: "GET to coap://..." then one line per option
 * ("- Uri-Path (11): 'time'") and the payload's size and first bytes. */
void client_output_describe(const client_output *out, const coap_message *m,
                            const char *direction, FILE *f);
/* The same for a response whose body was streamed (m's payload is empty):
 * head holds its first head_len bytes, total its length. */
void client_output_describe_streamed(const client_output *out,
                                     const coap_message *m,
                                     const char *direction, FILE *f,
                                     const uint8_t *head, size_t head_len,
                                     uint64_t total);
/* The code line of an unsuccessful response ("4.04 Not Found") to stderr. */
void client_output_code(const client_output *out, uint8_t code);
/* Location-Path / Location-Query of a response, on stderr. */
void client_output_location(const client_output *out, const coap_message *m);
/* A whole body to f: pretty when asked and possible (its note on stderr),
 * else byte for byte, with a newline added only when f is a terminal and
 * the body does not end in one (as aiocoap's present()); always_newline
 * adds it regardless (notifications).  0, or -1 when f could not be
 * written (errno says why). */
int client_output_body(const client_output *out, int content_format,
                       const uint8_t *data, size_t len, FILE *f,
                       bool always_newline);
/* One notice on stderr, coloured as an error when out->color. */
void client_output_error(const client_output *out, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* The "---" line before a notification (on stdout). */
void client_output_separator(const client_output *out);

/* ---- client_progress.c ---- */

typedef struct client_progress client_progress;
/* A progress line on stderr once a transfer has run for a second, only
 * when stderr is a terminal.  NULL when not wanted (or out of memory). */
client_progress *client_progress_start(uv_loop_t *loop,
                                       const client_output *out);
/* Bytes moved so far ("sent" or "received", static) and the total when
 * known (-1). */
void client_progress_update(client_progress *p, const char *what,
                            uint64_t bytes, int64_t total);
/* Clears the line and frees p (closing its timer). NULL is ignored. */
void client_progress_stop(client_progress *p);

/* ---- client_request.c: one request from options to exit status ---- */

typedef struct client_job client_job;
/* Fires once, from the loop, when the job is over; status is the exit
 * status it calls for.  The job is freed right after. */
typedef void (*client_job_done_cb)(client_job *job, int status,
                                   void *user_data);

/* Starts the request o describes (o is taken over: freed with the job) on
 * ctx (shut down with the job when own_ctx).  Output follows o's -v, -q,
 * --color and --pretty-print.  Failures to start are reported on stderr
 * and end the job (through done, from the loop) with their status.  0 or
 * COAP_ENOMEM (o is then freed). */
int client_job_start(coap_context *ctx, bool own_ctx, client_opts *o,
                     client_job_done_cb done, void *user_data,
                     client_job **job_out);
/* Stops the job as if interrupted: a pending request is cancelled, an
 * observation deregistered (RFC 7641 §3.6); done follows with status. */
void client_job_stop(client_job *job, int status);

/* ---- client_observe.c ---- */

typedef struct client_observer client_observer;
/* Follows obs (a reference is taken) after its first response has been
 * printed: every notification to stdout (or to --observe-exec), until the
 * server ends it, the count is reached or client_observer_stop.  done
 * fires once, from the loop, with the exit status. */
typedef void (*client_observer_done_cb)(void *user_data, int status);
int client_observer_start(coap_context *ctx, coap_observation *obs,
                          const client_opts *o, const client_output *out,
                          client_observer_done_cb done, void *user_data,
                          client_observer **out_obs);
/* Deregisters and ends with status (done follows from the loop). */
void client_observer_stop(client_observer *ob, int status);
void client_observer_free(client_observer *ob);

/* ---- client_multicast.c ---- */

typedef struct client_multicast client_multicast;
/* Whether msg (its URI set) goes to a group address. */
bool client_is_multicast(const coap_message *msg);
/* Sends msg (taken) to its group and prints every server's answer as it
 * comes (its base URI on stderr, the body on stdout), notifications too
 * with --observe, until the timeout, --observe-count or
 * client_multicast_stop.  done fires once, from the loop, with the exit
 * status: 0 when a server answered successfully, 1 when none did. */
typedef void (*client_multicast_done_cb)(void *user_data, int status);
int client_multicast_start(coap_context *ctx, coap_message *msg,
                           const client_opts *o, const client_output *out,
                           client_multicast_done_cb done, void *user_data,
                           client_multicast **out_mc);
/* Cancels and ends with status (done follows from the loop). */
void client_multicast_stop(client_multicast *mc, int status);
void client_multicast_free(client_multicast *mc);

/* ---- client_transfer.c: the body of a request and of its response ---- */

typedef struct client_transfer client_transfer;
/* Sets up the upload of payload into msg / params and the download of the
 * final response's body (ended with a newline when always_newline, as
 * observations are, else only on a terminal).  Borrowed: payload, out
 * (both must outlive the transfer). */
int client_transfer_new(uv_loop_t *loop, const client_output *out,
                        client_payload *payload, coap_message *msg,
                        bool always_newline, coap_request_params *params,
                        client_transfer **t);
/* The final response (its payload possibly streamed already): prints the
 * rest as the output rules say and returns the exit status it calls for. */
int client_transfer_finish(client_transfer *t, const coap_message *response);
/* The first bytes (up to 16) and the length of the response body that
 * went through the transfer. */
size_t client_transfer_head(const client_transfer *t, const uint8_t **head,
                            uint64_t *total);
/* What went wrong in reading the upload, if anything (0). */
int client_transfer_read_error(const client_transfer *t);
void client_transfer_free(client_transfer *t);
/* The largest body the client takes whole: notifications, which the
 * library does not stream. */
#define CLIENT_MAX_BODY_SIZE (64u << 20)

/* ---- client_interactive.c ---- */

/* Runs the prompt until exit or end of input; globals are the defaults of
 * every line.  Returns the exit status. */
int client_interactive_run(uv_loop_t *loop, coap_context *ctx,
                           const client_opts *globals,
                           const client_output *out);
/* Splits a line into words as a POSIX shell does for quotes and
 * backslashes (shlex).  *argv (malloc'd, the words following it in the
 * same block) is freed with free().  0, or -1 with a reason in err. */
int client_split_line(const char *line, int *argc, char ***argv, char *err,
                      size_t cap);

/* ---- client_lines_*.c: where interactive lines come from ---- */

typedef void (*client_line_cb)(char *line, void *user_data);
typedef struct client_lines client_lines;
/* Calls cb with each line (malloc'd, no newline; the callback frees it)
 * and with NULL at end of input.  On a terminal with libedit: an editing
 * prompt with history; otherwise lines as read. */
int client_lines_start(uv_loop_t *loop, const char *prompt, client_line_cb cb,
                       void *user_data, client_lines **out);
void client_lines_stop(client_lines *l);
/* Shows the prompt again after output came between, on a terminal without
 * the line editor (libedit redraws its line at the next key, and keeps the
 * accepted line until then, so a forced redraw would show that again). */
void client_lines_redisplay(client_lines *l);
/* The line editor (client_lineedit.c, with libedit; one at a time, as
 * readline's callback interface has one state), when built in: reads the
 * terminal on stdin.  0, or a libuv error (-1 when not built in). */
extern const bool client_lineedit_available;
int client_lineedit_start(uv_loop_t *loop, const char *prompt,
                          client_line_cb cb, void *user_data);
void client_lineedit_stop(void);

#endif
