/*
 * The echo server in C, twin of examples/echo.ts and of the Rust `echo` crate: proof that the
 * Jamsocket WASM ABI (v1, protocol 0) is language-neutral.
 *
 *   connect(N)        -> "User N connected." to client N
 *   message(N, text)  -> "User N sent 'text'" to the room
 *   disconnect(N)     -> "User N left." to the room
 *
 * Built as a WASI reactor with wasi-libc (`deno task fixtures` runs this):
 *   clang --target=wasm32-wasi -mexec-model=reactor -Os -Wl,--strip-debug \
 *     -Wl,--export=JAMSOCKET_API_VERSION -Wl,--export=JAMSOCKET_API_PROTOCOL \
 *     -o examples/wasm/echo_c.wasm examples/wasm/c/echo.c
 * A reactor exports `_initialize` (wasi-libc's constructors); the host calls it once, first.
 *
 * Observed with `wasm-objdump -x` (clang 14, Debian wasi-libc): imports env.send_message only (no
 * stdio, so no WASI imports); exports memory, _initialize, jam_malloc, jam_free, initialize,
 * connect, disconnect, message, binary, timer, JAMSOCKET_API_VERSION (-> 1024) and
 * JAMSOCKET_API_PROTOCOL (-> 1028); 2 pages of memory, no maximum.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The ABI version and protocol. `--export=` makes wasm-ld export each as an immutable global
 * holding the symbol's ADDRESS in memory, as rustc does for `#[no_mangle] pub static`. */
const int32_t JAMSOCKET_API_VERSION = 1;
const int32_t JAMSOCKET_API_PROTOCOL = 0;

/* Functions implemented by the host. The recipient is a client id, or 0 for the whole room. */
__attribute__((import_module("env"), import_name("send_message")))
void send_message(uint32_t recipient, const char *message, uint32_t len);

#define BROADCAST 0

/* Per-room state: one instance serves one room. Echo keeps only its room id. */
static char *room_id;

/* A growable text buffer, enough for "User N sent 'text'" without pulling in stdio. */
struct text {
  char *bytes;
  size_t len;
};

static void append(struct text *t, const char *bytes, size_t len) {
  char *grown = realloc(t->bytes, t->len + len);
  if (grown == NULL) abort();
  memcpy(grown + t->len, bytes, len);
  t->bytes = grown;
  t->len += len;
}

static void append_str(struct text *t, const char *s) {
  append(t, s, strlen(s));
}

static void append_u32(struct text *t, uint32_t n) {
  char digits[10];
  size_t i = sizeof digits;
  do {
    digits[--i] = (char)('0' + n % 10);
    n /= 10;
  } while (n != 0);
  append(t, digits + i, sizeof digits - i);
}

/* Sends the text and frees it; every message this service sends is non-empty. */
static void send_text(uint32_t recipient, struct text *t) {
  send_message(recipient, t->bytes, (uint32_t)t->len);
  free(t->bytes);
  t->bytes = NULL;
  t->len = 0;
}

__attribute__((export_name("jam_malloc")))
void *jam_malloc(uint32_t size) {
  /* malloc(0) may return NULL; the host needs a valid pointer even for an empty payload. */
  return malloc(size == 0 ? 1 : size);
}

__attribute__((export_name("jam_free")))
void jam_free(void *ptr, uint32_t size) {
  (void)size;
  free(ptr);
}

__attribute__((export_name("initialize")))
void initialize(const char *room_id_ptr, uint32_t room_id_len) {
  free(room_id);
  room_id = malloc(room_id_len + 1);
  if (room_id == NULL) abort();
  memcpy(room_id, room_id_ptr, room_id_len);
  room_id[room_id_len] = '\0';
}

__attribute__((export_name("connect")))
void connect(uint32_t client) {
  struct text t = {0};
  append_str(&t, "User ");
  append_u32(&t, client);
  append_str(&t, " connected.");
  send_text(client, &t);
}

__attribute__((export_name("disconnect")))
void disconnect(uint32_t client) {
  struct text t = {0};
  append_str(&t, "User ");
  append_u32(&t, client);
  append_str(&t, " left.");
  send_text(BROADCAST, &t);
}

/* The host sends valid UTF-8; echo passes the bytes through without decoding them. */
__attribute__((export_name("message")))
void message(uint32_t client, const char *ptr, uint32_t len) {
  struct text t = {0};
  append_str(&t, "User ");
  append_u32(&t, client);
  append_str(&t, " sent '");
  append(&t, ptr, len);
  append_str(&t, "'");
  send_text(BROADCAST, &t);
}

__attribute__((export_name("binary")))
void binary(uint32_t client, const uint8_t *ptr, uint32_t len) {
  (void)client, (void)ptr, (void)len;
}

__attribute__((export_name("timer")))
void timer(void) {}
