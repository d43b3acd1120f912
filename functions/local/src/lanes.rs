//! The local worker's queue, as one lane per application taken in turn: a
//! backlog of one application never queues ahead of another's events, and
//! one application has at most its bound of deliveries running, so a vendor
//! that hangs holds at most that many workers. Lanes whose circuit is open
//! wait it out here, without their events being read.

use iev_domain::ports::DispatchMessage;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

#[derive(Default)]
pub struct Lanes {
    queued: HashMap<String, VecDeque<DispatchMessage>>,
    /// The lanes with messages queued, each once, in the order they are served.
    turn: VecDeque<String>,
    running: HashMap<String, usize>,
}

/// Messages that name no application (queued by older versions, or the
/// outbox re-queued at start) share this lane, which has no bound of its own:
/// the domain's per-integration bound still holds for each of them.
const UNKNOWN: &str = "";

impl Lanes {
    pub fn push(&mut self, message: DispatchMessage) {
        let lane = message.application_id.clone().unwrap_or_default();
        let queue = self.queued.entry(lane.clone()).or_default();
        if queue.is_empty() {
            self.turn.push_back(lane);
        }
        queue.push_back(message);
    }

    /// The next message to start, from the next lane in turn that is below
    /// `bound` and not `held`; or, when none may start, how soon a held lane
    /// is free again.
    pub fn next(
        &mut self,
        bound: usize,
        held: impl Fn(&str) -> Option<Duration>,
    ) -> Result<(String, DispatchMessage), Option<Duration>> {
        let mut wake: Option<Duration> = None;
        for _ in 0..self.turn.len() {
            let Some(lane) = self.turn.pop_front() else {
                break;
            };
            let running = self.running.get(&lane).copied().unwrap_or(0);
            let blocked = if lane != UNKNOWN && running >= bound.max(1) {
                true
            } else if let Some(wait) = held(&lane) {
                wake = Some(wake.map_or(wait, |w| w.min(wait)));
                true
            } else {
                false
            };
            if blocked {
                self.turn.push_back(lane);
                continue;
            }
            let queue = self
                .queued
                .get_mut(&lane)
                .expect("a lane in turn has messages");
            let message = queue.pop_front().expect("a lane in turn has messages");
            if queue.is_empty() {
                self.queued.remove(&lane);
            } else {
                self.turn.push_back(lane.clone());
            }
            *self.running.entry(lane.clone()).or_default() += 1;
            return Ok((lane, message));
        }
        Err(wake)
    }

    /// A delivery from `lane` ended (or went to wait out a retry).
    pub fn finished(&mut self, lane: &str) {
        if let Some(n) = self.running.get_mut(lane) {
            *n -= 1;
            if *n == 0 {
                self.running.remove(lane);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(app: &str, n: usize) -> DispatchMessage {
        DispatchMessage {
            application_id: Some(app.to_owned()),
            ..DispatchMessage::new(format!("{app}-{n}"))
        }
    }

    fn ids(lanes: &mut Lanes, bound: usize, count: usize) -> Vec<String> {
        (0..count)
            .filter_map(|_| lanes.next(bound, |_| None).ok())
            .map(|(_, m)| m.event_id)
            .collect()
    }

    #[test]
    fn a_backlog_of_one_application_does_not_queue_ahead_of_anothers_events() {
        let mut lanes = Lanes::default();
        for n in 0..100 {
            lanes.push(message("big", n));
        }
        lanes.push(message("small", 0));
        lanes.push(message("small", 1));
        assert_eq!(
            ids(&mut lanes, 1000, 4),
            ["big-0", "small-0", "big-1", "small-1"]
        );
    }

    #[test]
    fn an_application_at_its_bound_waits_while_others_go_on() {
        let mut lanes = Lanes::default();
        for n in 0..5 {
            lanes.push(message("slow", n));
            lanes.push(message("fast", n));
        }
        let started = ids(&mut lanes, 2, 10);
        assert_eq!(
            started.iter().filter(|id| id.starts_with("slow")).count(),
            2
        );
        assert_eq!(
            started.iter().filter(|id| id.starts_with("fast")).count(),
            2
        );
        assert_eq!(lanes.next(2, |_| None).err(), Some(None));
        lanes.finished("slow");
        assert_eq!(lanes.next(2, |_| None).unwrap().1.event_id, "slow-2");
    }

    #[test]
    fn a_held_lane_is_passed_over_and_says_when_it_is_free() {
        let mut lanes = Lanes::default();
        lanes.push(message("open", 0));
        lanes.push(message("fine", 0));
        let held = |lane: &str| (lane == "open").then_some(Duration::from_secs(7));
        assert_eq!(lanes.next(8, held).unwrap().1.event_id, "fine-0");
        assert_eq!(
            lanes.next(8, held).err(),
            Some(Some(Duration::from_secs(7)))
        );
        assert_eq!(lanes.next(8, |_| None).unwrap().1.event_id, "open-0");
    }
}
