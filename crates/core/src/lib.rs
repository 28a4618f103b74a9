//! Shared vocabulary of kmsnap: [`AccountId`], [`Region`], [`Arn`], the injected [`Clock`] and
//! random identifier generation ([`ids`]).
//!
//! Everything here is small, pure and dependency-light, because every other crate depends on it.
//! A helper only moves here when two crates need it (STYLE.md).
#![forbid(unsafe_code)]

pub mod account;
pub mod arn;
pub mod clock;
pub mod ids;
pub mod region;
pub mod secret;

pub use account::AccountId;
pub use arn::Arn;
pub use clock::{Clock, ManualClock, SystemClock};
pub use region::Region;
pub use secret::{RootKey, SubKey};
