//! The organization's settings beyond its name and URL, as the seed's
//! settings pages list them: how workflows run, the initialization agent
//! (checked against [`init_agent_options`]) and the IP allow list. Each is
//! a typed section with its own validation; every change is an event.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::errors::FieldError;

/// How the organization's workflows run: read by the CI services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowSettings {
    /// Whether workflows of pull requests from forks run, and with what.
    pub fork_pull_requests: ForkPolicy,
    /// The queue a pipeline without its own goes to.
    pub default_queue: String,
    /// A job running longer is stopped, in minutes (1 to 1,440).
    pub job_timeout_minutes: u32,
    /// Whether promotions may be started by hand from the UI or API (false:
    /// only automatic promotions run).
    pub manual_promotions: bool,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        WorkflowSettings {
            fork_pull_requests: ForkPolicy::Disabled,
            default_queue: "default".to_string(),
            job_timeout_minutes: 60,
            manual_promotions: true,
        }
    }
}

/// What a pull request from a fork may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForkPolicy {
    /// Never (the default: a fork's code could read the secrets).
    Disabled,
    /// Runs, without the organization's secrets.
    WithoutSecrets,
    /// Runs with the secrets (only for organizations that trust their forks).
    WithSecrets,
}

/// A change to some of [`WorkflowSettings`]' fields; `None` keeps one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WorkflowSettingsChange {
    pub fork_pull_requests: Option<ForkPolicy>,
    pub default_queue: Option<String>,
    pub job_timeout_minutes: Option<u32>,
    pub manual_promotions: Option<bool>,
}

impl WorkflowSettings {
    /// These settings with `change` applied, or every field it breaks.
    pub fn with(&self, change: &WorkflowSettingsChange) -> Result<Self, Vec<FieldError>> {
        let mut errors = vec![];
        let mut next = self.clone();
        if let Some(p) = change.fork_pull_requests {
            next.fork_pull_requests = p;
        }
        if let Some(q) = &change.default_queue {
            match queue_name(q) {
                Ok(()) => next.default_queue = q.clone(),
                Err(e) => errors.push(e),
            }
        }
        if let Some(t) = change.job_timeout_minutes {
            if (1..=1_440).contains(&t) {
                next.job_timeout_minutes = t;
            } else {
                errors.push(FieldError::new(
                    "job_timeout_minutes",
                    "out_of_range",
                    format!("job_timeout_minutes is {t}; it must be 1 to 1440 (24 hours)"),
                ));
            }
        }
        if let Some(m) = change.manual_promotions {
            next.manual_promotions = m;
        }
        if errors.is_empty() {
            Ok(next)
        } else {
            Err(errors)
        }
    }
}

fn queue_name(q: &str) -> Result<(), FieldError> {
    let ok = !q.is_empty()
        && q.len() <= 100
        && q.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "default_queue",
            "invalid_queue",
            format!("{q:?}: a queue name has 1 to 100 letters, digits, '.', '_' or '-'"),
        ))
    }
}

/// Where the initialization job of every pipeline runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitAgent {
    pub environment: AgentEnvironment,
    /// A machine type of [`init_agent_options`] (cloud), or the name of a
    /// self-hosted agent type (`s1-` and a name).
    pub machine_type: String,
    /// The cloud machine type's OS image; `None` for self-hosted agents.
    pub os_image: Option<String>,
}

impl Default for InitAgent {
    fn default() -> Self {
        InitAgent {
            environment: AgentEnvironment::Cloud,
            machine_type: "e1-standard-2".to_string(),
            os_image: Some("ubuntu2204".to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentEnvironment {
    Cloud,
    SelfHosted,
}

/// One cloud machine type and the OS images it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineType {
    pub name: &'static str,
    pub cpus: u32,
    pub memory_gib: u32,
    pub os_images: &'static [&'static str],
}

const LINUX: &[&str] = &["ubuntu2004", "ubuntu2204", "ubuntu2404"];
const MACOS: &[&str] = &["macos-xcode15", "macos-xcode16"];

/// The cloud machine types an initialization job may run on.
pub fn init_agent_options() -> &'static [MachineType] {
    const TYPES: &[MachineType] = &[
        MachineType {
            name: "e1-standard-2",
            cpus: 2,
            memory_gib: 4,
            os_images: LINUX,
        },
        MachineType {
            name: "e1-standard-4",
            cpus: 4,
            memory_gib: 8,
            os_images: LINUX,
        },
        MachineType {
            name: "e1-standard-8",
            cpus: 8,
            memory_gib: 16,
            os_images: LINUX,
        },
        MachineType {
            name: "f1-standard-2",
            cpus: 2,
            memory_gib: 8,
            os_images: LINUX,
        },
        MachineType {
            name: "f1-standard-4",
            cpus: 4,
            memory_gib: 16,
            os_images: LINUX,
        },
        MachineType {
            name: "a1-standard-4",
            cpus: 4,
            memory_gib: 8,
            os_images: MACOS,
        },
    ];
    TYPES
}

/// The prefix of self-hosted agent type names.
pub const SELF_HOSTED_PREFIX: &str = "s1-";

impl InitAgent {
    /// Fails with every field that does not match the catalog.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = vec![];
        match self.environment {
            AgentEnvironment::Cloud => {
                match init_agent_options()
                    .iter()
                    .find(|m| m.name == self.machine_type)
                {
                    None => errors.push(FieldError::new(
                        "machine_type",
                        "unknown_machine_type",
                        format!(
                            "{:?} is not a cloud machine type; GET /settings/init-agent/options lists them",
                            self.machine_type
                        ),
                    )),
                    Some(m) => match &self.os_image {
                        Some(image) if m.os_images.contains(&image.as_str()) => {}
                        Some(image) => errors.push(FieldError::new(
                            "os_image",
                            "unknown_os_image",
                            format!(
                                "{image:?} does not run on {}; it runs {}",
                                m.name,
                                m.os_images.join(", ")
                            ),
                        )),
                        None => errors.push(FieldError::new(
                            "os_image",
                            "missing_os_image",
                            format!(
                                "a cloud machine needs an OS image; {} runs {}",
                                m.name,
                                m.os_images.join(", ")
                            ),
                        )),
                    },
                }
            }
            AgentEnvironment::SelfHosted => {
                let name = self.machine_type.strip_prefix(SELF_HOSTED_PREFIX);
                let ok = name.is_some_and(|n| {
                    !n.is_empty()
                        && n.len() <= 80
                        && n.chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                });
                if !ok {
                    errors.push(FieldError::new(
                        "machine_type",
                        "invalid_agent_type",
                        format!(
                            "{:?}: a self-hosted agent type is named s1- and 1 to 80 lowercase letters, digits or '-'",
                            self.machine_type
                        ),
                    ));
                }
                if self.os_image.is_some() {
                    errors.push(FieldError::new(
                        "os_image",
                        "os_image_not_applicable",
                        "a self-hosted agent brings its own OS: leave os_image out",
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Single sign-on through the organization's OpenID Connect provider
/// (Okta): its client secret is kept sealed beside the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSettings {
    /// The provider's issuer URL.
    pub issuer: String,
    pub client_id: String,
    /// Whether a person the provider signs in and the organization does
    /// not know is created (with the SCIM default role).
    pub jit_provisioning: bool,
    /// Whether people may still sign in with a password.
    pub password_login: bool,
}

impl SsoSettings {
    /// Every field that breaks a rule: the issuer is an `https` URL
    /// (plain `http` only on loopback), the client id 1 to 255 characters.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = vec![];
        let issuer = self.issuer.as_str();
        let host = issuer
            .strip_prefix("https://")
            .or_else(|| issuer.strip_prefix("http://"))
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""))
            .unwrap_or("");
        let hostname = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let loopback = matches!(hostname, "127.0.0.1" | "localhost" | "[::1]");
        let ok = !host.is_empty()
            && issuer.len() <= crate::validate::MAX_URL
            && !issuer.chars().any(|c| c.is_control() || c.is_whitespace())
            && !issuer.contains(['?', '#'])
            && (issuer.starts_with("https://") || loopback);
        if !ok {
            errors.push(FieldError::new(
                "issuer",
                "invalid_issuer",
                format!(
                    "{issuer:?}: the issuer is an https URL without query or fragment \
                     (plain http only on loopback)"
                ),
            ));
        }
        if let Err(mut e) = crate::validate::name("client_id", &self.client_id, 255) {
            e.code = "invalid_client_id";
            errors.push(e);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// An IPv4 or IPv6 network, kept normalized (`10.0.0.0/8`, host bits off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

/// At most this many networks in an allow list.
pub const MAX_ALLOW_LIST: usize = 200;

impl Cidr {
    /// Reads `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128).
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network (CIDR)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(s: String) -> Result<Cidr, String> {
        Cidr::parse(&s)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// Reads an allow list: each entry a network, at most [`MAX_ALLOW_LIST`],
/// repeats collapsed, in the order given.
pub fn parse_allow_list(entries: &[String]) -> Result<Vec<Cidr>, Vec<FieldError>> {
    let mut errors = vec![];
    let mut list: Vec<Cidr> = vec![];
    if entries.len() > MAX_ALLOW_LIST {
        errors.push(FieldError::new(
            "cidrs",
            "too_many",
            format!(
                "{} networks; an allow list holds at most {MAX_ALLOW_LIST}",
                entries.len()
            ),
        ));
    }
    for (i, e) in entries.iter().enumerate() {
        match Cidr::parse(e) {
            Ok(c) if !list.contains(&c) => list.push(c),
            Ok(_) => {}
            Err(why) => errors.push(FieldError::new(format!("cidrs[{i}]"), "invalid_cidr", why)),
        }
    }
    if errors.is_empty() {
        Ok(list)
    } else {
        Err(errors)
    }
}

/// Whether an allow list lets `ip` in: an empty list lets everyone in.
pub fn allows(list: &[Cidr], ip: IpAddr) -> bool {
    list.is_empty() || list.iter().any(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_normalized_and_matched() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains("10.200.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.9".parse().unwrap()));
        let host = Cidr::parse("127.0.0.2").unwrap();
        assert_eq!(host.to_string(), "127.0.0.2/32");
        assert!(!host.contains("127.0.0.3".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::1/32").unwrap();
        assert_eq!(v6.to_string(), "2001:db8::/32");
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0/8").is_err());
    }

    #[test]
    fn init_agents_are_checked_against_the_catalog() {
        assert!(InitAgent::default().validate().is_ok());
        let bad = InitAgent {
            environment: AgentEnvironment::Cloud,
            machine_type: "a1-standard-4".into(),
            os_image: Some("ubuntu2204".into()),
        };
        assert_eq!(bad.validate().unwrap_err()[0].code, "unknown_os_image");
        let hosted = InitAgent {
            environment: AgentEnvironment::SelfHosted,
            machine_type: "s1-builders".into(),
            os_image: None,
        };
        assert!(hosted.validate().is_ok());
    }
}
