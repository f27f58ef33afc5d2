/*
 * dump_to in a build without libpcap (-Dpcap=disabled): asked for, it
 * fails context creation with COAP_ENOTSUP and leaves nothing behind; not
 * asked for, nothing changes.
 */
#include "test_common.h"

#include <unistd.h>

Test(dump_none, dump_to_fails_creation_with_enotsup) {
  uv_loop_t loop;
  cr_assert_eq(uv_loop_init(&loop), 0);
  coap_context_config config;
  coap_context_config_default(&config);
  char path[64];
  snprintf(path, sizeof path, "/tmp/aiocoap-test-dump-none-%d.pcap",
           (int)getpid());
  config.dump_to = path;
  coap_context *ctx = NULL;
  cr_expect_eq(coap_context_create_client_context(&loop, &config, &ctx),
               COAP_ENOTSUP);
  cr_expect_null(ctx);
  cr_expect_neq(access(path, F_OK), 0, "no file was made");
  config.dump_to = NULL;
  cr_assert_eq(coap_context_create_client_context(&loop, &config, &ctx), 0);
  coap_context_shutdown(ctx, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  cr_expect_eq(uv_loop_close(&loop), 0, "nothing left behind");
}
