//! The learned table as it survives an agent restart: what is kept of each
//! learned MAC, in a versioned JSON format that names itself, with times as
//! wall-clock Unix milliseconds (the core's clock starts again with the
//! process). [`Core::save`](super::Core::save) writes it;
//! [`Input::Restore`](super::msg::Input::Restore) takes it back, under the
//! rules in `Core::on_restore`: only what the configuration still allows,
//! with its sequence and its age, so that nothing ages late and no sequence
//! goes backwards.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
};

use bgp_wire::MacAddr;
use serde::{Deserialize, Serialize};

use super::msg::mac_text;

/// What the file says it is.
pub const FORMAT: &str = "static-vxlan-agent learned table";
/// The version this agent writes and reads.
pub const VERSION: u32 = 1;

/// The learned MACs of every mac-vrf at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SavedTable {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// When it was taken.
    pub written_at_unix_ms: u64,
    /// Learned MACs by mac-vrf name.
    pub mac_vrfs: BTreeMap<String, Vec<SavedMac>>,
}

/// One learned MAC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SavedMac {
    /// The MAC.
    #[serde(with = "mac_text")]
    pub mac: MacAddr,
    /// The static VTEP it was learned behind.
    pub vtep: Ipv4Addr,
    /// Its IPs, with when each was last seen.
    #[serde(default)]
    pub ips: BTreeMap<IpAddr, u64>,
    /// When the MAC was last seen.
    pub last_seen_unix_ms: u64,
    /// The MAC mobility sequence we advertised.
    pub sequence: u32,
    /// The highest sequence seen from others.
    #[serde(default)]
    pub best_remote_sequence: u32,
    /// Advertised or not, and why.
    #[serde(default)]
    pub status: SavedStatus,
}

/// A saved MAC's status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", rename_all_fields = "kebab-case")]
pub enum SavedStatus {
    /// Advertised.
    #[default]
    Active,
    /// Another VTEP's route won.
    Superseded {
        /// Its next hop.
        by: IpAddr,
    },
    /// Behind a native EVPN VTEP.
    InEvpn {
        /// That VTEP.
        vtep: IpAddr,
    },
    /// A duplicate, held until then.
    Frozen {
        /// When the hold ends.
        until_unix_ms: u64,
    },
}

/// Why a saved table cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    /// Not JSON, or truncated.
    #[error("not a learned table (invalid JSON: {0})")]
    Json(#[source] serde_json::Error),
    /// JSON, but not ours.
    #[error("not a learned table (format {0:?})")]
    Format(String),
    /// Ours, in a version this agent does not read.
    #[error("learned table version {found}, this agent reads version {VERSION}")]
    Version {
        /// What the file says.
        found: u64,
    },
    /// Ours and this version, but a field is wrong.
    #[error("learned table version {VERSION} with a bad field: {0}")]
    Field(#[source] serde_json::Error),
}

impl SavedTable {
    /// Reads a table from its file's text: the format and version first, so
    /// that a foreign or newer file says so rather than which field failed.
    pub fn parse(text: &str) -> Result<Self, SavedError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(SavedError::Json)?;
        let format = value.get("format").and_then(serde_json::Value::as_str).unwrap_or_default();
        if format != FORMAT {
            return Err(SavedError::Format(format.to_owned()));
        }
        let version = value.get("version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if version != u64::from(VERSION) {
            return Err(SavedError::Version { found: version });
        }
        serde_json::from_value(value).map_err(SavedError::Field)
    }

    /// How many MACs it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.mac_vrfs.values().map(Vec::len).sum()
    }

    /// It holds no MAC.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> SavedTable {
        SavedTable {
            format: FORMAT.to_owned(),
            version: VERSION,
            written_at_unix_ms: 1_700_000_000_000,
            mac_vrfs: BTreeMap::from([(
                "blue".to_owned(),
                vec![SavedMac {
                    mac: MacAddr([2, 0, 0, 0, 0, 1]),
                    vtep: Ipv4Addr::new(192, 0, 2, 1),
                    ips: BTreeMap::from([(IpAddr::from([10, 0, 0, 1]), 1_699_999_999_000)]),
                    last_seen_unix_ms: 1_699_999_999_000,
                    sequence: 3,
                    best_remote_sequence: 2,
                    status: SavedStatus::Frozen { until_unix_ms: 1_700_000_100_000 },
                }],
            )]),
        }
    }

    #[test]
    fn a_table_goes_through_its_text_unchanged() {
        let text = serde_json::to_string(&table()).expect("serializes");
        assert!(text.contains("\"mac\":\"02:00:00:00:00:01\""), "{text}");
        assert_eq!(SavedTable::parse(&text).expect("parses"), table());
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let text = serde_json::to_string(&table()).expect("serializes");
        let cases = [
            (text[..text.len() / 2].to_owned(), "invalid JSON"),
            ("{\"format\": \"something else\"}".to_owned(), "format \"something else\""),
            (text.replace("\"version\":1", "\"version\":2"), "version 2, this agent reads version 1"),
            (text.replace("\"sequence\":3", "\"sequence\":\"three\""), "bad field"),
            (text.replace("02:00:00:00:00:01", "not a mac"), "bad field"),
        ];
        for (bad, why) in cases {
            let error = SavedTable::parse(&bad).expect_err(why).to_string();
            assert!(error.contains(why), "{why}: {error}");
        }
    }
}
