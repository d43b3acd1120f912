//! API keys, roles and the caller they identify.

use crate::error::DomainError;
use crate::integration::Integration;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VendorId(String);

impl VendorId {
    pub fn parse(s: &str) -> Result<Self, String> {
        crate::integration::parse_key_part(s).map(|s| VendorId(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VendorId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        VendorId::parse(&s)
    }
}

impl From<VendorId> for String {
    fn from(v: VendorId) -> String {
        v.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Marketplace,
    Manager,
    Vendor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketplace => "marketplace",
            Role::Manager => "manager",
            Role::Vendor => "vendor",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Role::Admin, Role::Marketplace, Role::Manager, Role::Vendor]
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}'"))
    }
}

/// The SHA-256 of a key, hex-encoded. Keys carry 256 random bits, so a fast hash
/// is enough: there is nothing to brute-force.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyHash(pub String);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        KeyHash(hex::encode(digest))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    pub hash: KeyHash,
    /// A short, non-secret handle for logs and audit trails.
    pub key_id: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
    pub created_at: DateTime<Utc>,
    /// When a request last authenticated with it, to within `KEY_USE_GRANULARITY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// A revoked key is kept, so that a runner restarted with the same
    /// configured admin key does not bring it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Who is calling, once their key has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub key_id: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
}

impl Caller {
    pub fn from_record(r: &ApiKeyRecord) -> Self {
        Caller {
            key_id: r.key_id.clone(),
            role: r.role,
            vendor_id: r.vendor_id.clone(),
        }
    }

    pub fn require(&self, allowed: &[Role]) -> Result<(), DomainError> {
        if allowed.contains(&self.role) {
            Ok(())
        } else {
            Err(DomainError::Forbidden)
        }
    }

    /// Whether this caller may see records of `vendor`: vendors only their own.
    pub fn sees_vendor(&self, vendor: &VendorId) -> bool {
        match self.role {
            Role::Admin | Role::Manager | Role::Marketplace => true,
            Role::Vendor => self.vendor_id.as_ref() == Some(vendor),
        }
    }

    /// Whether this caller may read an integration; others' answer 404, not 403,
    /// so that a vendor cannot learn which applications exist.
    pub fn sees(&self, integration: &Integration) -> bool {
        self.sees_vendor(&integration.vendor_id)
    }
}

/// A fresh API key: `iev_` and 43 base64url characters (32 random bytes).
pub fn format_key(secret: &[u8]) -> String {
    format!(
        "iev_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    )
}

/// The key's id is a prefix of its hash: stable, and useless to an attacker.
pub fn key_id_of(hash: &KeyHash) -> String {
    hash.0[..KEY_ID_CHARS].to_owned()
}

const KEY_ID_CHARS: usize = 12;

/// Whether `s` could be a key's id; anything else names no key.
pub fn is_key_id(s: &str) -> bool {
    s.len() == KEY_ID_CHARS && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_hash_is_stable_and_differs_from_the_key() {
        let h = KeyHash::of("iev_secret");
        assert_eq!(h, KeyHash::of("iev_secret"));
        assert_ne!(h, KeyHash::of("iev_secreT"));
        assert_eq!(h.0.len(), 64);
        assert!(!h.0.contains("secret"));
    }

    #[test]
    fn a_vendor_sees_only_its_own_vendor_id() {
        let v = Caller {
            key_id: "k".into(),
            role: Role::Vendor,
            vendor_id: Some(VendorId::parse("v-1").unwrap()),
        };
        assert!(v.sees_vendor(&VendorId::parse("v-1").unwrap()));
        assert!(!v.sees_vendor(&VendorId::parse("v-2").unwrap()));
        let m = Caller {
            key_id: "k".into(),
            role: Role::Manager,
            vendor_id: None,
        };
        assert!(m.sees_vendor(&VendorId::parse("v-2").unwrap()));
    }
}
