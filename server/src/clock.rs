//! Time as an input. The server asks a [`Clock`] for `now` and sleeps until
//! deadlines through it, so tests can move time by hand and see timers fire.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The machine's clock.
    #[default]
    System,
    /// A clock that moves only when told to.
    Manual(ManualClock),
}

impl Clock {
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => whole_milliseconds(Timestamp::now()),
            Clock::Manual(manual) => manual.now(),
        }
    }

    /// Resolves once `now() >= deadline`.
    pub async fn sleep_until(&self, deadline: Timestamp) {
        match self {
            Clock::System => loop {
                let left = deadline.duration_since(Timestamp::now());
                if left.is_negative() || left.is_zero() {
                    return;
                }
                let left = Duration::try_from(left).unwrap_or(Duration::MAX);
                // Sleep at most a minute at a time so a wall-clock jump (NTP,
                // suspend) delays a deadline by at most that much.
                tokio::time::sleep(left.min(Duration::from_secs(60))).await;
            },
            Clock::Manual(manual) => manual.wait_until(deadline).await,
        }
    }
}

/// The store keeps instants in whole milliseconds; handing out only such
/// instants means a `created_at` reads the same before and after a restart.
fn whole_milliseconds(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

/// A hand-driven clock for tests.
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<watch::Sender<Timestamp>>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    pub fn now(&self) -> Timestamp {
        *self.now.borrow()
    }

    pub fn set(&self, to: Timestamp) {
        self.now.send_replace(to);
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        self.now
            .send_modify(|now| *now = now.saturating_add(by).unwrap_or(Timestamp::MAX));
    }

    async fn wait_until(&self, deadline: Timestamp) {
        let mut rx = self.now.subscribe();
        // The sender lives as long as `self`, so wait_for only ends when the
        // condition holds.
        let _ = rx.wait_for(|now| *now >= deadline).await;
    }
}
