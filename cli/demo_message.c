/*
 * aiocoap-demo (message stage): builds a few messages the way an aiocoap
 * program would, prints each encoded in hex and decoded back.
 */
#include <aiocoap/aiocoap.h>

#include <stdio.h>
#include <string.h>

static void print_hex(const uint8_t *data, size_t len) {
  for (size_t i = 0; i < len; i++)
    printf("%02x%s", data[i], i + 1 < len ? " " : "\n");
}

static int show(const char *title, coap_message *msg) {
  uint8_t wire[1500];
  char text[512];
  int len = coap_message_encode(msg, wire, sizeof wire);
  if (len < 0) {
    fprintf(stderr, "%s: encode: %s\n", title, coap_strerror(len));
    return 1;
  }
  coap_message_describe(msg, text, sizeof text);
  printf("%s\n  built:   %s\n  encoded: ", title, text);
  print_hex(wire, (size_t)len);

  coap_message decoded;
  coap_message_init(&decoded);
  int rc = coap_message_decode(&decoded, wire, (size_t)len);
  if (rc < 0) {
    fprintf(stderr, "%s: decode: %s\n", title, coap_strerror(rc));
    return 1;
  }
  coap_message_describe(&decoded, text, sizeof text);
  printf("  decoded: %s\n", text);
  if (coap_message_get_request_uri(msg, text, sizeof text) >= 0)
    printf("  uri:     %s\n", text);
  coap_message_clear(&decoded);
  return 0;
}

int main(void) {
  int failed = 0;
  coap_message msg;

  coap_message_init(&msg);
  msg.code = COAP_CODE_GET;
  msg.mtype = COAP_TYPE_CON;
  msg.mid = 0x7d34;
  coap_message_set_token(&msg, "\x00\x00\x81\x99", 4);
  coap_message_set_request_uri(&msg, "coap://localhost/other/separate", true);
  failed |= show("GET coap://localhost/other/separate", &msg);
  coap_message_clear(&msg);

  msg.code = COAP_CODE_CONTENT;
  msg.mtype = COAP_TYPE_ACK;
  msg.mid = 0x7d34;
  coap_options_set_content_format(&msg.opt, COAP_CT_TEXT_PLAIN);
  coap_options_set_max_age(&msg.opt, 30);
  coap_message_set_payload_string(&msg, "22.3 C");
  failed |= show("2.05 Content, piggybacked", &msg);
  coap_message_clear(&msg);

  msg.code = COAP_CODE_PUT;
  msg.mtype = COAP_TYPE_NON;
  msg.mid = 1;
  coap_message_set_request_uri(&msg, "coap://[::1]:61616/a%2Fb/./c/../d?x=1",
                               true);
  coap_block block = {.num = 2, .more = true, .szx = 6};
  coap_options_set_block1(&msg.opt, &block);
  coap_message_set_payload_string(&msg, "a block of a larger upload");
  failed |= show("PUT with Block1 2/1/1024", &msg);
  coap_message_clear(&msg);

  static const uint8_t bad[] = {0x49, 0x01, 0x00, 0x01};
  int rc = coap_message_decode(&msg, bad, sizeof bad);
  printf("malformed 49 01 00 01: %s (%s)\n", coap_err_name(rc),
         coap_strerror(rc));
  coap_message_clear(&msg);
  return failed;
}
