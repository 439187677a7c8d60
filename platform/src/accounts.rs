//! Accounts: registration, login with a second factor, lockout, erasure (being written).
