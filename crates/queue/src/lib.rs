//! The virtual waiting room's rules, as plain Rust (no HTTP, no storage, no clock): a protected
//! release's line with one place per person ([`line`]), the committed-seed shuffle of everyone
//! who joined before the opening ([`shuffle`]), the admission rate that follows the booking
//! path's health ([`rate`]), the signed admission tokens booking requests carry
//! ([`token`]), one node's room of protected releases over them ([`room`]), and the service
//! that keeps the releases in the database ([`service`]).

pub mod event;
pub mod line;
pub mod rate;
pub mod room;
pub mod service;
pub mod shuffle;
pub mod token;

pub use event::{Event, MalformedEvent};
pub use line::{ks_statistic, Bucket, JoinRefused, Line, Person, PlaceId, Report, Standing, Tally};
pub use rate::{Rate, RateSettings};
pub use room::{Release, RoomError, Status, WaitingRoom};
pub use service::{PublishedRelease, QueueError, SharedLog, WaitingRoomService};
pub use shuffle::{keeps_promise, shuffle, Seed};
pub use token::{Admission, TokenKey, TokenRefused};
