//! When to try again after a lost or refused connection.

/// The first retry's delay.
pub const BACKOFF_BASE_MS: u64 = 1000;
/// No retry waits longer than this.
pub const BACKOFF_CAP_MS: u64 = 30_000;

/// The delay before retry number `retry` (1 for the first): 1 s doubling to a 30 s cap, less up
/// to a quarter at random (`jitter` in [0, 1)) so that a classroom of pages that lost the same
/// broker do not all come back in the same second.
pub fn backoff_delay_ms(retry: u32, jitter: f64) -> u64 {
    let doublings = retry.saturating_sub(1).min(16);
    let nominal = (BACKOFF_BASE_MS << doublings).min(BACKOFF_CAP_MS);
    nominal - (nominal as f64 * 0.25 * jitter.clamp(0.0, 1.0)) as u64
}
