//! Storage adapters for the booking domain's [`Store`](gatehouse_domain::store::Store) and
//! [`AccountStore`](gatehouse_domain::account::AccountStore) ports:
//! SQLite in WAL mode (the embedded default) and PostgreSQL, each with its own migrations, sharing
//! one SQL implementation and one conformance suite ([`conformance`]).
//!
//! Architecture invariant: the schema enforces the booking invariants on its own (a slot's
//! `taken <= capacity`, unique per-ID and per-account claims), so even a wrong ledger above it
//! cannot oversell.

#[macro_use]
mod sql;
#[macro_use]
mod sql_accounts;
#[macro_use]
mod sql_payments;
#[macro_use]
mod sql_gates;
#[macro_use]
mod sql_no_shows;
#[macro_use]
mod sql_groups;
#[macro_use]
mod sql_traffic;
#[macro_use]
mod sql_audit;
#[macro_use]
mod sql_data_keys;
#[macro_use]
mod sql_breaches;
#[macro_use]
mod sql_releases;
#[macro_use]
mod sql_risk;
#[macro_use]
mod sql_measures;
#[macro_use]
mod sql_data_requests;
#[macro_use]
mod sql_legacy_seal;
pub mod postgres;
mod rows;
mod rows_payments;
pub mod sqlite;

pub use postgres::PgStore;
pub use sqlite::{SqliteDurability, SqliteStore};
