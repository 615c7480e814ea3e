//! Pure, CPU-bound work over many inputs (planning files and templates), spread over the cores.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex, PoisonError};

/// `work` applied to every input, on one thread per core (at most 16), each thread taking the
/// next input as soon as it is done with one, so that a slow input never holds back a fixed share
/// of the others. Results come back in input order. An input whose work panics (a bug) gets
/// `failed(input)` in its place: every input has a result, and the others are kept.
pub fn map_in_order<T, R, W, F>(inputs: &[T], work: W, failed: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    F: Fn(&T) -> R,
{
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16)
        .min(inputs.len().max(1));
    let next = AtomicUsize::new(0);
    let done: Vec<Vec<(usize, R)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(input) = inputs.get(i) else {
                            break;
                        };
                        if let Ok(r) = catch_unwind(AssertUnwindSafe(|| work(input))) {
                            out.push((i, r));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut slots: Vec<Option<R>> = inputs.iter().map(|_| None).collect();
    for (i, r) in done.into_iter().flatten() {
        if let Some(slot) = slots.get_mut(i) {
            *slot = Some(r);
        }
    }
    slots
        .into_iter()
        .zip(inputs)
        .map(|(r, input)| r.unwrap_or_else(|| failed(input)))
        .collect()
}

/// How many results each worker may be ahead of the one `sink` is waiting for.
const AHEAD_PER_WORKER: usize = 4;

/// What the workers of [`for_each_in_order`] share: the next input to take, how many results
/// the sink has had, and whether to stop.
struct Gate {
    taken: usize,
    emitted: usize,
    stop: bool,
}

/// As [`map_in_order`], but each result is handed to `sink` as soon as it and every result
/// before it are done, in input order, and the workers stay only a few inputs ahead of the sink:
/// a run over any number of inputs holds a bounded number of results at once. An error from
/// `sink` stops the work (inputs not yet started are not started) and is returned.
pub fn for_each_in_order<T, R, E, W, F, S>(
    inputs: &[T],
    work: W,
    failed: F,
    mut sink: S,
) -> Result<(), E>
where
    T: Sync,
    R: Send,
    W: Fn(&T) -> R + Sync,
    F: Fn(&T) -> R,
    S: FnMut(R) -> Result<(), E>,
{
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 16)
        .min(inputs.len().max(1));
    let window = workers * AHEAD_PER_WORKER;
    let gate = Mutex::new(Gate {
        taken: 0,
        emitted: 0,
        stop: false,
    });
    let moved = Condvar::new();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Option<R>)>();
        for _ in 0..workers {
            let (tx, gate, moved, work) = (tx.clone(), &gate, &moved, &work);
            scope.spawn(move || loop {
                let i = {
                    let mut g = gate.lock().unwrap_or_else(PoisonError::into_inner);
                    while !g.stop && g.taken < inputs.len() && g.taken >= g.emitted + window {
                        g = moved.wait(g).unwrap_or_else(PoisonError::into_inner);
                    }
                    if g.stop || g.taken >= inputs.len() {
                        break;
                    }
                    g.taken += 1;
                    g.taken - 1
                };
                let Some(input) = inputs.get(i) else { break };
                let r = catch_unwind(AssertUnwindSafe(|| work(input))).ok();
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done: BTreeMap<usize, Option<R>> = BTreeMap::new();
        let mut next = 0;
        let mut outcome = Ok(());
        'receive: while next < inputs.len() {
            // Every worker gone with results missing (a bug): the missing ones fail below.
            let Ok((i, r)) = rx.recv() else { break };
            done.insert(i, r);
            while let Some(r) = done.remove(&next) {
                let r = r.unwrap_or_else(|| failed(&inputs[next]));
                next += 1;
                gate.lock().unwrap_or_else(PoisonError::into_inner).emitted = next;
                moved.notify_all();
                if let Err(e) = sink(r) {
                    outcome = Err(e);
                    break 'receive;
                }
            }
        }
        gate.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        moved.notify_all();
        drop(rx);
        outcome?;
        // Never an input without a result, even to a bug.
        while let Some(input) = inputs.get(next) {
            let r = done.remove(&next).flatten();
            sink(r.unwrap_or_else(|| failed(input)))?;
            next += 1;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_input_order_and_a_panic_costs_only_its_input() {
        let inputs: Vec<u32> = (0..200).collect();
        let out = map_in_order(
            &inputs,
            |n| {
                assert!(*n != 17, "a bug on input 17");
                n * 2
            },
            |n| 1_000_000 + n,
        );
        let expected: Vec<u32> = inputs
            .iter()
            .map(|n| if *n == 17 { 1_000_017 } else { n * 2 })
            .collect();
        assert_eq!(out, expected);
        assert!(map_in_order(&[] as &[u32], |n| *n, |n| *n).is_empty());
    }

    #[test]
    fn streamed_results_come_in_input_order_and_a_panic_costs_only_its_input() {
        let inputs: Vec<u32> = (0..500).collect();
        let mut seen = Vec::new();
        let r: Result<(), ()> = for_each_in_order(
            &inputs,
            |n| {
                assert!(*n != 17, "a bug on input 17");
                // Uneven work, so that results finish out of order.
                std::thread::sleep(std::time::Duration::from_micros(u64::from(n % 7) * 50));
                n * 2
            },
            |n| 1_000_000 + n,
            |r| {
                seen.push(r);
                Ok(())
            },
        );
        assert_eq!(r, Ok(()));
        let expected: Vec<u32> = inputs
            .iter()
            .map(|n| if *n == 17 { 1_000_017 } else { n * 2 })
            .collect();
        assert_eq!(seen, expected);
        let none: Result<(), ()> = for_each_in_order(&[] as &[u32], |n| *n, |n| *n, |_| Err(()));
        assert_eq!(none, Ok(()));
    }

    #[test]
    fn an_error_from_the_sink_stops_the_work_and_is_returned() {
        let inputs: Vec<u32> = (0..10_000).collect();
        let started = AtomicUsize::new(0);
        let mut seen = 0;
        let r = for_each_in_order(
            &inputs,
            |n| {
                started.fetch_add(1, Ordering::Relaxed);
                *n
            },
            |n| *n,
            |n| {
                seen += 1;
                if n == 20 {
                    Err("stop")
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(r, Err("stop"));
        assert_eq!(seen, 21);
        // The workers never ran far ahead of the sink.
        assert!(started.load(Ordering::Relaxed) < 21 + 16 * AHEAD_PER_WORKER + 16);
    }
}
