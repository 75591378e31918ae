//! The binary echo, twin of `examples/binary_echo.ts`: text comes back to the room as its UTF-8
//! bytes, and bytes come back as the text `Received binary data: [1, 2, 3]` (Rust's `{:?}` of a
//! byte slice is exactly that format).
//!
//! One difference from the TypeScript twin, kept on purpose: an EMPTY text message traps the room
//! (the original macro's `send_binary` takes `&message[0]` as its pointer and panics on an empty
//! slice), where `binary_echo.ts` broadcasts an empty binary frame.
//!
//! Imports observed with `wasm-objdump -x` (Rust 1.63, wasm32-wasi, this workspace's release
//! profile), in order: env.send_binary, env.send_message, wasi_snapshot_preview1.fd_write,
//! wasi_snapshot_preview1.environ_get, wasi_snapshot_preview1.environ_sizes_get,
//! wasi_snapshot_preview1.proc_exit. The four std ones come with Rust's std, not from the service
//! (its panic path writes to stderr and reads `RUST_BACKTRACE`).
//!
//! Exports: memory, JAMSOCKET_API_VERSION, JAMSOCKET_API_PROTOCOL, __heap_base, __data_end,
//! initialize, connect, disconnect, timer, message, binary, jam_malloc, jam_free (no `_start`, no
//! `_initialize`); 17 pages of memory, no maximum.

use jamsocket_wasm::prelude::*;

struct BinaryEcho;

impl SimpleJamsocketService for BinaryEcho {
    fn new(_: &str, _: &impl JamsocketContext) -> Self {
        BinaryEcho
    }

    fn message(&mut self, _: ClientId, message: &str, ctx: &impl JamsocketContext) {
        ctx.send_binary(MessageRecipient::Broadcast, message.as_bytes());
    }

    fn binary(&mut self, _: ClientId, message: &[u8], ctx: &impl JamsocketContext) {
        ctx.send_message(
            MessageRecipient::Broadcast,
            &format!("Received binary data: {:?}", &message),
        );
    }
}

jamsocket_wasm!(BinaryEcho);
