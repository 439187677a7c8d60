//! The fault timeline as a component of the world: the scenario's faults in time order,
//! each applied between two simulator steps once its time has come. Faults on the
//! network (crashes, partitions, latency, loss, held messages, site outages) act on the
//! simulator here; the others go to the component whose software or data they touch.

use std::collections::VecDeque;
use std::time::Duration;

use crate::spec::{Fault, FaultAction, WorldSpec, CROSS_REGION_LATENCY};

/// The faults still to come, in time order, and those applied.
pub(crate) struct FaultTimeline {
    pending: VecDeque<Fault>,
    /// Faults applied, with the simulated time they were applied at.
    pub applied: Vec<(Duration, FaultAction)>,
}

impl FaultTimeline {
    /// The faults of `spec`, in time order (faults at the same time keep file order).
    pub fn new(spec: &WorldSpec) -> Self {
        let mut faults = spec.faults.clone();
        faults.sort_by_key(|f| f.at);
        FaultTimeline {
            pending: faults.into(),
            applied: Vec::new(),
        }
    }

    /// The next fault due at `elapsed`, if any.
    pub fn next_due(&mut self, elapsed: Duration) -> Option<Fault> {
        if self.pending.front().is_some_and(|f| f.at <= elapsed) {
            self.pending.pop_front()
        } else {
            None
        }
    }
}

/// Applies a fault that acts on the network or on whole hosts; `false` if `action` is
/// not one. `hosts` resolves a target to its hosts; `region_of` names a host's region;
/// `gateways` are the zone hosts.
pub(crate) fn apply_network(
    sim: &mut turmoil::Sim<'static>,
    action: &FaultAction,
    hosts: impl Fn(&str) -> Vec<String>,
    region_of: impl Fn(&str) -> Option<String>,
    gateways: &[String],
) -> bool {
    let pairs = |a: &str, b: &str| -> Vec<(String, String)> {
        let bs = hosts(b);
        hosts(a)
            .into_iter()
            .flat_map(|x| bs.iter().map(move |y| (x.clone(), y.clone())))
            .collect()
    };
    match action {
        FaultAction::Crash(t) => hosts(t).iter().for_each(|h| sim.crash(h.as_str())),
        FaultAction::Restart(t) => hosts(t).iter().for_each(|h| sim.bounce(h.as_str())),
        FaultAction::Partition(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.partition(x.as_str(), y.as_str())),
        FaultAction::Heal(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.repair(x.as_str(), y.as_str())),
        FaultAction::PartitionOneway(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.partition_oneway(x.as_str(), y.as_str())),
        FaultAction::Hold(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.hold(x.as_str(), y.as_str())),
        FaultAction::Release(a, b) => pairs(a, b)
            .iter()
            .for_each(|(x, y)| sim.release(x.as_str(), y.as_str())),
        FaultAction::Latency(a, b, latency) => {
            for (x, y) in pairs(a, b) {
                let (x, y) = (x.as_str(), y.as_str());
                match latency {
                    Some(l) => sim.set_link_latency(x, y, *l),
                    None if region_of(x) != region_of(y) => {
                        sim.set_link_latency(x, y, CROSS_REGION_LATENCY)
                    }
                    None => {
                        // Back to the builder's 1-10 ms.
                        sim.set_link_latency(x, y, Duration::from_millis(1));
                        sim.set_link_max_message_latency(x, y, Duration::from_millis(10));
                    }
                }
            }
        }
        FaultAction::Loss(a, b, ppm) => {
            let rate = f64::from(*ppm) / 1_000_000.0;
            pairs(a, b)
                .iter()
                .for_each(|(x, y)| sim.set_link_fail_rate(x.as_str(), y.as_str(), rate));
        }
        FaultAction::Disconnect(t) | FaultAction::Reconnect(t) => {
            let reconnect = matches!(action, FaultAction::Reconnect(_));
            for site in hosts(t) {
                for gw in gateways {
                    if reconnect {
                        sim.repair(site.as_str(), gw.as_str());
                    } else {
                        sim.partition(site.as_str(), gw.as_str());
                    }
                }
            }
        }
        _ => return false,
    }
    true
}
