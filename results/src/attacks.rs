//! The attackers' counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most findings (accepted alterations, described) a report keeps.
pub const MAX_FINDINGS: usize = 20;

/// What the credential stuffers counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StuffingStats {
    /// Leaked pairs tried (each one `Login` request).
    pub attempts: u64,
    /// Answers by outcome: `wrong-credentials`, `account-locked`, `address-blocked`,
    /// `unusual-sign-in-refused`, `second-factor-required`, `wrong-second-factor`,
    /// `other`, or `no-answer` (connection lost or timed out).
    pub outcomes: BTreeMap<String, u64>,
    /// Usernames a stuffed password opened a session for (a breach each).
    pub breaches: Vec<String>,
}

/// What the botnet counted, per attack vector (`gateway-garbage`, `gateway-oversized`,
/// `gateway-handshake`, `gateway-replayed-hello`, `relay-bogus-grant`, `relay-garbage`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BotnetStats {
    /// Connections opened (or attempted) per vector.
    pub attempts: BTreeMap<String, u64>,
    /// Per vector: the platform refused or closed the connection.
    pub refused: BTreeMap<String, u64>,
    /// Per vector: the platform went along (a completed app handshake is expected;
    /// a bogus relay grant admitted is not).
    pub accepted: BTreeMap<String, u64>,
    /// Per vector: neither within the attacker's patience (the connection was dropped).
    pub unanswered: BTreeMap<String, u64>,
}

/// What the hello flooders counted, and how the attacked regions' cameras fared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HelloFloodStats {
    /// Hellos sent, by kind: `client-hello` (a device hello never followed by a
    /// ClientAuth), `app-hello` (never followed by a record), `resume-hello` (a ticket
    /// never issued), `app-session` (an app hello whose session then sends one record).
    pub sent: BTreeMap<String, u64>,
    /// Answers by outcome: `answered` (a ServerHello), `busy` (the `Busy` alert: the
    /// nonce cache was full), `refused` (another alert, or a close), `unanswered`,
    /// `no-connection`.
    pub outcomes: BTreeMap<String, u64>,
    /// Capacity of each partition (device, app) of the attacked regions' nonce caches.
    pub capacity: u64,
    /// Most randoms an attacked region's nonce cache held at a sampling instant.
    pub peak_cached: u64,
    /// Full handshakes and resumptions the world's cameras completed while a flood ran.
    pub camera_sessions: u64,
    /// Longest an attacked region's camera was seen waiting for a session during a
    /// flood, in milliseconds (from the samples; waits the scenario's own faults explain
    /// are not counted).
    pub longest_wait_ms: u64,
    /// Cameras seen locked out (waiting beyond the bound during a flood), described.
    pub lockouts: Vec<String>,
}

/// What the cross-tenant prober counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeStats {
    /// Times the prober signed in.
    pub sign_ins: u64,
    /// Probes per kind (`list`, `authorize-ptz`, `authorize-live-view`,
    /// `shared-ptz`, `code-for-other-device`, `relay-other-stream`).
    pub probes: BTreeMap<String, u64>,
    /// Refusals by the platform's answer (`NotFound`, `Unauthorized`, `relay-refused`,
    /// `list-own-only`).
    pub refused: BTreeMap<String, u64>,
    /// Own live views admitted at the relay: the control that shows a grant can work.
    pub own_admitted: u64,
    /// What worked that must not have (a cross-tenant access each).
    pub breaches: Vec<String>,
}

/// What the replayers counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplayStats {
    /// Recorded connections handed to the replayers, by how they opened: `device-hello`
    /// (full handshake), `device-resume` (a ticket), `app-hello`, `other`.
    pub flows: BTreeMap<String, u64>,
    /// Recorded connections whose device or app records had moved past key epoch 0.
    pub flows_after_rekey: u64,
    /// Recorded connections that went to a gateway outside the sites' home region
    /// (recorded after a failover).
    pub flows_failed_over: u64,
    /// Replays sent, by variant: `as-is`, `hello-only`, `bit-flipped`, `reordered`,
    /// `truncated`, `after-rekey` (the handshake and only records of epoch 1 and later),
    /// `late` (as-is, once the hello's timestamp has left the skew window).
    pub replays: BTreeMap<String, u64>,
    /// Replays by where they went: `original` (the recorded gateway), `same-region`
    /// (another zone of its region), `other-region` (what a failover target sees).
    pub targets: BTreeMap<String, u64>,
    /// What the gateway did, by outcome: `refused-hello`, `refused-finish` (answered the
    /// hello, refused the replayed ClientAuth), `refused-record`, `hello-answered` (a
    /// fresh hello elsewhere, answered, then nothing usable), `accepted` (a ResumeAccept
    /// or a sealed record came back), `unanswered`, `no-connection`.
    pub outcomes: BTreeMap<String, u64>,
    /// Outcomes per target and outcome (`other-region refused-finish`).
    pub by_target: BTreeMap<String, u64>,
    /// Replays the platform accepted (each one a finding).
    pub accepted: u64,
    /// The first accepted replays, described.
    pub findings: Vec<String>,
    /// What the attacker on the path of the sites' gateway sessions did to cameras.
    pub cameras: OnPathStats,
}

/// Legitimate users' sign-ins while an attack was on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LegitSignIns {
    /// Sign-ins of the attacked regions' users during an attack that succeeded.
    pub ok: u64,
    /// Those that failed, by reason.
    pub refused: BTreeMap<String, u64>,
}

/// Every attack's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttackSummary {
    /// Attacker hosts in the world.
    pub hosts: u32,
    /// Credential stuffing.
    pub stuffing: StuffingStats,
    /// Botnet floods.
    pub botnet: BotnetStats,
    /// Cross-tenant probing.
    pub probing: ProbeStats,
    /// Replays of recorded connections.
    pub replay: ReplayStats,
    /// The rogue firmware server.
    pub rogue: RogueStats,
    /// Hello floods by parties without credentials, and the cameras during them.
    pub hello_flood: HelloFloodStats,
    /// The world's own users during the attacks.
    pub legit: LegitSignIns,
}

/// What the on-path attacker counted at cameras (summed over routers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OnPathStats {
    /// Sessions altered, by variant name.
    pub tampered: BTreeMap<String, u64>,
    /// What the cameras did, by `"<variant> <outcome>"` (outcome `refused`, `closed`,
    /// `accepted`, or `cut` when the connection ended before the camera could answer).
    pub outcomes: BTreeMap<String, u64>,
    /// Altered sessions that had moved past key epoch 0.
    pub after_rekey: u64,
    /// Altered sessions with a gateway outside the site's region (after a failover).
    pub failed_over: u64,
    /// Alterations a camera took (each one a finding).
    pub accepted: u64,
    /// The first alterations a camera took, described.
    pub findings: Vec<String>,
}

impl OnPathStats {
    /// Cameras' verdicts: outcomes other than `cut`.
    pub fn judged(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(k, _)| !k.ends_with(" cut"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &OnPathStats) {
        for (k, n) in &other.tampered {
            *self.tampered.entry(k.clone()).or_default() += n;
        }
        for (k, n) in &other.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += n;
        }
        self.after_rekey += other.after_rekey;
        self.failed_over += other.failed_over;
        self.accepted += other.accepted;
        for f in &other.findings {
            if self.findings.len() < MAX_FINDINGS {
                self.findings.push(f.clone());
            }
        }
    }
}

/// What the rogue server counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RogueStats {
    /// Connections the hijacked routers sent to the rogue server.
    pub redirected: u64,
    /// Camera sessions it established with its stolen platform identity.
    pub sessions: u64,
    /// Images offered, by kind.
    pub offered: BTreeMap<String, u64>,
    /// Refusals the cameras reported, by kind and reason (`unsigned: bad_signature`).
    pub refused: BTreeMap<String, u64>,
    /// Installs the cameras reported, by kind (each one a finding).
    pub installed: BTreeMap<String, u64>,
    /// At the end: cameras running a rogue version, by version.
    pub running: BTreeMap<String, u64>,
}
