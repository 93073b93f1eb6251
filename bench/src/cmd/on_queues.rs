//! `load`, `xfer` and `serve proxy` with `--stack xdptcp --queues N`: one worker per queue
//! (`xdptcp_driver::runtime::Runtime`, the path `serve APP --queues N` takes), each with its
//! own application, and what each application measured handed back when its worker stops.
//!
//! Every worker's active opens (the load generator's connections, a transfer's stream, the
//! proxy's backend connections, opened on the core of the client connection they serve) take
//! local ports whose replies the NIC's RSS puts on the worker's own queue: the runtime
//! installs `Rss::affinity_filter` in each worker's stack, with the key of `--rss-key`. So
//! nothing a worker opens is steered, which each worker's `final` line shows (`not-mine 0`)
//! when the NIC's key is the one given.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use xdptcp_driver::runtime::Runtime;
use xdptcp_driver::signal;
use xdptcp_driver::worker::App;

use super::serve_xdp;

/// When a multi-queue run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Every worker's application has finished (a load run, a transfer), or a signal.
    AllFinished,
    /// SIGINT/SIGTERM (a server); a worker that stops before is an error.
    Signal,
}

/// Runs `make_app(k)` on each of the queues of `rt` (`k`: 0..N, a distinct share for each
/// worker), prints `{what} (queues .., cores .., xdp .., bind .., tx-checksum ..)` once all
/// serve, waits as `until` says, stops the workers (each prints its `final` line) and returns
/// `take` of each application, in worker order.
pub fn run<A, R, M, T>(
    rt: &serve_xdp::Args,
    what: &str,
    make_app: M,
    take: T,
    until: Until,
) -> Result<Vec<R>, String>
where
    A: App + 'static,
    R: Send + 'static,
    M: Fn(usize) -> Result<A, String> + Send + Sync + 'static,
    T: Fn(&A) -> R + Send + Sync + 'static,
{
    let (config, _) = serve_xdp::runtime_config(rt)?;
    let n = config.queues.len();
    signal::install().map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    let next = AtomicUsize::new(0);
    let results: Arc<Mutex<Vec<Option<R>>>> = Arc::new(Mutex::new((0..n).map(|_| None).collect()));
    let sink = results.clone();
    let runtime = Runtime::start_then(
        config,
        move |_| make_app(next.fetch_add(1, Ordering::Relaxed)),
        move |i, app: &A| {
            let mut r = sink.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(slot) = r.get_mut(i) {
                *slot = Some(take(app));
            }
        },
    )?;
    println!("{what} {}", serve_xdp::describe(runtime.info()));
    let done: fn(&Runtime) -> bool = match until {
        Until::AllFinished => Runtime::all_finished,
        Until::Signal => Runtime::any_finished,
    };
    let (_, by_signal, errors) = serve_xdp::wait_and_stop(runtime, rt.stats_interval, done);
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    if until == Until::Signal && !by_signal {
        return Err("a worker stopped unexpectedly".into());
    }
    let results = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.ok_or_else(|| format!("worker {i} stopped without its application")))
        .collect()
}

/// `total` split over `n` shares as evenly as can be (the first `total % n` get one more).
pub fn share(total: u64, n: usize, k: usize) -> u64 {
    let n = n.max(1) as u64;
    total / n + u64::from((k as u64) < total % n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for (total, n) in [(64, 2), (65, 2), (7, 3), (1, 4), (0, 2), (1 << 20, 3)] {
            let s: Vec<u64> = (0..n).map(|k| share(total, n, k)).collect();
            assert_eq!(s.iter().sum::<u64>(), total, "{total}/{n}: {s:?}");
            assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1, "{s:?}");
        }
    }
}
