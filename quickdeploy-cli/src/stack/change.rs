//! One line of a change set, and which lines remove what cannot be brought back: the types
//! and rules both the change set's I/O (`changeset`) and its consent (`consent`) need.

use serde::Serialize;

/// One line of a change set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    /// Add, Modify, Remove, ...
    pub action: String,
    /// Logical id.
    pub logical_id: String,
    /// Resource type.
    pub resource_type: String,
    /// True, False or Conditional, where CloudFormation says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// The stack's template keeps the resource when it leaves the stack (`DeletionPolicy`,
    /// or for a replacement `UpdateReplacePolicy`, `Retain`): nothing is deleted. SAM gives the
    /// versions AutoPublishAlias makes and its layer versions this policy, and renames them
    /// when their code changes, so every full deploy of such an app "removes" them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retained: bool,
}

/// True for a change that deletes a resource, or replaces it (delete and create anew:
/// its data and physical id are gone), or may do so; not when the stack keeps the resource
/// (`Retain`): then nothing is deleted.
pub fn is_removal(change: &Planned) -> bool {
    !change.retained
        && (change.action == "Remove"
            || matches!(change.replacement.as_deref(), Some("True" | "Conditional")))
}

/// The changes that remove or replace resources.
pub fn removals(changes: &[Planned]) -> Vec<&Planned> {
    changes.iter().filter(|c| is_removal(c)).collect()
}
