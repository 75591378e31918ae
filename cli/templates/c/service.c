/*
 * A Jamsocket service: one instance runs each room. Clients connect to
 * ws://localhost:8080/ws/<room>; every client of a room shares its counter.
 *
 * - A client that connects is told its id: "User 1 connected."
 * - "increment" / "decrement" change the room's counter; everyone gets "new value: N".
 * - Any other text is passed on to the room: "User 1 sent 'hello'".
 *
 * jamsocket.toml says how `jamsocket dev` builds it (clang, as a WASI reactor).
 */
#include <stdio.h>
#include <string.h>

#include "jamsocket.h"

/* This room's state: one module instance serves one room. */
static int value = 0;

static void send_text(uint32_t recipient, const char *text) {
  jamsocket_send_message(recipient, text, (uint32_t)strlen(text));
}

void jamsocket_initialize(const char *room_id, uint32_t len) {
  (void)room_id, (void)len;
}

void jamsocket_connect(uint32_t client) {
  char text[64];
  snprintf(text, sizeof text, "User %u connected.", client);
  send_text(client, text);
}

void jamsocket_disconnect(uint32_t client) {
  (void)client;
}

void jamsocket_message(uint32_t client, const char *message, uint32_t len) {
  char text[128];
  if ((len == 9 && memcmp(message, "increment", 9) == 0) ||
      (len == 9 && memcmp(message, "decrement", 9) == 0)) {
    value += message[0] == 'i' ? 1 : -1;
    snprintf(text, sizeof text, "new value: %d", value);
  } else {
    snprintf(text, sizeof text, "User %u sent '%.*s'", client, (int)len, message);
  }
  send_text(JAMSOCKET_BROADCAST, text);
}

void jamsocket_binary(uint32_t client, const uint8_t *data, uint32_t len) {
  (void)client, (void)data, (void)len;
}

void jamsocket_timer(void) {}
