//! Group bookings. So far: the member list a group leader uploads (`members.rs`) — a CSV file
//! as spreadsheets export it, decoded, parsed and checked row by row into a report that names
//! each bad row and why, without personal data leaving the report's own rows.

pub mod members;

pub use members::{read_members, CsvRefused, MemberRow, RowProblem, MAX_CSV_BYTES, MAX_MEMBERS};
