//! The virtual waiting room's rules, as plain Rust (no HTTP, no storage, no clock): a protected
//! release's line with one place per person ([`line`]), the committed-seed shuffle of everyone
//! who joined before the opening ([`shuffle`]), the admission rate that follows the booking
//! path's health ([`rate`]), and the signed admission tokens booking requests carry
//! ([`token`]).

pub mod line;
pub mod rate;
pub mod shuffle;
pub mod token;

pub use line::{JoinRefused, Line, Person, PlaceId, Standing, Tally};
pub use rate::{Rate, RateSettings};
pub use shuffle::{keeps_promise, shuffle, Seed};
pub use token::{Admission, TokenKey, TokenRefused};
