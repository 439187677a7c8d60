//! openraft's [`AsyncRuntime`] for camproof: tokio tasks on the local set, tokio time, and
//! a seeded RNG.
//!
//! openraft takes spawn, time and randomness only from this trait, so this file is the
//! whole determinism seam of the engine:
//! - **spawn**: `spawn_local` (our futures are `!Send`; turmoil runs every host on one
//!   thread, `serve` runs a current-thread runtime with a `LocalSet`).
//! - **time**: `tokio::time`. turmoil runs each host's runtime with paused time and
//!   advances it itself, so under simulation this *is* the simulated clock; on real
//!   sockets it is the monotonic clock.
//! - **randomness** (election timeouts): openraft asks for `thread_rng()` through a static
//!   function with no receiver, so the RNG has to be reachable without an instance. It is
//!   a thread-local [`ChaCha8Rng`] that every replica reseeds from its configured seed
//!   when it starts ([`reseed`]). Replicas of one simulation share the thread and draw
//!   from one stream in the simulator's fixed host order, so the draws are a function of
//!   the seeds; a second simulation on the same thread starts from the same state
//!   because its replicas reseed again.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use openraft::async_runtime::TokioOneShotSender;
use openraft::{AsyncRuntime, OptionalSend};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

thread_local! {
    // Why a thread-local and not a field: openraft's `AsyncRuntime::thread_rng()` has no
    // `self`. One thread runs one simulation at a time, and every replica reseeds it.
    static RNG: RefCell<ChaCha8Rng> = RefCell::new(ChaCha8Rng::seed_from_u64(0));
}

/// Reseeds the election-timeout RNG of the current thread.
pub fn reseed(seed: u64) {
    RNG.with(|r| *r.borrow_mut() = ChaCha8Rng::seed_from_u64(seed));
}

/// A handle to the current thread's seeded RNG (what openraft's `thread_rng()` returns).
#[derive(Debug, Clone, Copy, Default)]
pub struct SeededRng;

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        RNG.with(|r| r.borrow_mut().next_u32())
    }

    fn next_u64(&mut self) -> u64 {
        RNG.with(|r| r.borrow_mut().next_u64())
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        RNG.with(|r| r.borrow_mut().fill_bytes(dest))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// The runtime openraft runs on, under turmoil and on real sockets alike.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct LocalRuntime;

impl AsyncRuntime for LocalRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = tokio::task::JoinHandle<T>;
    type Sleep = tokio::time::Sleep;
    type Instant = tokio::time::Instant;
    type TimeoutError = tokio::time::error::Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = tokio::time::Timeout<T>;
    type ThreadLocalRng = SeededRng;
    type OneshotSender<T: OptionalSend> = TokioOneShotSender<T>;
    type OneshotReceiver<T: OptionalSend> = tokio::sync::oneshot::Receiver<T>;
    type OneshotReceiverError = tokio::sync::oneshot::error::RecvError;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        tokio::task::spawn_local(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        tokio::time::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        tokio::time::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        tokio::time::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        SeededRng
    }

    fn oneshot<T: OptionalSend>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (TokioOneShotSender(tx), rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reseed_restarts_the_stream() {
        reseed(7);
        let a = (SeededRng.next_u64(), SeededRng.next_u64());
        reseed(7);
        let b = (SeededRng.next_u64(), SeededRng.next_u64());
        assert_eq!(a, b);
        reseed(8);
        assert_ne!(SeededRng.next_u64(), a.0);
    }
}
