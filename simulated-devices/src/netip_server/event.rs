//! What happens on a NETIP connection, as the camera records it and a session reports it.

use camproof_protocol::netip::{MessageId, NetipError, NetipTime, Ret, SessionId};
use camproof_protocol::ota::FirmwareVersion;

/// Something that happened on a connection, for the driver, tests and certification
/// checkers. Carries no password or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetipEvent {
    /// A login succeeded and opened a session.
    LoggedIn {
        /// The account.
        user: String,
        /// The new session.
        session_id: SessionId,
    },
    /// A login was refused (203 wrong password or unknown user, 205 locked).
    LoginFailed {
        /// The account name sent.
        user: String,
        /// The result code answered.
        ret: Ret,
    },
    /// The session logged out.
    LoggedOut {
        /// The session that ended.
        session_id: SessionId,
    },
    /// A command was refused without being executed (not logged in, wrong session).
    CommandRefused {
        /// The request's message id.
        message_id: MessageId,
        /// The result code answered.
        ret: Ret,
    },
    /// An authorised command was executed (whatever its result).
    CommandExecuted {
        /// The request's message id.
        message_id: MessageId,
    },
    /// An authorised request could not be decoded; answered with `Ret` 117.
    BadRequest {
        /// The request's message id.
        message_id: MessageId,
        /// What was wrong.
        reason: String,
    },
    /// This connection was claimed for a session's media (1413).
    MonitorClaimed {
        /// The session.
        session_id: SessionId,
    },
    /// Live media was started.
    MonitorStarted {
        /// The session.
        session_id: SessionId,
    },
    /// Live media was stopped.
    MonitorStopped {
        /// The session.
        session_id: SessionId,
    },
    /// The camera's clock was set (`OPTimeSetting`).
    TimeSet {
        /// The new camera time.
        time: NetipTime,
    },
    /// A reboot was requested (`OPMachine` `Reboot`).
    RebootRequested,
    /// An uploaded firmware image was installed.
    UpgradeInstalled {
        /// The version now installed.
        version: FirmwareVersion,
    },
    /// An uploaded firmware image was refused and not installed.
    UpgradeRefused {
        /// Why, for people.
        reason: String,
    },
    /// The connection is closed; the driver should drop the socket after flushing.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a connection was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The byte stream broke NETIP framing (bad magic, oversized length field).
    Framing(NetipError),
    /// Nothing arrived for three keepalive intervals.
    IdleTimeout,
    /// The session a media connection belonged to ended.
    SessionEnded,
    /// The peer or the driver closed the connection.
    PeerClosed,
}
