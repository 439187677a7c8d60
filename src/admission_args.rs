//! The admission-control flags of `camproof serve`, `relay` and `camera`.

use camproof_net::AdmissionLimits;

/// Limits of every listener the command runs (`serve`: gateway, relay, store replicas;
/// `relay`: the relay; `camera`: the NETIP port); defaults in docs/platform.md,
/// "Admission control".
#[derive(Debug, Clone, clap::Args)]
pub struct AdmissionArgs {
    /// Connections open at once per listener, all peers together.
    #[arg(long, default_value_t = AdmissionLimits::default().max_connections)]
    pub max_connections: usize,
    /// Connections open at once per listener from one IP address.
    #[arg(long, default_value_t = AdmissionLimits::default().max_per_source)]
    pub max_per_source: usize,
    /// Time from accept until a peer is authenticated (relay: admitted), e.g. 10s.
    #[arg(long, default_value = "10s")]
    pub handshake_deadline: String,
    /// Bytes a peer may send before it is authenticated.
    #[arg(long, default_value_t = AdmissionLimits::default().preauth_bytes)]
    pub preauth_bytes: usize,
    /// Longest wait for one write to a peer that does not read, e.g. 10s.
    #[arg(long, default_value = "10s")]
    pub write_timeout: String,
}

impl AdmissionArgs {
    /// The limits the flags say, or which flag is wrong and how to write it.
    pub fn limits(&self) -> anyhow::Result<AdmissionLimits> {
        let duration = |flag: &str, text: &str| {
            humantime::parse_duration(text)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--{flag} {text:?}: expected a duration above zero, e.g. 10s or 500ms"
                    )
                })
        };
        let count = |flag: &str, n: usize| {
            if n == 0 {
                anyhow::bail!("--{flag} 0: at least 1 is needed to accept anything");
            }
            Ok(n)
        };
        Ok(AdmissionLimits {
            max_connections: count("max-connections", self.max_connections)?,
            max_per_source: count("max-per-source", self.max_per_source)?,
            handshake_deadline: duration("handshake-deadline", &self.handshake_deadline)?,
            preauth_bytes: count("preauth-bytes", self.preauth_bytes)?,
            write_timeout: duration("write-timeout", &self.write_timeout)?,
            stop_on_accept_error: false,
        })
    }
}
