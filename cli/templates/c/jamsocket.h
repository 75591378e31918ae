/*
 * The Jamsocket WebAssembly ABI (v1, protocol 0) for C: what the host calls, what it provides.
 * Include it once, in the file that defines the service's hooks. See WASM_ABI.md of Jamsocket
 * for Deno, or the original `jamsocket-wasm` crate.
 *
 * A service defines these five hooks (each may do nothing):
 *   void jamsocket_initialize(const char *room_id, uint32_t len);  a room starts
 *   void jamsocket_connect(uint32_t client);                        a client joined
 *   void jamsocket_disconnect(uint32_t client);                     a client left
 *   void jamsocket_message(uint32_t client, const char *text, uint32_t len);
 *   void jamsocket_binary(uint32_t client, const uint8_t *data, uint32_t len);
 *   void jamsocket_timer(void);                                     the timer fired
 * One module instance serves one room, so globals are the room's state.
 */
#ifndef JAMSOCKET_H
#define JAMSOCKET_H

#include <stdint.h>
#include <stdlib.h>

/* Send to one client, or to every client of the room. */
#define JAMSOCKET_BROADCAST 0

__attribute__((import_module("env"), import_name("send_message")))
void jamsocket_send_message(uint32_t recipient, const char *text, uint32_t len);

__attribute__((import_module("env"), import_name("send_binary")))
void jamsocket_send_binary(uint32_t recipient, const uint8_t *data, uint32_t len);

/* Arm the room's one timer: jamsocket_timer() runs once after `ms` milliseconds. */
__attribute__((import_module("env"), import_name("set_timer")))
void jamsocket_set_timer(uint32_t ms);

void jamsocket_initialize(const char *room_id, uint32_t len);
void jamsocket_connect(uint32_t client);
void jamsocket_disconnect(uint32_t client);
void jamsocket_message(uint32_t client, const char *text, uint32_t len);
void jamsocket_binary(uint32_t client, const uint8_t *data, uint32_t len);
void jamsocket_timer(void);

/* The ABI version and protocol: exported (by the build's --export=) as globals holding their
 * addresses, as the original Rust macro does. */
const int32_t JAMSOCKET_API_VERSION = 1;
const int32_t JAMSOCKET_API_PROTOCOL = 0;

__attribute__((export_name("jam_malloc"))) void *jam_malloc(uint32_t size) {
  return malloc(size == 0 ? 1 : size);
}

__attribute__((export_name("jam_free"))) void jam_free(void *ptr, uint32_t size) {
  (void)size;
  free(ptr);
}

__attribute__((export_name("initialize"))) void initialize(const char *room_id, uint32_t len) {
  jamsocket_initialize(room_id, len);
}

__attribute__((export_name("connect"))) void connect(uint32_t client) {
  jamsocket_connect(client);
}

__attribute__((export_name("disconnect"))) void disconnect(uint32_t client) {
  jamsocket_disconnect(client);
}

__attribute__((export_name("message"))) void message(uint32_t client, const char *text,
                                                     uint32_t len) {
  jamsocket_message(client, text, len);
}

__attribute__((export_name("binary"))) void binary(uint32_t client, const uint8_t *data,
                                                   uint32_t len) {
  jamsocket_binary(client, data, len);
}

__attribute__((export_name("timer"))) void timer(void) {
  jamsocket_timer();
}

#endif
