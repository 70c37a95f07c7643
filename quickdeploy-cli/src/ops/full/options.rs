//! How a full deploy runs: its options, shared by the template path and the CDK's.

use crate::stack::consent::Consent;

/// How to run a full deploy.
#[derive(Debug, Clone, Default)]
pub struct FullOptions {
    /// Template parameters, KEY and VALUE.
    pub params: Vec<(String, String)>,
    /// What the user consented to.
    pub consent: Consent,
    /// Make and show the change set, then delete it.
    pub dry_run: bool,
    /// The builds ran already (a `deploy` falling back): do not run them again.
    pub built: bool,
    /// A CDK app was synthesized already (a `deploy` falling back after its synth).
    pub synthesized: bool,
}
