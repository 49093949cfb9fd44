//! Gatehouse's risk engine (issue 12): given who is acting (account, phone, ID number by its
//! blind index, device, IP, payment account) and what they do (sign in, join a queue, book,
//! pay, refund, check in), a level per scenario — fraud, marketing abuse, scalping, order
//! brushing, bad debt — with the reasons. Plain Rust: time is passed in, nothing here does I/O.
//!
//! `window`, `distinct` and `links` are the online features' building blocks: counts and
//! distinct values per key over a sliding window, and the graph of accounts that share
//! devices, phones, payment accounts or visitor ID numbers; each table is bounded however
//! many keys arrive. `features` computes the named features from observed events over those
//! tables (and `views` when each account last saw a bookable page); `policy` reads, checks and applies the declarative policy; `engine` puts them
//! together: observe what happened, assess what is about to (live and shadow policy).

mod bounded;
pub mod distinct;
pub mod engine;
pub mod features;
pub mod links;
pub mod policy;
pub mod views;
pub mod window;

/// A moment, in milliseconds since the Unix epoch (the caller's clock, passed in).
pub type Millis = i64;

/// The milliseconds of `at`, for the features' windows.
pub fn millis(at: jiff::Timestamp) -> Millis {
    at.as_millisecond()
}
