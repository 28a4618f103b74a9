//! Background work on the injected clock (STYLE.md: "advance one step at time T"): key
//! deletion when a waiting period ends ([`deletion`]), automatic rotation ([`rotation`]) and
//! the expiry of imported key material and import parameters ([`expiry`]).
//! The server calls [`run_due`] every second with the clock's time; tests move the clock.

pub mod deletion;
pub mod expiry;
pub mod rotation;

use crate::{Kms, KmsError};
use chrono::{DateTime, Utc};

/// Everything due at `now`; returns how many keys changed.
pub fn run_due(kms: &Kms, now: DateTime<Utc>) -> Result<usize, KmsError> {
    Ok(deletion::run_due(kms, now)? + rotation::run_due(kms, now)? + expiry::run_due(kms, now)?)
}
