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
#[expect(clippy::struct_excessive_bools, reason = "each bool is one YANG boolean leaf")]
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
    /// With `include-ip`, IPv6 link-local IPs (`fe80::/10`) learned from ND
    /// are advertised too, as FRR does for its own hosts; off leaves them
    /// out (the MAC and its other IPs are still advertised).
    #[serde(default = "yes")]
    pub advertise_link_local: bool,
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
    /// How static VTEPs are checked for life (a dead one's routes are
    /// withdrawn).
    #[serde(default)]
    pub liveness: LivenessCheck,

    // ----- the BGP session (the core ignores these) -----
    /// The route reflector to peer with; defaults to `source-address` (the
    /// predecessor's behaviour: the local BGP on the same box).
    #[serde(default)]
    pub peer_address: Option<IpAddr>,
    /// Its BGP port.
    #[serde(default = "default_bgp_port")]
    pub peer_port: u16,
    /// Its AS; defaults to `local-as` (iBGP).
    #[serde(default)]
    pub peer_as: Option<u32>,
    /// Also accept the peer's connections on `source-address:listen-port`
    /// (SR Linux owns 179 on its addresses; the predecessor used 1179).
    #[serde(default)]
    pub listen_port: Option<u16>,
    /// Connect out to the peer (off: only listen).
    #[serde(default = "yes")]
    pub connect: bool,
    /// Hold time we propose, in seconds.
    #[serde(default = "default_hold")]
    pub hold_time: u16,
    /// TCP MD5 password for the session.
    #[serde(default, skip_serializing)]
    pub md5_password: Option<String>,
    /// Graceful-restart time we advertise, in seconds (0: none).
    #[serde(default = "default_restart_time")]
    pub graceful_restart_time: u16,

    // ----- ARP/ND learning (the core ignores these) -----
    /// Interfaces to snoop ARP/ND-in-VXLAN on; empty: no learning.
    #[serde(default)]
    pub learning_interfaces: Vec<String>,
    /// The network namespace they live in: a name under /var/run/netns or
    /// a path (SR Linux: `srbase`); none: the agent's own.
    #[serde(default)]
    pub learning_netns: Option<String>,
    /// TC classifier or socket filter.
    #[serde(default)]
    pub attach_mode: AttachMode,
    /// The VXLAN UDP port.
    #[serde(default = "default_vxlan_port")]
    pub vxlan_port: u16,
    /// Learn from IPv6 ND too.
    #[serde(default = "yes")]
    pub learn_nd: bool,

    // ----- standalone only (the core ignores this; no YANG leaf) -----
    /// Serve state (`/state`, `/yang`, `/metrics`) on this address: a bare
    /// port is loopback. `--http` on the command line wins; read at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,

    // ----- restarts (the core ignores this) -----
    /// Where the learned table is kept across restarts ("" keeps nothing).
    #[serde(default = "default_state_file")]
    pub state_file: String,
}

/// Standalone's place for the learned table; SR Linux's is the YANG default
/// (a directory that survives an app restart).
pub const STANDALONE_STATE_FILE: &str = "/var/lib/static-vxlan-agent/learned-table.json";
/// SR Linux's place for the learned table (the YANG default).
pub const SR_LINUX_STATE_FILE: &str = "/etc/opt/static-vxlan-agent/learned-table.json";

fn default_state_file() -> String {
    STANDALONE_STATE_FILE.to_owned()
}

/// How the snooper attaches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttachMode {
    /// TC classifier (cheaper per packet).
    #[default]
    Tc,
    /// Socket filter (nothing is left on the interface if the agent dies).
    Socket,
}

/// A configuration that cannot be used, naming the path of the bad value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// The YANG-style path of the value.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
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
    /// Overrides `liveness/method` for this VTEP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_method: Option<LivenessMethod>,
}

/// How static VTEPs are checked for life. A VTEP found dead has its RT-3
/// and every RT-2 behind it withdrawn; once it is alive again for
/// `hold-down-secs` they come back with the sequences they had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LivenessCheck {
    /// The method for every static VTEP without its own.
    #[serde(default)]
    pub method: LivenessMethod,
    /// ICMP: one echo request per VTEP every this many milliseconds.
    #[serde(default = "default_liveness_interval")]
    pub interval_ms: u32,
    /// ICMP: this many intervals without a reply declare a VTEP down.
    #[serde(default = "default_liveness_multiplier")]
    pub multiplier: u32,
    /// A VTEP that comes back must stay up this long before its routes
    /// are advertised again: a flapping VTEP costs one withdrawal and one
    /// advertisement per hold-down at most, not one per flap.
    #[serde(default = "default_hold_down")]
    pub hold_down_secs: u32,
}

impl Default for LivenessCheck {
    fn default() -> Self {
        Self {
            method: LivenessMethod::None,
            interval_ms: default_liveness_interval(),
            multiplier: default_liveness_multiplier(),
            hold_down_secs: default_hold_down(),
        }
    }
}

impl LivenessCheck {
    /// How long ICMP waits before declaring a VTEP down.
    #[must_use]
    pub const fn detection_ms(&self) -> u64 {
        self.interval_ms as u64 * self.multiplier as u64
    }
}

/// What tells the agent a static VTEP is alive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LivenessMethod {
    /// Nothing: its routes stay while the configuration names it.
    #[default]
    None,
    /// ICMP echo to its underlay address from `source-address`.
    Icmp,
    /// SR Linux's BFD session to it (NDK BFD notifications).
    Bfd,
}

impl LivenessMethod {
    /// The YANG enum name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Icmp => "icmp",
            Self::Bfd => "bfd",
        }
    }
}

/// Where each mac-vrf's configuration sits in SR Linux, and which ones a
/// commit changed, so that a validation error names the real YANG path and
/// blames the node the operator touched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// The bgp-instance id of each mac-vrf (absent: 1, as standalone).
    pub bgp_instance: BTreeMap<String, String>,
    /// The mac-vrfs the commit changed (added, or any leaf or static VTEP).
    pub changed: BTreeSet<String>,
    /// The configuration comes from SR Linux's NDK (BFD is there).
    pub on_sr_linux: bool,
}

impl Placement {
    fn path(&self, mac_vrf: &str) -> String {
        let id = self.bgp_instance.get(mac_vrf).map_or("1", String::as_str);
        format!(
            "network-instance[name={mac_vrf}]/protocols/bgp-evpn/bgp-instance[id={id}]/static-vxlan-agent"
        )
    }

    /// Of two mac-vrfs in conflict, the one to blame: the one the commit
    /// changed if only one of them was, else `later` (the second in order).
    fn blame<'a>(&self, earlier: &'a str, later: &'a str) -> (&'a str, &'a str) {
        if self.changed.contains(earlier) && !self.changed.contains(later) {
            (earlier, later)
        } else {
            (later, earlier)
        }
    }
}

impl Config {
    /// Checks what serde cannot: ranges, uniqueness, consistency. The error
    /// names the path of the first bad value (mac-vrfs under bgp-instance
    /// 1; see [`Config::validate_in`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_in(&Placement::default())
    }

    /// [`Config::validate`] for a configuration placed as in `placement`.
    pub fn validate_in(&self, placement: &Placement) -> Result<(), ConfigError> {
        let error = |path: String, reason: &str| Err(ConfigError { path, reason: reason.to_owned() });
        let root = "static-vxlan-agent";
        if self.local_as == 0 {
            return error(format!("{root}/local-as"), "must be 1..4294967295");
        }
        if self.peer_as == Some(0) {
            return error(format!("{root}/peer-as"), "must be 1..4294967295");
        }
        if self.hold_time == 1 || self.hold_time == 2 {
            return error(format!("{root}/hold-time"), "must be 0 or at least 3 seconds (RFC 4271)");
        }
        if self.graceful_restart_time > 4095 {
            return error(format!("{root}/graceful-restart-time"), "must fit 12 bits: at most 4095 seconds");
        }
        if self.md5_password.as_ref().is_some_and(|p| p.is_empty() || p.len() > 80) {
            return error(format!("{root}/md5-password"), "must be 1 to 80 characters");
        }
        if let Some(http) = &self.http
            && let Err(reason) = http_address(http)
        {
            return error(format!("{root}/http"), &reason);
        }
        // The YANG range; the YAML has no schema to enforce it.
        if !(1..=86_400).contains(&self.mac_aging_secs) {
            return error(format!("{root}/mac-aging-secs"), "must be 1..86400 seconds");
        }
        if let Some(auto) = &self.auto_discover
            && auto.allowed_prefixes.is_empty()
        {
            return error(
                format!("{root}/auto-discover/allowed-prefixes"),
                "auto-discovery needs at least one prefix",
            );
        }
        let liveness = &self.liveness;
        if !(10..=60_000).contains(&liveness.interval_ms) {
            return error(format!("{root}/liveness/interval-ms"), "must be 10..60000 milliseconds");
        }
        if !(1..=255).contains(&liveness.multiplier) {
            return error(format!("{root}/liveness/multiplier"), "must be 1..255");
        }
        if liveness.hold_down_secs > 3600 {
            return error(format!("{root}/liveness/hold-down-secs"), "must be 0..3600 seconds");
        }
        let bfd_refused = "bfd needs SR Linux's BFD sessions (the NDK); standalone, use icmp";
        if liveness.method == LivenessMethod::Bfd && !placement.on_sr_linux {
            return error(format!("{root}/liveness/method"), bfd_refused);
        }
        let mut vnis = BTreeMap::new();
        let mut evis = BTreeMap::new();
        let mut methods: BTreeMap<Ipv4Addr, (LivenessMethod, &str)> = BTreeMap::new();
        for (name, mac_vrf) in &self.mac_vrfs {
            let path = placement.path(name);
            if mac_vrf.evi == 0 {
                return error(format!("{path}/evi"), "must be 1..65535");
            }
            if mac_vrf.vni == 0 || mac_vrf.vni > 16_777_215 {
                return error(format!("{path}/vni"), "must be 1..16777215");
            }
            // The EVI is the RD's number and the derived route target: two
            // mac-vrfs with one EVI would advertise the same routes for a
            // VTEP in both, and import each other's.
            if let Some(other) = evis.insert(mac_vrf.evi, name) {
                let (blamed, other) = placement.blame(other, name);
                return error(
                    format!("{}/evi", placement.path(blamed)),
                    &format!("EVI {} is already used by mac-vrf {other}", mac_vrf.evi),
                );
            }
            if let Some(other) = vnis.insert(mac_vrf.vni, name) {
                let (blamed, other) = placement.blame(other, name);
                return error(
                    format!("{}/vni", placement.path(blamed)),
                    &format!("VNI {} is already used by mac-vrf {other}", mac_vrf.vni),
                );
            }
            for (vtep, static_vtep) in &mac_vrf.static_vteps {
                let vtep_path = format!("{path}/static-vtep[vtep-ip={vtep}]");
                if vtep.is_unspecified() || vtep.is_multicast() || vtep.is_broadcast() {
                    return error(vtep_path, "must be a unicast address");
                }
                if let Some(mac) = static_vtep.static_macs.iter().find(|m| m.is_multicast() || m.is_zero()) {
                    return error(format!("{vtep_path}/static-macs"), &format!("{mac} is not a unicast MAC"));
                }
                let method_path = format!("{vtep_path}/liveness-method");
                if static_vtep.liveness_method == Some(LivenessMethod::Bfd) && !placement.on_sr_linux {
                    return error(method_path, bfd_refused);
                }
                let method = static_vtep.liveness_method.unwrap_or(liveness.method);
                // One VTEP is one box: it cannot be alive by one method in
                // one mac-vrf and by another in the next.
                if let Some((other, other_vrf)) = methods.insert(*vtep, (method, name))
                    && other != method
                {
                    return error(
                        method_path,
                        &format!(
                            "{} here but {} in mac-vrf {other_vrf}: one VTEP has one liveness method",
                            method.as_str(),
                            other.as_str()
                        ),
                    );
                }
            }
        }
        // Probing ourselves or our route reflector says nothing about a
        // static VTEP: such a VTEP is a mistake.
        for (name, mac_vrf) in &self.mac_vrfs {
            for vtep in mac_vrf.static_vteps.keys() {
                let ours =
                    IpAddr::V4(*vtep) == IpAddr::V4(self.source_address) || IpAddr::V4(*vtep) == self.peer();
                if ours && self.liveness_method(*vtep) != LivenessMethod::None {
                    return error(
                        format!("{}/static-vtep[vtep-ip={vtep}]", placement.path(name)),
                        "is the agent's own source-address or its BGP peer: it cannot be probed as a static VTEP",
                    );
                }
            }
        }
        Ok(())
    }

    /// The liveness method of a static VTEP: its own, else the agent's.
    #[must_use]
    pub fn liveness_method(&self, vtep: Ipv4Addr) -> LivenessMethod {
        self.mac_vrfs
            .values()
            .find_map(|m| m.static_vteps.get(&vtep).and_then(|v| v.liveness_method))
            .unwrap_or(self.liveness.method)
    }

    /// The BGP peer's address (defaults to `source-address`).
    #[must_use]
    pub fn peer(&self) -> IpAddr {
        self.peer_address.unwrap_or(IpAddr::V4(self.source_address))
    }

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

/// An HTTP address as `--http` and `http:` take it: `host:port`, or a bare
/// port on loopback (state is for the operator on the box unless they say
/// otherwise).
pub fn http_address(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|e| format!("{text}: not a port or an address:port ({e})"))
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
const fn default_bgp_port() -> u16 {
    179
}
const fn default_hold() -> u16 {
    90
}
const fn default_restart_time() -> u16 {
    120
}
const fn default_vxlan_port() -> u16 {
    4789
}
const fn default_liveness_interval() -> u32 {
    300
}
const fn default_liveness_multiplier() -> u32 {
    3
}
const fn default_hold_down() -> u32 {
    5
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
    use std::collections::BTreeMap;

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
    fn invalid_values_are_rejected_naming_their_path() {
        let base = r#"{"source-address": "192.0.2.254", "mac-vrfs": {"blue": {"evi": 100, "vni": 10100,
            "static-vteps": {"192.0.2.1": {"static-macs": ["02:00:00:00:00:01"]}}}}}"#;
        let config: Config = serde_json::from_str(base).expect("valid");
        assert_eq!(config.validate(), Ok(()));
        let cases: [(&str, &str); 6] = [
            ("hold-time", r#"{"source-address": "192.0.2.254", "hold-time": 2}"#),
            ("static-vxlan-agent/http", r#"{"source-address": "192.0.2.254", "http": "localhost"}"#),
            (
                "/vni",
                r#"{"source-address": "192.0.2.254", "mac-vrfs": {"blue": {"evi": 1, "vni": 16777216}}}"#,
            ),
            ("/evi", r#"{"source-address": "192.0.2.254", "mac-vrfs": {"blue": {"evi": 0, "vni": 1}}}"#),
            (
                "static-vtep[vtep-ip=224.0.0.1]",
                r#"{"source-address": "192.0.2.254", "mac-vrfs": {"blue": {"evi": 1, "vni": 1,
                "static-vteps": {"224.0.0.1": {}}}}}"#,
            ),
            (
                "/static-macs",
                r#"{"source-address": "192.0.2.254", "mac-vrfs": {"blue": {"evi": 1, "vni": 1,
                "static-vteps": {"192.0.2.1": {"static-macs": ["ff:ff:ff:ff:ff:ff"]}}}}}"#,
            ),
        ];
        for (path, json) in cases {
            let config: Config = serde_json::from_str(json).expect("parses");
            let error = config.validate().expect_err(path);
            assert!(error.path.contains(path), "{error}");
        }
        let twice = r#"{"source-address": "192.0.2.254", "mac-vrfs": {"a": {"evi": 1, "vni": 5}, "b": {"evi": 2, "vni": 5}}}"#;
        let error =
            serde_json::from_str::<Config>(twice).expect("parses").validate().expect_err("duplicate VNI");
        assert!(error.reason.contains("already used"), "{error}");
        let evi_twice = r#"{"source-address": "192.0.2.254", "mac-vrfs": {"a": {"evi": 7, "vni": 5}, "b": {"evi": 7, "vni": 6}}}"#;
        let error =
            serde_json::from_str::<Config>(evi_twice).expect("parses").validate().expect_err("duplicate EVI");
        assert!(error.reason.contains("EVI 7 is already used by mac-vrf a"), "{error}");
        assert!(
            error.path.ends_with(
                "network-instance[name=b]/protocols/bgp-evpn/bgp-instance[id=1]/static-vxlan-agent/evi"
            ),
            "{error}"
        );
    }

    #[test]
    fn liveness_is_validated_with_yang_paths() {
        let parse = |json: serde_json::Value| -> Config { serde_json::from_value(json).expect("parses") };
        let base = serde_json::json!({"source-address": "192.0.2.254", "peer-address": "192.0.2.253",
            "liveness": {"method": "icmp"},
            "mac-vrfs": {"blue": {"evi": 1, "vni": 1, "static-vteps": {"192.0.2.1": {}}},
                         "red": {"evi": 2, "vni": 2, "static-vteps": {"192.0.2.1": {}}}}});
        let config = parse(base.clone());
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.liveness.detection_ms(), 900, "defaults: 300 ms x 3");
        assert_eq!(config.liveness_method([192, 0, 2, 1].into()), super::LivenessMethod::Icmp);
        let refused = |edit: &dyn Fn(&mut serde_json::Value), on_sr_linux: bool| {
            let mut json = base.clone();
            edit(&mut json);
            let placement = super::Placement { on_sr_linux, ..super::Placement::default() };
            parse(json).validate_in(&placement).expect_err("refused")
        };
        let error = refused(&|j| j["liveness"]["method"] = "bfd".into(), false);
        assert_eq!(error.path, "static-vxlan-agent/liveness/method");
        assert!(error.reason.contains("standalone, use icmp"), "{error}");
        let error = refused(&|j| j["liveness"]["interval-ms"] = 5.into(), true);
        assert_eq!(error.path, "static-vxlan-agent/liveness/interval-ms");
        let error = refused(&|j| j["liveness"]["multiplier"] = 0.into(), true);
        assert_eq!(error.path, "static-vxlan-agent/liveness/multiplier");
        let per_vtep = |j: &mut serde_json::Value| {
            j["mac-vrfs"]["red"]["static-vteps"]["192.0.2.1"]["liveness-method"] = "bfd".into();
        };
        let error = refused(&per_vtep, false);
        assert!(error.path.ends_with("static-vtep[vtep-ip=192.0.2.1]/liveness-method"), "{error}");
        // On SR Linux bfd is fine, but not differently per mac-vrf.
        let error = refused(&per_vtep, true);
        assert!(error.reason.contains("bfd here but icmp in mac-vrf blue"), "{error}");
        for ours in ["192.0.2.254", "192.0.2.253"] {
            let error =
                refused(&|j| j["mac-vrfs"]["blue"]["static-vteps"][ours] = serde_json::json!({}), true);
            assert!(error.path.ends_with(&format!("static-vtep[vtep-ip={ours}]")), "{error}");
            assert!(error.reason.contains("own source-address or its BGP peer"), "{error}");
        }
    }

    /// The YAML keys of a configuration as dotted paths, map keys under
    /// `mac-vrfs` and `static-vteps` written `NAME` and `IP`, with their
    /// values as text.
    fn flat_keys(value: &serde_json::Value, prefix: &str, out: &mut BTreeMap<String, String>) {
        let Some(map) = value.as_object() else {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            out.insert(prefix.to_owned(), text);
            return;
        };
        for (key, member) in map {
            let key = match prefix.rsplit('.').next() {
                Some("mac-vrfs") => "NAME",
                Some("static-vteps") => "IP",
                _ => key.as_str(),
            };
            let path = if prefix.is_empty() { key.to_owned() } else { format!("{prefix}.{key}") };
            flat_keys(member, &path, out);
        }
    }

    #[test]
    fn the_standalone_reference_names_every_key_with_its_default() {
        let doc = include_str!("../../../docs/STANDALONE.md");
        let yang = include_str!("../../../yang/static-vxlan-agent.yang");
        // `| `key` | type | default | YANG leaf |` rows.
        let rows: BTreeMap<String, (String, String)> = doc
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.trim().trim_matches('|').split('|').map(str::trim).collect();
                let key = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
                (cells.len() == 4 && !key.starts_with('/'))
                    .then(|| (key.to_owned(), (cells[2].to_owned(), cells[3].to_owned())))
            })
            .collect();
        // Every key the model has: a configuration with every optional part.
        let full: Config = serde_json::from_value(serde_json::json!({
            "source-address": "192.0.2.254", "peer-address": "192.0.2.253", "peer-as": 65001,
            "listen-port": 1179, "http": "8479", "learning-netns": "srbase",
            "auto-discover": {"allowed-prefixes": ["192.0.2.0/24"], "max-vteps": 4},
            "mac-vrfs": {"blue": {"evi": 1, "vni": 1, "route-target": "65000:1",
                "static-vteps": {"192.0.2.1": {"static-macs": [], "liveness-method": "icmp"}}}}
        }))
        .expect("valid");
        let mut keys = BTreeMap::new();
        flat_keys(&serde_json::to_value(&full).expect("serializes"), "", &mut keys);
        // Not serialized (a secret), but a key all the same.
        keys.insert("md5-password".into(), String::new());
        let documented: std::collections::BTreeSet<&String> = rows.keys().collect();
        assert_eq!(documented, keys.keys().collect(), "docs/STANDALONE.md's reference and the model differ");
        // Defaults: what a configuration that leaves a key out gets.
        let minimal: Config = serde_json::from_value(serde_json::json!({
            "source-address": "192.0.2.254",
            "mac-vrfs": {"blue": {"evi": 1, "vni": 1, "static-vteps": {"192.0.2.1": {}}}}
        }))
        .expect("valid");
        let mut defaults = BTreeMap::new();
        flat_keys(&serde_json::to_value(&minimal).expect("serializes"), "", &mut defaults);
        let required = ["source-address", "mac-vrfs.NAME.evi", "mac-vrfs.NAME.vni"];
        for (key, (default, leaf)) in &rows {
            match defaults.get(key) {
                // Given in the minimal configuration, so required.
                Some(_) if required.contains(&key.as_str()) => assert_eq!(default, "required", "{key}"),
                Some(value) if value == "null" => assert!(default.starts_with("none"), "{key}: {default}"),
                Some(value) => {
                    assert!(
                        default.starts_with(&format!("`{value}`")),
                        "{key}: documented {default}, model {value}"
                    );
                }
                None => assert!(
                    default.starts_with("none") || default.starts_with("required"),
                    "{key}: not in a minimal configuration, so its default is none or it is required: {default}"
                ),
            }
            if leaf.starts_with('—') {
                assert_eq!(key, "http", "only http is standalone only");
                continue;
            }
            let name = leaf.trim_matches('`');
            assert!(
                ["leaf", "leaf-list", "container", "list"]
                    .iter()
                    .any(|kind| yang.contains(&format!("{kind} {name} {{"))),
                "{key}: no YANG leaf {name}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let error = serde_json::from_str::<Config>(r#"{"source-address": "192.0.2.254", "local-ass": 1}"#)
            .expect_err("typo");
        assert!(error.to_string().contains("local-ass"), "{error}");
    }
}
