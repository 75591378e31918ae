//! The shared counter, twin of `examples/counter.ts`: `increment` / `decrement` change the room's
//! counter and every message broadcasts `new value: N`.
//!
//! Imports observed with `wasm-objdump -x` (Rust 1.63, wasm32-wasi, this workspace's release
//! profile), in order: env.send_message, wasi_snapshot_preview1.fd_write,
//! wasi_snapshot_preview1.environ_get, wasi_snapshot_preview1.environ_sizes_get,
//! wasi_snapshot_preview1.proc_exit. The four std ones come with Rust's std, not from the service
//! (its panic path writes to stderr and reads `RUST_BACKTRACE`).
//!
//! Exports: memory, JAMSOCKET_API_VERSION, JAMSOCKET_API_PROTOCOL, __heap_base, __data_end,
//! initialize, connect, disconnect, timer, message, binary, jam_malloc, jam_free (no `_start`, no
//! `_initialize`); 17 pages of memory, no maximum.

use jamsocket_wasm::prelude::*;

struct SharedCounterServer(i32);

impl SimpleJamsocketService for SharedCounterServer {
    fn new(_: &str, _: &impl JamsocketContext) -> Self {
        SharedCounterServer(0)
    }

    fn message(&mut self, _: ClientId, message: &str, ctx: &impl JamsocketContext) {
        match message {
            "increment" => self.0 += 1,
            "decrement" => self.0 -= 1,
            _ => (),
        }

        ctx.send_message(
            MessageRecipient::Broadcast,
            &format!("new value: {}", self.0),
        );
    }
}

jamsocket_wasm!(SharedCounterServer);
