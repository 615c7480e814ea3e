//! Pure, CPU-bound work over many inputs (planning files and templates), spread over the cores.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

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
}
