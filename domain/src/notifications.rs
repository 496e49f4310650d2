//! Notification targets: where the organization's audit events are sent
//! (a Slack incoming webhook or a generic webhook) and the rules naming
//! which. The target's URL and signing secret are secrets and never enter
//! the log: a target here holds only the URL's origin (scheme, host and
//! port), for the audit log and the settings page.

use serde::{Deserialize, Serialize};

use crate::errors::FieldError;
use crate::ids::NotificationId;

/// At most this many targets per organization, and rules per target.
pub const MAX_TARGETS: usize = 20;
pub const MAX_RULES: usize = 20;

/// The audit log's resource types and operations a rule may name (the
/// audit projection's words).
pub const RESOURCE_TYPES: &[&str] = &[
    "Organization",
    "User",
    "Group",
    "Role",
    "Project",
    "ServiceAccount",
    "Settings",
    "AuditStream",
];
pub const ACTIONS: &[&str] = &["Added", "Removed", "Modified"];

/// A Slack incoming webhook (a message per event) or a generic webhook
/// (the audit entry as JSON, signed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Slack,
    Webhook,
}

/// Which audit events a target receives: those whose resource type and
/// action are both among the rule's (an empty list: any).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub resource_types: Vec<String>,
    #[serde(default)]
    pub actions: Vec<String>,
}

impl Rule {
    pub fn matches(&self, resource_type: &str, action: &str) -> bool {
        (self.resource_types.is_empty() || self.resource_types.iter().any(|t| t == resource_type))
            && (self.actions.is_empty() || self.actions.iter().any(|a| a == action))
    }
}

/// A notification target as the log knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationTarget {
    pub id: NotificationId,
    pub name: String,
    pub kind: TargetKind,
    /// The URL's origin (`https://hooks.slack.com`); the URL itself is
    /// kept sealed beside the log.
    pub endpoint: String,
    pub rules: Vec<Rule>,
}

impl NotificationTarget {
    /// Whether an audit event of this type and action is sent here.
    pub fn wants(&self, resource_type: &str, action: &str) -> bool {
        self.rules.iter().any(|r| r.matches(resource_type, action))
    }

    /// Every field that breaks a rule.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = vec![];
        if let Err(e) = crate::validate::name("name", &self.name, crate::validate::MAX_NAME) {
            errors.push(e);
        }
        if self.rules.is_empty() || self.rules.len() > MAX_RULES {
            errors.push(FieldError::new(
                "rules",
                "invalid_rules",
                format!("a target needs 1 to {MAX_RULES} rules ({{}} receives every event)"),
            ));
        }
        for (i, r) in self.rules.iter().enumerate() {
            for t in &r.resource_types {
                if !RESOURCE_TYPES.contains(&t.as_str()) {
                    errors.push(FieldError::new(
                        format!("rules[{i}].resource_types"),
                        "unknown_resource_type",
                        format!("{t:?} is not one of {}", RESOURCE_TYPES.join(", ")),
                    ));
                }
            }
            for a in &r.actions {
                if !ACTIONS.contains(&a.as_str()) {
                    errors.push(FieldError::new(
                        format!("rules[{i}].actions"),
                        "unknown_action",
                        format!("{a:?} is not one of {}", ACTIONS.join(", ")),
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
