//! Gate devices: staff register each gate or handheld and get its credential once; the
//! credential is stored only as its SHA-256; a revoked device is refused from then on.
//!
//! Every scan authenticates its device, so lookups are cached for a few seconds. A revocation
//! empties this node's cache at once; other nodes notice within [`CACHE_LIFE`].

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine;
use gatehouse_domain::gate::{valid_device_name, GateDevice, GateDeviceId, Revocation};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{GateError, GateService};

/// Device credentials start with this, so a leaked one is recognisable (and never mistaken for
/// a staff session).
pub const DEVICE_TOKEN_PREFIX: &str = "ghgate_";
/// How long another node may keep trusting a device that was revoked here.
pub const CACHE_LIFE: Duration = Duration::from_secs(10);
const MAX_CACHED: usize = 10_000;
const MAX_TOKEN_LEN: usize = 128;
const MAX_REASON: usize = 500;

/// A newly registered device and its credential, shown this once.
#[derive(Debug, Clone)]
pub struct DeviceCredential {
    pub device: GateDevice,
    pub token: String,
}

#[derive(Default)]
pub(crate) struct DeviceCache {
    entries: RwLock<HashMap<[u8; 32], (GateDevice, Instant)>>,
}

impl DeviceCache {
    fn get(&self, hash: &[u8; 32]) -> Option<GateDevice> {
        let entries = self.entries.read().ok()?;
        let (device, at) = entries.get(hash)?;
        (at.elapsed() < CACHE_LIFE).then(|| device.clone())
    }

    fn put(&self, hash: [u8; 32], device: GateDevice) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
            entries.insert(hash, (device, Instant::now()));
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl GateService {
    /// Registers a gate device; its credential is returned once and never stored.
    pub async fn register_device(&self, name: &str) -> Result<DeviceCredential, GateError> {
        let name = valid_device_name(name).map_err(|m| GateError::invalid("name", m))?;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let token = format!(
            "{DEVICE_TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let device = GateDevice {
            id: GateDeviceId(format!("gate_{}", uuid::Uuid::new_v4().simple())),
            name: name.to_owned(),
            created_at: self.clock.now(),
            revoked: None,
        };
        self.store
            .add_gate_device(&device, &token_hash(&token))
            .await?;
        tracing::info!(device = %device.id.0, "gate device registered");
        Ok(DeviceCredential { device, token })
    }

    pub async fn devices(&self) -> Result<Vec<GateDevice>, GateError> {
        Ok(self.store.gate_devices().await?)
    }

    /// Revokes a device: its credential is refused from now on.
    pub async fn revoke_device(&self, id: &str, reason: &str) -> Result<GateDevice, GateError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON {
            return Err(GateError::invalid("reason", "must be 1–500 characters"));
        }
        let revocation = Revocation {
            at: self.clock.now(),
            reason: reason.to_owned(),
        };
        let device = self
            .store
            .revoke_gate_device(&GateDeviceId(id.to_owned()), &revocation)
            .await?;
        self.devices.clear();
        tracing::info!(device = %device.id.0, "gate device revoked");
        Ok(device)
    }

    /// The active device a credential belongs to.
    pub async fn authenticate_device(&self, token: &str) -> Result<GateDevice, GateError> {
        if !token.starts_with(DEVICE_TOKEN_PREFIX) || token.len() > MAX_TOKEN_LEN {
            return Err(GateError::DeviceUnknown);
        }
        let hash = token_hash(token);
        if let Some(device) = self.devices.get(&hash) {
            return Ok(device);
        }
        let device = self
            .store
            .gate_device_by_token(&hash)
            .await?
            .filter(GateDevice::is_active)
            .ok_or(GateError::DeviceUnknown)?;
        self.devices.put(hash, device.clone());
        Ok(device)
    }
}
