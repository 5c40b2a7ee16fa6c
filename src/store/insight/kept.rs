//! Dashboards kept between requests. What a dashboard shows up to a
//! settled moment (five minutes ago, to the minute) never changes: its
//! tickets were filed or ended before it, and ended tickets stay as they
//! are. So each dashboard's tally up to that moment is kept per database,
//! scope, period and range; a later request adds only the tickets of the
//! minutes since (then keeps the longer tally), and computes the last few
//! minutes live. A new day rolled up changes nothing kept. A dashboard
//! first asked for a range reaching one day further (tomorrow's default
//! view) starts from the tally of the same view a day shorter. Requests
//! that find nothing kept for the same dashboard wait for the first one to
//! build it rather than each building it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::NaiveDateTime;

use super::tally::Tally;
use crate::flow::figures::Period;

/// Database, businesses and services (`None`: all), period, first day,
/// day after the last.
pub type Key = (u64, Option<Vec<i32>>, Option<Vec<i32>>, Period, i32, i32);

/// A dashboard's tally of every ticket filed or ended before `cut`.
#[derive(Clone)]
pub struct Kept {
    pub cut: NaiveDateTime,
    pub tally: Arc<Tally>,
}

type Slot = Arc<Mutex<Option<Kept>>>;

static KEPT: Mutex<Option<HashMap<Key, Slot>>> = Mutex::new(None);

/// Dashboards kept at once; beyond it the oldest cut goes first.
const KEPT_MAX: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The dashboard `key`'s tally up to `cut` or a little later (another
/// request may have grown it past `cut` first: the caller reads on from
/// the cut returned): kept, kept up to earlier and
/// brought up to `cut` by `extend(with, tally, from)` (which adds the tickets
/// of `from..cut`), or built by `build` — from the kept tally of the same
/// dashboard a shorter range, if one is kept, else from nothing.
pub fn tally<C, E>(
    with: &mut C,
    key: Key,
    cut: NaiveDateTime,
    build: impl FnOnce(&mut C, Option<Kept>) -> Result<Kept, E>,
    extend: impl FnOnce(&mut C, &mut Tally, NaiveDateTime) -> Result<(), E>,
) -> Result<Kept, E> {
    let (slot, shorter) = {
        let mut all = lock(&KEPT);
        let all = all.get_or_insert_with(HashMap::new);
        let shorter = if all.contains_key(&key) {
            None
        } else {
            if all.len() >= KEPT_MAX {
                evict(all);
            }
            shorter(all, &key)
        };
        (all.entry(key).or_default().clone(), shorter)
    };
    // One request per dashboard builds or extends it; the others wait.
    let mut kept = lock(&slot);
    let mut now = match kept.take() {
        Some(k) => k,
        None => {
            let start = shorter.as_ref().and_then(|s| lock(s).clone());
            build(with, start)?
        }
    };
    if now.cut < cut {
        let mut tally = Arc::unwrap_or_clone(now.tally);
        extend(with, &mut tally, now.cut)?;
        now = Kept {
            cut,
            tally: Arc::new(tally),
        };
    }
    *kept = Some(now.clone());
    Ok(now)
}

/// The slot of the same dashboard over the longest shorter range that
/// starts on the same day, if any is kept.
fn shorter(all: &HashMap<Key, Slot>, key: &Key) -> Option<Slot> {
    let (db, businesses, services, period, from, until) = key;
    all.iter()
        .filter(|((d, b, s, p, f, u), _)| {
            d == db && b == businesses && s == services && p == period && f == from && u < until
        })
        .max_by_key(|(k, _)| k.5)
        .map(|(_, slot)| slot.clone())
}

/// Drops the half of the kept dashboards with the oldest cuts (those
/// being built count as newest).
fn evict(all: &mut HashMap<Key, Slot>) {
    let mut cuts: Vec<(Option<NaiveDateTime>, Key)> = all
        .iter()
        .map(|(k, slot)| {
            let cut = slot.try_lock().ok().and_then(|s| s.as_ref().map(|k| k.cut));
            (cut.or(Some(NaiveDateTime::MAX)), k.clone())
        })
        .collect();
    cuts.sort_by_key(|(cut, _)| *cut);
    for (_, key) in cuts.into_iter().take(all.len() / 2) {
        all.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
            .and_then(|d| d.and_hms_opt(hour, 0, 0))
            .expect("a time")
    }

    /// Asks for the dashboard `until` with `cut`, noting what was done.
    fn ask(done: &mut Vec<String>, until: i32, cut: NaiveDateTime) -> NaiveDateTime {
        // A database id no real one has, so other tests never share it.
        let key: Key = (u64::MAX - 27, None, None, Period::Week, 0, until);
        let kept = tally(
            done,
            key,
            cut,
            |done: &mut Vec<String>, shorter| {
                done.push(format!("built from a shorter one: {}", shorter.is_some()));
                Ok::<_, ()>(Kept {
                    cut: shorter.map_or(cut, |s| s.cut),
                    tally: Arc::new(Tally::new(Period::Week, 0, until)),
                })
            },
            |done, _, since| {
                done.push(format!("grown from {since}"));
                Ok(())
            },
        );
        kept.expect("kept").cut
    }

    #[test]
    fn a_dashboard_is_built_once_grown_forward_and_never_back() {
        let mut done = Vec::new();
        assert_eq!(ask(&mut done, 10, at(5)), at(5));
        assert_eq!(ask(&mut done, 10, at(7)), at(7));
        // A request that read the clock a moment earlier gets the tally
        // as it now is, and reads on from its end.
        assert_eq!(ask(&mut done, 10, at(6)), at(7));
        // A day longer: started from the shorter one, then grown.
        assert_eq!(ask(&mut done, 11, at(8)), at(8));
        assert_eq!(
            done,
            [
                "built from a shorter one: false",
                "grown from 1970-01-01 05:00:00",
                "built from a shorter one: true",
                "grown from 1970-01-01 07:00:00",
            ]
        );
    }
}
