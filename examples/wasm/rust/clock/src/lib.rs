//! The clock, twin of `examples/clock.ts`: each room arms its timer in `new` (that is, during
//! `initialize`) and, on every tick, broadcasts `Here in room R from timer @ N` and re-arms.
//!
//! The tick period is 4000 ms, or the WASI environment variable `CLOCK_TICK_MS` when the host
//! sets it (tests run the clock fast that way).
//!
//! Imports observed with `wasm-objdump -x` (Rust 1.63, wasm32-wasi, this workspace's release
//! profile), in order: env.set_timer, env.send_message, wasi_snapshot_preview1.fd_write,
//! wasi_snapshot_preview1.environ_get, wasi_snapshot_preview1.environ_sizes_get,
//! wasi_snapshot_preview1.proc_exit. The four std ones come with Rust's std, not from the service
//! (its panic path writes to stderr and reads `RUST_BACKTRACE`).
//!
//! Exports: memory, JAMSOCKET_API_VERSION, JAMSOCKET_API_PROTOCOL, __heap_base, __data_end,
//! initialize, connect, disconnect, timer, message, binary, jam_malloc, jam_free (no `_start`, no
//! `_initialize`); 17 pages of memory, no maximum.

use jamsocket_wasm::prelude::*;

/// How often the clock ticks unless `CLOCK_TICK_MS` says otherwise, in milliseconds.
const TICK_MS: u32 = 4000;

struct ClockServer {
    room_id: String,
    ticks: u32,
    tick_ms: u32,
}

impl SimpleJamsocketService for ClockServer {
    fn new(room_id: &str, ctx: &impl JamsocketContext) -> Self {
        let tick_ms = std::env::var("CLOCK_TICK_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(TICK_MS);
        ctx.set_timer(tick_ms);
        ClockServer {
            room_id: room_id.to_string(),
            ticks: 0,
            tick_ms,
        }
    }

    fn timer(&mut self, ctx: &impl JamsocketContext) {
        ctx.send_message(
            MessageRecipient::Broadcast,
            &format!("Here in room {} from timer @ {}", self.room_id, self.ticks),
        );
        self.ticks += 1;
        ctx.set_timer(self.tick_ms);
    }
}

jamsocket_wasm!(ClockServer);
