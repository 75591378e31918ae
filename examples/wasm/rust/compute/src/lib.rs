//! A CPU-bound guest, for the metering benchmark (`bench/metering_bench.ts`): the text `N`
//! (a number) answers `N: primes P, checksum C`, where P counts the primes below N (a sieve of
//! Eratosthenes) and C mixes every prime into a 64-bit hash; anything else answers `not a
//! number`. The work grows with N: loops, bounds-checked vector accesses, multiplications,
//! branches, calls — what compiled Rust does.

use jamsocket_wasm::prelude::*;

struct Compute;

/// Counts the primes below `limit` and hashes them.
fn sieve(limit: usize) -> (u32, u64) {
    let mut composite = vec![false; limit];
    let mut count = 0;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for n in 2..limit {
        if composite[n] {
            continue;
        }
        count += 1;
        hash = mix(hash, n as u64);
        let mut multiple = n * n;
        while multiple < limit {
            composite[multiple] = true;
            multiple += n;
        }
    }
    (count, hash)
}

#[inline(never)]
fn mix(hash: u64, value: u64) -> u64 {
    (hash ^ value).wrapping_mul(0x0100_0000_01b3).rotate_left(5)
}

impl SimpleJamsocketService for Compute {
    fn new(_: &str, _: &impl JamsocketContext) -> Self {
        Compute
    }

    fn message(&mut self, client_id: ClientId, message: &str, ctx: &impl JamsocketContext) {
        match message.trim().parse::<usize>() {
            Ok(limit) if limit <= 50_000_000 => {
                let (primes, checksum) = sieve(limit);
                ctx.send_message(
                    client_id,
                    &format!("{}: primes {}, checksum {}", limit, primes, checksum),
                );
            }
            _ => ctx.send_message(client_id, "not a number"),
        }
    }
}

jamsocket_wasm!(Compute);
