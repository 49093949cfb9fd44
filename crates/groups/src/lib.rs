//! Group bookings. So far: organisations that book as groups, registered by a visitor account
//! and approved by staff where the museum requires it (`organisations.rs`), and the member list
//! a group leader uploads (`members.rs`) — a CSV file as spreadsheets export it, decoded,
//! parsed and checked row by row into a report that names each bad row and why.

pub mod members;
pub mod organisations;

pub use organisations::{GroupError, GroupService};

pub use members::{read_members, CsvRefused, MemberRow, RowProblem, MAX_CSV_BYTES, MAX_MEMBERS};
