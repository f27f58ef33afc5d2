/*
 * aiocoap-client --interactive: a prompt ("aiocoap> ") where each line
 * holds the options and URL of one request, read with the same parser as
 * the command line, over the global options given with --interactive.
 * Requests and observations run side by side; Ctrl-C stops those running
 * (deregistering observations), not the program; `exit`, `quit` or the
 * end of input ends it once what runs is over.
 */
#include "client.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define PROMPT "aiocoap> "

typedef struct running {
  struct running *next;
  client_job *job;
} running;

typedef struct session {
  uv_loop_t *loop;
  coap_context *ctx;
  const client_opts *globals;
  const client_output *out;
  client_lines *lines;
  running *jobs;
  size_t n_jobs;
  bool input_over;
  bool done;
  bool sigint_closed;
  uv_signal_t sigint;
} session;

static void sigint_closed(uv_handle_t *handle) {
  session *s = handle->data;
  s->sigint_closed = true;
}

int client_split_line(const char *line, int *argc, char ***argv, char *err,
                      size_t cap) {
  size_t len = strlen(line);
  size_t max_words = len / 2 + 2;
  char **words = malloc(max_words * sizeof *words + 2 * len + 2);
  if (words == NULL) {
    snprintf(err, cap, "out of memory");
    return -1;
  }
  char *store = (char *)(words + max_words);
  int n = 0;
  const char *p = line;
  for (;;) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == '\0')
      break;
    words[n++] = store;
    char quote = 0;
    for (; *p != '\0' && (quote || (*p != ' ' && *p != '\t')); p++) {
      if (quote == '\'') {
        if (*p == '\'')
          quote = 0;
        else
          *store++ = *p;
      } else if (quote == '"') {
        /* POSIX: inside double quotes a backslash escapes only \ and ". */
        if (*p == '"')
          quote = 0;
        else if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
          *store++ = *++p;
        else
          *store++ = *p;
      } else if (*p == '\'' || *p == '"') {
        quote = *p;
      } else if (*p == '\\' && p[1] != '\0') {
        *store++ = *++p;
      } else {
        *store++ = *p;
      }
    }
    *store++ = '\0';
    if (quote) {
      free(words);
      snprintf(err, cap, "no closing quotation");
      return -1;
    }
  }
  words[n] = NULL;
  *argc = n;
  *argv = words;
  return 0;
}

static void maybe_end(session *s) {
  if (s->input_over && s->n_jobs == 0 && !s->done) {
    s->done = true;
    uv_close((uv_handle_t *)&s->sigint, sigint_closed);
  }
}

static void job_over(client_job *job, int status, void *user_data) {
  session *s = user_data;
  for (running **r = &s->jobs; *r != NULL; r = &(*r)->next) {
    if ((*r)->job != job)
      continue;
    running *gone = *r;
    *r = gone->next;
    free(gone); /* the job shut down a context of its own */
    s->n_jobs--;
    break;
  }
  /* As aiocoap's prompt: a request's failure is one line, not the end. */
  if (status != CLIENT_EXIT_OK && status != CLIENT_EXIT_INTERRUPTED)
    fprintf(stderr, "Exit code: %d\n", status);
  client_lines_redisplay(s->lines);
  maybe_end(s);
}

/* A line's --payload-initial-szx needs a context of its own: the block
 * size is the context's. */
static coap_context *context_for(session *s, const client_opts *o,
                                 coap_context **own) {
  *own = NULL;
  if (o->payload_szx < 0 || o->payload_szx == s->globals->payload_szx)
    return s->ctx;
  coap_context_config config;
  coap_context_config_default(&config);
  config.block_size_exp = (uint8_t)o->payload_szx;
  config.max_body_size = CLIENT_MAX_BODY_SIZE;
  int level = client_output_log_level(s->out->verbosity);
  if (level >= 0) {
    config.log = client_output_log;
    config.log_level = (coap_log_level)level;
    config.log_user_data = (void *)s->out;
  }
  if (coap_context_create_client_context(s->loop, &config, own) < 0)
    return NULL;
  return *own;
}

static void start_line(session *s, int argc, char **argv) {
  client_opts o;
  char err[512];
  if (client_opts_copy(&o, s->globals) < 0) {
    free(argv);
    fprintf(stderr, "out of memory\n");
    return;
  }
  o.owned_argv = argv;
  o.interactive = false;
  if (client_args_parse(argc, argv, true, &o, err, sizeof err) < 0) {
    fprintf(stderr, "error: %s (try 'help')\n", err);
    client_opts_free(&o);
    return;
  }
  if (o.help) {
    client_args_usage(stdout, true);
    client_opts_free(&o);
    return;
  }
  /* At the prompt every response ends with a newline: outputs of requests
   * side by side must not run together. */
  o.interactive = true;
  coap_context *own;
  coap_context *ctx = context_for(s, &o, &own);
  running *r = calloc(1, sizeof *r);
  if (ctx == NULL || r == NULL) {
    fprintf(stderr, "error: cannot make a context for this request\n");
    if (own != NULL)
      coap_context_shutdown(own, NULL, NULL);
    free(r);
    client_opts_free(&o);
    return;
  }
  r->next = s->jobs;
  s->jobs = r;
  s->n_jobs++;
  if (client_job_start(ctx, own != NULL, &o, job_over, s, &r->job) < 0) {
    s->jobs = r->next;
    s->n_jobs--;
    if (own != NULL)
      coap_context_shutdown(own, NULL, NULL);
    free(r);
    fprintf(stderr, "out of memory\n");
  }
}

static void end_input(session *s) {
  if (s->input_over)
    return;
  s->input_over = true;
  client_lines_stop(s->lines);
  s->lines = NULL;
  if (s->n_jobs > 0 && s->out->stderr_tty)
    fprintf(stderr, "waiting for %zu running request(s); Ctrl-C stops them\n",
            s->n_jobs);
  maybe_end(s);
}

static void on_line(char *line, void *user_data) {
  session *s = user_data;
  if (line == NULL) {
    end_input(s);
    return;
  }
  int argc;
  char **argv;
  char err[128];
  int rc = client_split_line(line, &argc, &argv, err, sizeof err);
  free(line);
  if (rc < 0) {
    fprintf(stderr, "error: %s\n", err);
    return;
  }
  if (argc == 0) {
    free(argv);
    return;
  }
  const char *first = argv[0];
  if (argc == 1 && (strcmp(first, "help") == 0 || strcmp(first, "?") == 0)) {
    client_args_usage(stdout, true);
    free(argv);
    return;
  }
  if (argc == 1 && (strcmp(first, "exit") == 0 || strcmp(first, "quit") == 0 ||
                    strcmp(first, "q") == 0)) {
    free(argv);
    end_input(s);
    return;
  }
  start_line(s, argc, argv);
}

static void on_sigint(uv_signal_t *handle, int signum) {
  session *s = handle->data;
  (void)signum;
  if (s->n_jobs == 0) {
    if (s->out->stderr_tty)
      fputs("\n(Ctrl-C stops running requests; 'exit' or Ctrl-D ends)\n",
            stderr);
    return;
  }
  for (running *r = s->jobs; r != NULL; r = r->next)
    client_job_stop(r->job, CLIENT_EXIT_INTERRUPTED);
}

int client_interactive_run(uv_loop_t *loop, coap_context *ctx,
                           const client_opts *globals,
                           const client_output *out) {
  session s = {.loop = loop, .ctx = ctx, .globals = globals, .out = out};
  uv_signal_init(loop, &s.sigint);
  s.sigint.data = &s;
  uv_signal_start(&s.sigint, on_sigint, SIGINT);
  int rc = client_lines_start(loop, PROMPT, on_line, &s, &s.lines);
  if (rc < 0) {
    fprintf(stderr, "aiocoap-client: cannot read stdin: %s\n", uv_strerror(rc));
    uv_close((uv_handle_t *)&s.sigint, sigint_closed);
    while (!s.sigint_closed && uv_run(loop, UV_RUN_ONCE) != 0)
      ;
    return CLIENT_EXIT_FAIL;
  }
  /* s lives in this frame: run until its handle is closed too. */
  while (!s.sigint_closed && uv_run(loop, UV_RUN_ONCE) != 0)
    ;
  return CLIENT_EXIT_OK;
}
