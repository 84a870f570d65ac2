//! Running many blocking provider calls at once, under a global cap and a cap per host: what
//! refresh does with every recorded object.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex};

/// Calls `call` on every item, at most `global` at once and, for items `host` names a host
/// and its cap for, at most that many on that host. Results come in the items' order; a call
/// that panics gives its panic's text.
pub fn map_capped<T: Sync, R: Send>(
    items: &[T],
    global: usize,
    host: impl Fn(&T) -> Option<(String, usize)> + Sync,
    call: impl Fn(&T) -> R + Sync,
) -> Vec<Result<R, String>> {
    let hosts: Vec<Option<(String, usize)>> = items.iter().map(&host).collect();
    let queue: Mutex<(VecDeque<usize>, HashMap<String, usize>)> =
        Mutex::new(((0..items.len()).collect(), HashMap::new()));
    let freed = Condvar::new();
    let results: Mutex<Vec<Option<Result<R, String>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    let workers = global.max(1).min(items.len());
    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }
    // The next item whose host has room, taking its slot; `None` when nothing is left.
    let take = || -> Option<usize> {
        let mut guard = lock(&queue);
        loop {
            let (waiting, running) = &mut *guard;
            if waiting.is_empty() {
                return None;
            }
            let position = waiting.iter().position(|&i| match &hosts[i] {
                Some((h, cap)) => running.get(h).copied().unwrap_or(0) < *cap,
                None => true,
            });
            if let Some(p) = position {
                let i = waiting.remove(p)?;
                if let Some((h, _)) = &hosts[i] {
                    *running.entry(h.clone()).or_default() += 1;
                }
                return Some(i);
            }
            guard = freed.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(i) = take() {
                    let out = catch_unwind(AssertUnwindSafe(|| call(&items[i])))
                        .map_err(|p| panic_text(p.as_ref()));
                    if let Some((h, _)) = &hosts[i] {
                        if let Some(n) = lock(&queue).1.get_mut(h) {
                            *n = n.saturating_sub(1);
                        }
                    }
                    freed.notify_all();
                    if let Some(slot) = results.lock().unwrap_or_else(|p| p.into_inner()).get_mut(i)
                    {
                        *slot = Some(out);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("not run".into())))
        .collect()
}

/// What a panic said.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Each call waits until another call is running beside it (or a deadline passes), so
    /// the peak shows what the caps allow, whatever the machine's speed.
    #[test]
    fn calls_run_together_within_the_global_and_host_caps_and_keep_their_order() {
        let items: Vec<usize> = (0..12).collect();
        let running = AtomicUsize::new(0);
        let on_a = AtomicUsize::new(0);
        let (peak, peak_a) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let out = map_capped(
            &items,
            4,
            |&i| (i % 2 == 0).then(|| ("a".to_string(), 1)),
            |&i| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                if i % 2 == 0 {
                    let a = on_a.fetch_add(1, Ordering::SeqCst) + 1;
                    peak_a.fetch_max(a, Ordering::SeqCst);
                }
                let deadline = std::time::Instant::now() + Duration::from_secs(2);
                while running.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
                    std::thread::yield_now();
                }
                if i % 2 == 0 {
                    on_a.fetch_sub(1, Ordering::SeqCst);
                }
                running.fetch_sub(1, Ordering::SeqCst);
                if i == 5 {
                    panic!("item five");
                }
                i * 10
            },
        );
        assert_eq!(out.len(), 12);
        for (i, r) in out.iter().enumerate() {
            match r {
                Ok(v) => assert_eq!(*v, i * 10),
                Err(e) => assert!(i == 5 && e == "item five", "{i}: {e}"),
            }
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((2..=4).contains(&peak), "{peak} at once");
        assert_eq!(peak_a.load(Ordering::SeqCst), 1, "host a's cap is 1");
    }
}
