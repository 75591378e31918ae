//! The echo server, twin of `examples/echo.ts`: `User N connected.` to the newcomer,
//! `User N sent 'text'` and `User N left.` to the room.
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

struct EchoServer;

impl SimpleJamsocketService for EchoServer {
    fn new(_: &str, _: &impl JamsocketContext) -> Self {
        EchoServer
    }

    fn connect(&mut self, client_id: ClientId, ctx: &impl JamsocketContext) {
        ctx.send_message(client_id, &format!("User {} connected.", client_id));
    }

    fn message(&mut self, client_id: ClientId, message: &str, ctx: &impl JamsocketContext) {
        ctx.send_message(
            MessageRecipient::Broadcast,
            &format!("User {} sent '{}'", client_id, message),
        );
    }

    fn disconnect(&mut self, client_id: ClientId, ctx: &impl JamsocketContext) {
        ctx.send_message(
            MessageRecipient::Broadcast,
            &format!("User {} left.", client_id),
        );
    }
}

jamsocket_wasm!(EchoServer);
