//! Gatehouse's web application firewall: a SecLang engine that runs the OWASP Core Rule Set.
//!
//! `seclang` reads rule files as ModSecurity and Coraza do (directives, rules, their targets,
//! operators and actions) into plain data; compiling and running the rules builds on that.
//! `firewall` is the deployment's view: the CRS behind Gatehouse's setup, one call a request.

pub mod body;
pub mod clean;
pub mod expanded;
pub mod firewall;
pub mod libinjection;
pub mod macros;
pub mod multipart;
pub mod operators;
mod phase_memo;
pub mod proof;
pub mod request;
pub mod rule;
pub mod ruleset;
pub mod seclang;
pub mod selector;
pub mod transaction;
pub mod transform;
pub mod vars;

pub use seclang::{parse, Directive, ParseError};
