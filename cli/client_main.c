/*
 * aiocoap-client: a command-line CoAP client, flag for flag aiocoap's
 * aiocoap-client (see docs/aiocoap-client.1.scd).  This file reads the
 * command line, makes the context and runs one request (or the
 * interactive prompt) on the loop; SIGINT stops the request, deregistering
 * an observation, and exits 3.
 */
#include "client.h"

#include <errno.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t client_interrupted;

static struct sigaction uv_sigint_action;

/* Runs before libuv's own SIGINT handler: notes the interrupt for a
 * blocking read of the upload (client_transfer.c), which the loop cannot
 * reach while it waits.  Installed without SA_RESTART, so that the read
 * returns EINTR. */
static void note_interrupt(int signum, siginfo_t *info, void *context) {
  client_interrupted = 1;
  if (uv_sigint_action.sa_flags & SA_SIGINFO)
    uv_sigint_action.sa_sigaction(signum, info, context);
  else if (uv_sigint_action.sa_handler != SIG_IGN &&
           uv_sigint_action.sa_handler != SIG_DFL)
    uv_sigint_action.sa_handler(signum);
}

static void chain_sigint(void) {
  struct sigaction mine = {.sa_sigaction = note_interrupt,
                           .sa_flags = SA_SIGINFO};
  sigemptyset(&mine.sa_mask);
  sigaction(SIGINT, &mine, &uv_sigint_action);
}

typedef struct single_run {
  client_job *job;
  int status;
  bool done;
  int interrupts;
  int open_handles;
  uv_signal_t sigint, sigterm;
} single_run;

static void handle_closed(uv_handle_t *handle) {
  single_run *run = handle->data;
  run->open_handles--;
}

static void single_done(client_job *job, int status, void *user_data) {
  single_run *run = user_data;
  (void)job;
  run->job = NULL;
  run->status = status;
  run->done = true;
  if (run->interrupts > 0) {
    /* Interrupted already: a second SIGINT on its way (timeout(1) and
     * shells send one to the process and one to its group) must not find
     * the default action once the handles are closed, which would end us
     * with 130 instead of the exit status 3 decided here. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, NULL);
  }
  uv_close((uv_handle_t *)&run->sigint, handle_closed);
  uv_close((uv_handle_t *)&run->sigterm, handle_closed);
}

static void single_signal(uv_signal_t *handle, int signum) {
  single_run *run = handle->data;
  (void)signum;
  /* A second Ctrl-C does not wait for the deregistration. */
  if (++run->interrupts > 1)
    exit(CLIENT_EXIT_INTERRUPTED);
  if (run->job != NULL)
    client_job_stop(run->job, CLIENT_EXIT_INTERRUPTED);
}

static int run_single(uv_loop_t *loop, coap_context *ctx, client_opts *o) {
  single_run run = {.status = CLIENT_EXIT_FAIL};
  uv_signal_init(loop, &run.sigint);
  uv_signal_init(loop, &run.sigterm);
  run.sigint.data = run.sigterm.data = &run;
  run.open_handles = 2;
  uv_signal_start(&run.sigint, single_signal, SIGINT);
  uv_signal_start(&run.sigterm, single_signal, SIGTERM);
  chain_sigint();
  if (client_job_start(ctx, false, o, single_done, &run, &run.job) < 0) {
    fprintf(stderr, "aiocoap-client: out of memory\n");
    run.done = true;
    uv_close((uv_handle_t *)&run.sigint, handle_closed);
    uv_close((uv_handle_t *)&run.sigterm, handle_closed);
  }
  /* The handles live in this frame: run until they are closed. */
  while ((!run.done || run.open_handles > 0) && uv_run(loop, UV_RUN_ONCE) != 0)
    ;
  return run.status;
}

static void usage_error(const char *message) {
  fprintf(stderr,
          "aiocoap-client: %s\n"
          "usage: aiocoap-client [options] URL  (aiocoap-client --help for "
          "all options)\n",
          message);
}

/* Started with stdin, stdout or stderr closed, the context's socket would
 * take fd 0, 1 or 2 (which libuv refuses to close, and which @- or the
 * output would then use): those are opened on /dev/null first. */
static void hold_standard_fds(void) {
  for (int fd = 0; fd <= STDERR_FILENO; fd++) {
    if (fcntl(fd, F_GETFD) >= 0)
      continue;
    int got = open("/dev/null", O_RDWR);
    if (got >= 0 && got != fd) {
      dup2(got, fd);
      close(got);
    }
  }
}

int main(int argc, char **argv) {
  hold_standard_fds();
  /* A closed stdout pipe or --observe-exec command is an error to report,
   * not a reason to die. */
  signal(SIGPIPE, SIG_IGN);
  client_opts o;
  client_opts_init(&o);
  char err[512];
  if (client_args_parse(argc - 1, argv + 1, false, &o, err, sizeof err) < 0) {
    usage_error(err);
    client_opts_free(&o);
    return CLIENT_EXIT_USAGE;
  }
  if (o.help) {
    client_args_usage(stdout, false);
    client_opts_free(&o);
    return CLIENT_EXIT_OK;
  }
  if (o.version) {
    printf("aiocoap-client (aiocoap-c) %s\n", coap_version_string());
    client_opts_free(&o);
    return CLIENT_EXIT_OK;
  }
  client_output out;
  client_output_init(&out, &o);

  uv_loop_t loop;
  uv_loop_init(&loop);
  coap_context_config config;
  coap_context_config_default(&config);
  int level = client_output_log_level(out.verbosity);
  if (level >= 0) {
    config.log = client_output_log;
    config.log_level = (coap_log_level)level;
    config.log_user_data = &out;
  }
  config.max_body_size = CLIENT_MAX_BODY_SIZE;
  if (o.payload_szx >= 0)
    config.block_size_exp = (uint8_t)o.payload_szx;
  coap_credentials *creds = NULL;
  if (o.credentials != NULL) {
    int rc = coap_credentials_new(&creds);
    if (rc == 0)
      rc = coap_credentials_load_json_file(creds, o.credentials, err,
                                           sizeof err);
    else
      snprintf(err, sizeof err, "%s", coap_strerror(rc));
    if (rc < 0) {
      client_output_error(&out, "Error: --credentials %s: %s", o.credentials,
                          err[0] != '\0' ? err : coap_strerror(rc));
      coap_credentials_unref(creds);
      client_opts_free(&o);
      uv_loop_close(&loop);
      return CLIENT_EXIT_FAIL;
    }
    /* The context takes its own reference. */
    config.client_credentials = creds;
  }
  config.dump_to = o.dump;
  coap_context *ctx;
  int rc = coap_context_create_client_context(&loop, &config, &ctx);
  coap_credentials_unref(creds);
  if (rc < 0) {
    /* A client context binds [::]:0, which fails for want of memory or
     * sockets only: anything else is the dump file's. */
    if (o.dump != NULL && rc != COAP_ENOMEM && rc != -EMFILE && rc != -ENFILE)
      client_output_error(&out, "Error: --dump %s: %s", o.dump,
                          rc == COAP_ENOTSUP ? "not built in (libpcap)"
                                             : coap_strerror(rc));
    else
      client_output_error(&out, "Error: cannot create a context: %s",
                          coap_strerror(rc));
    client_opts_free(&o);
    uv_loop_close(&loop);
    return CLIENT_EXIT_FAIL;
  }
  int status;
  if (o.interactive) {
    status = client_interactive_run(&loop, ctx, &o, &out);
    client_opts_free(&o);
  } else {
    status = run_single(&loop, ctx, &o);
  }
  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return status;
}
