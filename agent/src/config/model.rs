//! The validated configuration the agent runs on. NDK JSON and standalone
//! YAML both end up here; the proxy core only ever sees this.
//!
//! It derives serde so that conformance scenarios can state it directly;
//! defaults are the YANG defaults.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr},
};

use bgp_wire::{MacAddr, RouteTarget};
use serde::{Deserialize, Serialize};

/// The agent's whole configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Config {
    /// admin-state: false withdraws everything and stops learning.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The agent's own address: BGP source and router id, and the RT-3
    /// originating IP in [`OriginatingIp::Agent`] mode.
    pub source_address: Ipv4Addr,
    /// Our AS; also the global administrator of derived route targets.
    #[serde(default = "default_as")]
    pub local_as: u32,
    /// `LOCAL_PREF` on everything we advertise.
    #[serde(default = "default_local_pref")]
    pub local_preference: u32,
    /// Learned MACs are advertised with their IPs too (one RT-2 per IP).
    #[serde(default = "yes")]
    pub include_ip: bool,
    /// Learn static VTEPs that are not configured, from ARP/ND.
    #[serde(default)]
    pub auto_discover: Option<AutoDiscover>,
    /// A learned MAC or IP not refreshed for this many seconds is withdrawn.
    #[serde(default = "default_aging")]
    pub mac_aging_secs: u64,
    /// New MACs beyond this many per mac-vrf are counted, not learned.
    #[serde(default = "default_max_macs")]
    pub max_macs_per_mac_vrf: usize,
    /// New MACs beyond this many per static VTEP are counted, not learned.
    #[serde(default = "default_max_macs")]
    pub max_macs_per_vtep: usize,
    /// Duplicate-MAC detection (RFC 7432 §15.1).
    #[serde(default)]
    pub duplicate_mac: DuplicateMac,
    /// What RT-3s carry as originating router IP.
    #[serde(default)]
    pub originating_ip: OriginatingIp,
    /// The mac-vrfs we proxy for, by network-instance name.
    #[serde(default)]
    pub mac_vrfs: BTreeMap<String, MacVrf>,
}

/// Auto-discovery of static VTEPs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AutoDiscover {
    /// Only VTEPs inside these prefixes are discovered.
    pub allowed_prefixes: Vec<Ipv4Prefix>,
    /// At most this many discovered VTEPs in all.
    pub max_vteps: usize,
}

/// An IPv4 prefix, written `a.b.c.d/len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Prefix {
    /// The network address.
    pub addr: Ipv4Addr,
    /// The prefix length.
    pub len: u8,
}

impl Ipv4Prefix {
    /// True if `ip` is inside the prefix.
    #[must_use]
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        let mask = if self.len == 0 { 0 } else { u32::MAX << (32 - u32::from(self.len.min(32))) };
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

impl TryFrom<String> for Ipv4Prefix {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let error = || format!("{text:?} is not an IPv4 prefix like 192.0.2.0/24");
        let (addr, len) = text.split_once('/').ok_or_else(error)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| error())?;
        let len: u8 = len.parse().map_err(|_| error())?;
        if len > 32 {
            return Err(error());
        }
        Ok(Self { addr, len })
    }
}

impl From<Ipv4Prefix> for String {
    fn from(prefix: Ipv4Prefix) -> Self {
        format!("{}/{}", prefix.addr, prefix.len)
    }
}

/// Duplicate-MAC detection: `moves` moves within `window_secs` freeze the
/// MAC for `hold_secs`. The defaults are SR Linux's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DuplicateMac {
    /// Moves that count as a duplicate.
    pub moves: u32,
    /// The window they must fall in.
    pub window_secs: u64,
    /// How long a duplicate stays frozen.
    pub hold_secs: u64,
}

impl Default for DuplicateMac {
    fn default() -> Self {
        Self { moves: 5, window_secs: 180, hold_secs: 540 }
    }
}

/// The originating router IP of the RT-3s we send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OriginatingIp {
    /// The static VTEP's own IP, as if it spoke EVPN (FRR builds its flood
    /// list from it).
    #[default]
    StaticVtep,
    /// The agent's source address, as the predecessor did.
    Agent,
}

/// One mac-vrf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MacVrf {
    /// admin-state.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The EVI: the RD's number and the derived RT's local part.
    pub evi: u16,
    /// The VNI: every label we send, and how snooped frames are matched.
    pub vni: u32,
    /// Overrides the derived route target `<local-as>:<evi>`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "route_target_text")]
    pub route_target: Option<RouteTarget>,
    /// The static VTEPs we speak for, and their static MACs.
    #[serde(default)]
    pub static_vteps: BTreeMap<Ipv4Addr, StaticVtep>,
}

/// One configured static VTEP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct StaticVtep {
    /// MACs behind it that are advertised as static (sticky), without IP.
    #[serde(default, with = "mac_set_text")]
    pub static_macs: BTreeSet<MacAddr>,
}

impl Config {
    /// The mac-vrf with this VNI, if any (VNIs are unique).
    #[must_use]
    pub fn mac_vrf_by_vni(&self, vni: u32) -> Option<(&str, &MacVrf)> {
        self.mac_vrfs.iter().find(|(_, v)| v.vni == vni).map(|(n, v)| (n.as_str(), v))
    }

    /// The route target of a mac-vrf: the override, or `<local-as>:<evi>`
    /// (4-octet AS form when the AS needs it).
    #[must_use]
    pub fn route_target(&self, mac_vrf: &MacVrf) -> RouteTarget {
        mac_vrf.route_target.unwrap_or_else(|| match u16::try_from(self.local_as) {
            Ok(asn) => RouteTarget::As2 { asn, local: u32::from(mac_vrf.evi) },
            Err(_) => RouteTarget::As4 { asn: self.local_as, local: mac_vrf.evi },
        })
    }

    /// The originating IP for a static VTEP's RT-3.
    #[must_use]
    pub fn rt3_originator(&self, vtep: Ipv4Addr) -> IpAddr {
        match self.originating_ip {
            OriginatingIp::StaticVtep => vtep.into(),
            OriginatingIp::Agent => self.source_address.into(),
        }
    }
}

const fn yes() -> bool {
    true
}
const fn default_as() -> u32 {
    65535
}
const fn default_local_pref() -> u32 {
    100
}
const fn default_aging() -> u64 {
    300
}
const fn default_max_macs() -> usize {
    100_000
}

/// Route targets as text: `65000:100`, `192.0.2.1:100`, `4200000000:100`.
mod route_target_text {
    use bgp_wire::RouteTarget;
    use serde::{Deserialize, Deserializer, Serializer};

    #[allow(
        clippy::ref_option,
        clippy::trivially_copy_pass_by_ref,
        reason = "serde's `with` passes a reference to the field"
    )]
    pub(super) fn serialize<S: Serializer>(rt: &Option<RouteTarget>, s: S) -> Result<S::Ok, S::Error> {
        match rt {
            Some(rt) => s.serialize_str(rt.to_string().trim_start_matches("target:")),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RouteTarget>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else { return Ok(None) };
        parse(&text).map(Some).map_err(serde::de::Error::custom)
    }

    pub(crate) fn parse(text: &str) -> Result<RouteTarget, String> {
        let error = || format!("{text:?} is not a route target like 65000:100 or 192.0.2.1:100");
        let text = text.strip_prefix("target:").unwrap_or(text);
        let (global, local) = text.rsplit_once(':').ok_or_else(error)?;
        if let Ok(addr) = global.parse() {
            return Ok(RouteTarget::Ipv4 { addr, local: local.parse().map_err(|_| error())? });
        }
        let asn: u32 = global.parse().map_err(|_| error())?;
        match u16::try_from(asn) {
            Ok(asn) => Ok(RouteTarget::As2 { asn, local: local.parse().map_err(|_| error())? }),
            Err(_) => Ok(RouteTarget::As4 { asn, local: local.parse().map_err(|_| error())? }),
        }
    }
}

/// MAC sets as lists of `aa:bb:cc:dd:ee:ff` strings.
mod mac_set_text {
    use std::collections::BTreeSet;

    use bgp_wire::MacAddr;
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq as _};

    pub(super) fn serialize<S: Serializer>(macs: &BTreeSet<MacAddr>, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(macs.len()))?;
        for mac in macs {
            seq.serialize_element(&mac.to_string())?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<MacAddr>, D::Error> {
        Vec::<String>::deserialize(d)?.iter().map(|m| m.parse().map_err(serde::de::Error::custom)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{Config, Ipv4Prefix};

    #[test]
    fn prefixes_contain_what_they_should() {
        let p = Ipv4Prefix::try_from("192.0.2.0/24".to_owned()).expect("valid");
        assert!(p.contains([192, 0, 2, 200].into()));
        assert!(!p.contains([192, 0, 3, 1].into()));
        let all = Ipv4Prefix::try_from("0.0.0.0/0".to_owned()).expect("valid");
        assert!(all.contains([203, 0, 113, 9].into()));
        assert!(Ipv4Prefix::try_from("192.0.2.0/33".to_owned()).is_err());
    }

    #[test]
    fn defaults_and_derived_route_targets() {
        let config: Config = serde_json::from_str(
            r#"{"source-address": "192.0.2.254", "local-as": 65000,
                "mac-vrfs": {"blue": {"evi": 100, "vni": 10100},
                             "red": {"evi": 7, "vni": 16000000, "route-target": "65000:999"}}}"#,
        )
        .expect("valid");
        assert!(config.enabled && config.include_ip);
        assert_eq!(config.mac_aging_secs, 300);
        assert_eq!(config.route_target(&config.mac_vrfs["blue"]).to_string(), "target:65000:100");
        assert_eq!(config.route_target(&config.mac_vrfs["red"]).to_string(), "target:65000:999");
        assert_eq!(config.mac_vrf_by_vni(16_000_000).map(|(n, _)| n), Some("red"));
        let big = Config { local_as: 4_200_000_000, ..config.clone() };
        assert_eq!(big.route_target(&big.mac_vrfs["blue"]).to_string(), "target:4200000000:100");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let error = serde_json::from_str::<Config>(r#"{"source-address": "192.0.2.254", "local-ass": 1}"#)
            .expect_err("typo");
        assert!(error.to_string().contains("local-ass"), "{error}");
    }
}
