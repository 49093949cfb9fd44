//! The tamper-evident audit log (issue 9): every record commits to the one before it (SHA-256
//! hash chain, [`chain`]), signed checkpoints commit to the chain so far ([`signer`]), the
//! appender makes records durable in batches ([`log`]) and the verifier names the first broken
//! record ([`verify`]). The records and the storage port are the domain's
//! (`gatehouse_domain::audit`); the SQL is the store's.

pub mod chain;
pub mod legacy;
pub mod log;
pub mod signer;
pub mod verify;

pub use legacy::adopt_legacy;
pub use log::{AppendSettings, AuditError, AuditLog};
pub use signer::CheckpointSigner;
pub use verify::{verify, Broken, Verification};
