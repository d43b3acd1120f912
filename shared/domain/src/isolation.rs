//! One integration's trouble stays its own. Per integration, this instance
//! keeps how many calls it has in flight and a circuit: a vendor that hangs
//! holds at most `max_in_flight` of the workers, however many of its events
//! wait; one whose calls keep timing out is not called at all for a cool-down,
//! then once (a probe) before calls resume. An event held back here is not
//! claimed, gets no attempt and counts toward nothing: the vendor did
//! nothing.
//!
//! The state is this instance's own (the local runner's process; one Lambda
//! execution environment), so the bounds hold per instance: in AWS an
//! integration has at most `max_in_flight` calls in flight per dispatch
//! instance, and the instances are bounded by the event source's
//! `MaximumConcurrency`.

use crate::dispatch::DispatchConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How soon an event held back by a bound (rather than an open circuit) is
/// offered again: bounds free up as calls end, which take up to the vendor
/// timeout.
pub const BOUND_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Lane {
    in_flight: u32,
    /// Of those, the calls whose failure would count toward disabling.
    counting: u32,
    /// Calls in a row that timed out or found the vendor unreachable.
    unanswered: u32,
    open_until: Option<Instant>,
    /// The cool-down the circuit opens for next; doubles after a failed probe.
    cool_down: Option<Duration>,
    probing: bool,
    /// Whether this instance's last call to it delivered: a vendor known to
    /// work gets its full bound; one not yet seen to work, or failing now,
    /// only as many calls as could fail without passing the disabling limit.
    proven: bool,
}

/// Each integration's calls in flight and circuit, on this instance.
#[derive(Debug, Default)]
pub struct Isolation {
    lanes: Mutex<HashMap<String, Lane>>,
}

/// Whether a call may start now.
#[derive(Debug)]
pub enum Admission {
    /// It may: the permit counts it in flight until it is dropped or finished.
    Go(Permit),
    /// Not before this long; nothing is recorded of the event meanwhile.
    Defer(Duration),
}

/// One call in flight to one integration.
#[derive(Debug)]
pub struct Permit {
    isolation: Arc<Isolation>,
    application_id: String,
    probe: bool,
    counts: bool,
    finished: bool,
}

/// What a call found, as the circuit and the disabling bound see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The vendor took the event.
    Delivered,
    /// The vendor answered, but did not take it.
    Answered,
    /// It timed out, or could not be connected to.
    Unanswered,
}

impl Isolation {
    /// Admits a call to `application_id` if its circuit is closed (or this is
    /// its probe), fewer than `max_in_flight` calls to it are in flight, and,
    /// when the event counts toward disabling, the failures already counted
    /// plus those calls still leave room below the disabling limit, while the
    /// integration is not known to work (no delivery yet on this instance,
    /// its last call failed, or failures are counted): once ten are counted,
    /// or could be by the calls under way, no further call starts. A vendor
    /// that works gets its full bound; if it then fails, the calls already
    /// under way may all count.
    pub fn admit(
        self: &Arc<Self>,
        application_id: &str,
        config: &DispatchConfig,
        counted_failures: Option<u32>,
    ) -> Admission {
        let now = Instant::now();
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let lane = lanes.entry(application_id.to_owned()).or_default();
        let mut probe = false;
        if let Some(until) = lane.open_until {
            if now < until {
                return Admission::Defer(until - now);
            }
            if lane.probing || lane.in_flight > 0 {
                return Admission::Defer(BOUND_WAIT);
            }
            probe = true;
        }
        if lane.in_flight >= config.max_in_flight.max(1) {
            return Admission::Defer(BOUND_WAIT);
        }
        if let Some(counted) = counted_failures {
            let strict = !lane.proven || counted > 0;
            if strict
                && lane.counting > 0
                && counted.saturating_add(lane.counting) >= config.disable_after
            {
                return Admission::Defer(BOUND_WAIT);
            }
        }
        lane.in_flight += 1;
        let counts = counted_failures.is_some();
        lane.counting += u32::from(counts);
        lane.probing |= probe;
        Admission::Go(Permit {
            isolation: self.clone(),
            application_id: application_id.to_owned(),
            probe,
            counts,
            finished: false,
        })
    }

    /// How long `application_id`'s events are held back by its circuit (open,
    /// or open past its cool-down with the probe under way), if they are: a
    /// worker that knows an event's application waits that out without
    /// reading the event.
    pub fn held(&self, application_id: &str) -> Option<Duration> {
        let now = Instant::now();
        let lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let lane = lanes.get(application_id)?;
        let until = lane.open_until?;
        if now < until {
            Some(until - now)
        } else if lane.probing {
            Some(BOUND_WAIT)
        } else {
            None
        }
    }

    /// The integrations whose circuit is open now, and until when.
    pub fn open_circuits(&self) -> Vec<(String, Duration)> {
        let now = Instant::now();
        let lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes
            .iter()
            .filter_map(|(app, lane)| {
                lane.open_until
                    .filter(|u| *u > now)
                    .map(|u| (app.clone(), u - now))
            })
            .collect()
    }

    fn end(&self, permit: &Permit, reached: Option<Reached>, config: Option<&DispatchConfig>) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(lane) = lanes.get_mut(&permit.application_id) else {
            return;
        };
        lane.in_flight = lane.in_flight.saturating_sub(1);
        lane.counting = lane.counting.saturating_sub(u32::from(permit.counts));
        if permit.probe {
            lane.probing = false;
        }
        let (Some(reached), Some(config)) = (reached, config) else {
            return;
        };
        lane.proven = reached == Reached::Delivered;
        match reached {
            Reached::Delivered | Reached::Answered => {
                lane.unanswered = 0;
                lane.open_until = None;
                lane.cool_down = None;
            }
            Reached::Unanswered => {
                lane.unanswered += 1;
                if permit.probe || lane.unanswered >= config.circuit_trip_after.max(1) {
                    let cool_down = match lane.cool_down {
                        // A failed probe: twice as long, up to the most.
                        Some(last) if permit.probe => (last * 2).min(config.circuit_max_cool_down),
                        Some(last) => last,
                        None => config.circuit_cool_down,
                    };
                    lane.cool_down = Some(cool_down);
                    lane.open_until = Some(Instant::now() + cool_down);
                    tracing::warn!(
                        application_id = %permit.application_id,
                        unanswered = lane.unanswered,
                        cool_down_ms = cool_down.as_millis() as u64,
                        "circuit open: the integration's calls keep going unanswered; its events wait"
                    );
                }
            }
        }
        // An idle lane with nothing to remember is not kept (a vendor seen
        // to work is remembered, so that its next burst gets its full bound).
        if lane.in_flight == 0 && lane.unanswered == 0 && lane.open_until.is_none() && !lane.proven
        {
            lanes.remove(&permit.application_id);
        }
    }
}

impl Permit {
    /// The call ended with the vendor answering or not.
    pub fn finish(mut self, reached: Reached, config: &DispatchConfig) {
        self.finished = true;
        self.isolation.end(&self, Some(reached), Some(config));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.finished {
            self.isolation.end(self, None, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> DispatchConfig {
        DispatchConfig {
            max_in_flight: 2,
            circuit_trip_after: 3,
            circuit_cool_down: Duration::from_secs(30),
            circuit_max_cool_down: Duration::from_secs(100),
            ..DispatchConfig::default()
        }
    }

    fn go(a: Admission) -> Permit {
        match a {
            Admission::Go(p) => p,
            Admission::Defer(d) => panic!("deferred {d:?}"),
        }
    }

    fn deferred(a: Admission) -> Duration {
        match a {
            Admission::Go(_) => panic!("admitted"),
            Admission::Defer(d) => d,
        }
    }

    #[tokio::test]
    async fn an_integration_has_at_most_its_bound_in_flight_and_others_are_not_held() {
        let iso = Arc::new(Isolation::default());
        let c = config();
        let a1 = go(iso.admit("a", &c, None));
        let _a2 = go(iso.admit("a", &c, None));
        assert_eq!(deferred(iso.admit("a", &c, None)), BOUND_WAIT);
        let _b = go(iso.admit("b", &c, None));
        drop(a1);
        let _a3 = go(iso.admit("a", &c, None));
    }

    #[tokio::test]
    async fn no_call_starts_that_could_push_the_count_past_the_disabling_limit() {
        let iso = Arc::new(Isolation::default());
        let c = DispatchConfig {
            max_in_flight: 8,
            disable_after: 10,
            ..config()
        };
        // Nine counted: one call may run, not a second beside it.
        let one = go(iso.admit("a", &c, Some(9)));
        assert_eq!(deferred(iso.admit("a", &c, Some(9))), BOUND_WAIT);
        // An event that does not count toward disabling is not held.
        let _uncounted = go(iso.admit("a", &c, None));
        drop(one);
        let _again = go(iso.admit("a", &c, Some(9)));
    }

    #[tokio::test]
    async fn a_vendor_seen_to_deliver_gets_its_full_bound_and_loses_it_when_it_fails() {
        let iso = Arc::new(Isolation::default());
        let c = DispatchConfig {
            max_in_flight: 20,
            disable_after: 10,
            ..config()
        };
        let admitted = |n| {
            (0..n)
                .map(|_| iso.admit("a", &c, Some(0)))
                .collect::<Vec<_>>()
        };
        let first = admitted(12);
        assert_eq!(
            first
                .iter()
                .filter(|a| matches!(a, Admission::Go(_)))
                .count(),
            10
        );
        drop(first);
        go(iso.admit("a", &c, Some(0))).finish(Reached::Delivered, &c);
        let proven = admitted(20);
        assert!(proven.iter().all(|a| matches!(a, Admission::Go(_))));
        drop(proven);
        go(iso.admit("a", &c, Some(0))).finish(Reached::Answered, &c);
        let failing = admitted(12);
        assert_eq!(
            failing
                .iter()
                .filter(|a| matches!(a, Admission::Go(_)))
                .count(),
            10
        );
    }

    #[tokio::test(start_paused = true)]
    async fn calls_that_keep_going_unanswered_open_the_circuit_until_a_probe_is_answered() {
        let iso = Arc::new(Isolation::default());
        let c = config();
        for _ in 0..3 {
            go(iso.admit("a", &c, None)).finish(Reached::Unanswered, &c);
        }
        let wait = deferred(iso.admit("a", &c, None));
        assert_eq!(wait, Duration::from_secs(30));
        assert_eq!(iso.open_circuits().len(), 1);
        go(iso.admit("b", &c, None)).finish(Reached::Answered, &c);

        tokio::time::advance(Duration::from_secs(31)).await;
        let probe = go(iso.admit("a", &c, None));
        assert_eq!(
            deferred(iso.admit("a", &c, None)),
            BOUND_WAIT,
            "one probe at a time"
        );
        probe.finish(Reached::Unanswered, &c);
        assert_eq!(
            deferred(iso.admit("a", &c, None)),
            Duration::from_secs(60),
            "a failed probe doubles the cool-down"
        );

        tokio::time::advance(Duration::from_secs(61)).await;
        go(iso.admit("a", &c, None)).finish(Reached::Answered, &c);
        let _ = go(iso.admit("a", &c, None));
        let _ = go(iso.admit("a", &c, None));
        assert!(iso.open_circuits().is_empty());
    }

    #[tokio::test]
    async fn an_answer_between_timeouts_keeps_the_circuit_closed() {
        let iso = Arc::new(Isolation::default());
        let c = config();
        for reached in [
            Reached::Unanswered,
            Reached::Unanswered,
            Reached::Answered,
            Reached::Unanswered,
            Reached::Unanswered,
        ] {
            go(iso.admit("a", &c, None)).finish(reached, &c);
        }
        let _ = go(iso.admit("a", &c, None));
    }
}
