//! The original cpu-hog: on connect it broadcasts `Connected.`, then spins reading the WASI
//! realtime clock for 10 seconds (or the WASI environment variable `HOG_SECONDS`), then broadcasts
//! `Finished.`. A text message is echoed to its sender as `echo: text`, so another room of the
//! same module can serve as the healthy room in isolation tests.
//!
//! Imports observed with `wasm-objdump -x` (Rust 1.63, wasm32-wasi, this workspace's release
//! profile), in order: env.send_message, wasi_snapshot_preview1.clock_time_get,
//! wasi_snapshot_preview1.fd_write, wasi_snapshot_preview1.environ_get,
//! wasi_snapshot_preview1.environ_sizes_get, wasi_snapshot_preview1.proc_exit. The four std ones
//! come with Rust's std, not from the service (its panic path writes to stderr and reads
//! `RUST_BACKTRACE`).
//!
//! Exports: memory, JAMSOCKET_API_VERSION, JAMSOCKET_API_PROTOCOL, __heap_base, __data_end,
//! initialize, connect, disconnect, timer, message, binary, jam_malloc, jam_free (no `_start`, no
//! `_initialize`); 17 pages of memory, no maximum.

use jamsocket_wasm::prelude::*;

/// How long a connect spins unless `HOG_SECONDS` says otherwise.
const HOG_SECONDS: u64 = 10;

/// Nanoseconds per second (`clock_time_get` counts nanoseconds).
const SECONDS: u64 = 1_000_000_000;

/// Preview1 `CLOCKID_REALTIME`.
const CLOCKID_REALTIME: u32 = 0;

// The preview1 import, declared by hand (no `wasi` crate): writes the time in nanoseconds to
// `time` and returns an errno (0 on success).
#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
}

fn get_time() -> u64 {
    let mut time = 0u64;
    let errno = unsafe { clock_time_get(CLOCKID_REALTIME, 0, &mut time) };
    assert_eq!(errno, 0, "clock_time_get failed");
    time
}

struct CpuHog {
    seconds: u64,
}

impl SimpleJamsocketService for CpuHog {
    fn new(_: &str, _: &impl JamsocketContext) -> Self {
        let seconds = std::env::var("HOG_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(HOG_SECONDS);
        CpuHog { seconds }
    }

    fn connect(&mut self, _: ClientId, ctx: &impl JamsocketContext) {
        ctx.send_message(MessageRecipient::Broadcast, "Connected.");

        let init_time = get_time();
        loop {
            let cur_time = get_time();
            if init_time + self.seconds * SECONDS < cur_time {
                break;
            }
        }

        ctx.send_message(MessageRecipient::Broadcast, "Finished.");
    }

    fn message(&mut self, client_id: ClientId, message: &str, ctx: &impl JamsocketContext) {
        ctx.send_message(client_id, &format!("echo: {}", message));
    }
}

jamsocket_wasm!(CpuHog);
