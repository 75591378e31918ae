//! The original randomness example: each newcomer gets a random number drawn with WASI
//! `random_get` (`User N connected. Random number: R`), messages are broadcast as
//! `User N sent 'text'`, and departures as `User N left.`.
//!
//! Imports observed with `wasm-objdump -x` (Rust 1.63, wasm32-wasi, this workspace's release
//! profile), in order: env.send_message, wasi_snapshot_preview1.random_get,
//! wasi_snapshot_preview1.fd_write, wasi_snapshot_preview1.environ_get,
//! wasi_snapshot_preview1.environ_sizes_get, wasi_snapshot_preview1.proc_exit. The four std ones
//! come with Rust's std, not from the service (its panic path writes to stderr and reads
//! `RUST_BACKTRACE`).
//!
//! Exports: memory, JAMSOCKET_API_VERSION, JAMSOCKET_API_PROTOCOL, __heap_base, __data_end,
//! initialize, connect, disconnect, timer, message, binary, jam_malloc, jam_free (no `_start`, no
//! `_initialize`); 17 pages of memory, no maximum.

use jamsocket_wasm::prelude::*;

// The preview1 import, declared by hand (no `wasi` crate): fills `buf` with `len` random bytes
// and returns an errno (0 on success).
#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn random_get(buf: *mut u8, len: usize) -> u16;
}

fn random_u32() -> u32 {
    let mut buf = [0u8; 4];
    let errno = unsafe { random_get(buf.as_mut_ptr(), buf.len()) };
    assert_eq!(errno, 0, "random_get failed");
    u32::from_le_bytes(buf)
}

struct RandomServer;

impl SimpleJamsocketService for RandomServer {
    fn new(_: &str, _: &impl JamsocketContext) -> Self {
        RandomServer
    }

    fn connect(&mut self, client_id: ClientId, ctx: &impl JamsocketContext) {
        ctx.send_message(
            client_id,
            &format!(
                "User {} connected. Random number: {}",
                client_id,
                random_u32()
            ),
        );
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

jamsocket_wasm!(RandomServer);
