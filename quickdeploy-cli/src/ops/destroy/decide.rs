//! What `destroy` will remove and how to ask for it, decided from what was read: the plan
//! (stack, resources, buckets and their object versions), the question, the refusal. Pure.

use anyhow::anyhow;

use crate::error::Error;

/// What is there to remove, read before anything changes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The stack's name.
    pub stack: String,
    /// The stack's id (its ARN), when it exists: after deletion only the id describes it.
    pub stack_id: Option<String>,
    /// `logical id (type) physical id` of each of the stack's resources.
    pub resources: Vec<String>,
    /// The named bucket, when there is one (it exists: [`super::plan`] checked).
    pub bucket: Option<BucketPlan>,
}

/// A bucket to empty and delete.
#[derive(Debug, Clone)]
pub struct BucketPlan {
    /// Its name.
    pub name: String,
    /// Its object versions.
    pub versions: u64,
    /// Its delete markers.
    pub markers: u64,
}

impl Plan {
    /// Nothing to remove: no stack, no bucket named.
    pub fn is_empty(&self) -> bool {
        self.stack_id.is_none() && self.bucket.is_none()
    }

    /// What goes, in one line: `stack X and bucket B (n object versions, m delete markers)`.
    pub fn what(&self) -> String {
        let mut parts = Vec::new();
        if self.stack_id.is_some() {
            parts.push(format!("stack {}", self.stack));
        }
        if let Some(b) = &self.bucket {
            parts.push(format!(
                "bucket {} ({} object versions, {} delete markers)",
                b.name, b.versions, b.markers
            ));
        }
        parts.join(" and ")
    }
}

/// A question to ask before removing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// What goes, one line each (resources indented under their stack).
    pub details: Vec<String>,
    /// The prompt: `remove it? [y/N]`, or asking for the bucket's name.
    pub prompt: String,
    /// The answer that consents: `y`, or the bucket's whole name.
    pub expected: String,
}

impl Question {
    /// Whether `answer` (as typed, a line) consents. A bucket goes only when its whole name
    /// is typed; a stack alone with `y`, `Y` or `yes`.
    pub fn accepts(&self, answer: &str) -> bool {
        let answer = answer.trim();
        answer == self.expected || (self.expected == "y" && matches!(answer, "Y" | "yes"))
    }
}

/// Not done for want of consent (exit 3, `Refused`).
pub fn refused(error: anyhow::Error) -> Error {
    Error::Refused {
        kind: "Refused",
        error,
    }
}

/// Consent: given with `yes` (or when there is nothing to remove: `Ok(None)`); else, on a
/// terminal, the question to ask; without one, refused (exit 3), nothing changed.
pub fn consent(plan: &Plan, yes: bool, terminal: bool) -> Result<Option<Question>, Error> {
    if yes || plan.is_empty() {
        return Ok(None);
    }
    if !terminal {
        return Err(refused(anyhow!(
            "destroy removes {}, and without a terminal quickdeploy does not remove what it was \
             not asked to: re-run with --yes",
            plan.what()
        )));
    }
    let mut details = Vec::new();
    if plan.stack_id.is_some() {
        details.push(format!("stack {}:", plan.stack));
        details.extend(plan.resources.iter().map(|r| format!("  {r}")));
    }
    let (prompt, expected) = match &plan.bucket {
        Some(b) => {
            details.push(format!(
                "bucket {}: {} object versions and {} delete markers, all deleted for good",
                b.name, b.versions, b.markers
            ));
            (
                format!("type the bucket's name ({}) to remove all of this:", b.name),
                b.name.clone(),
            )
        }
        None => ("remove it? [y/N]".to_owned(), "y".to_owned()),
    };
    Ok(Some(Question {
        details,
        prompt,
        expected,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(stack: bool, bucket: bool) -> Plan {
        Plan {
            stack: "st".into(),
            stack_id: stack.then(|| "arn:st".into()),
            resources: vec!["Function (AWS::Lambda::Function) f".into()],
            bucket: bucket.then(|| BucketPlan {
                name: "bkt".into(),
                versions: 3,
                markers: 1,
            }),
        }
    }

    #[test]
    fn consent_asks_on_a_terminal_refuses_without_one_and_yes_skips_it() {
        assert!(matches!(consent(&plan(true, true), true, false), Ok(None)));
        assert!(matches!(
            consent(&plan(false, false), false, false),
            Ok(None)
        ));
        let e = consent(&plan(true, true), false, false).expect_err("refused");
        assert_eq!(e.exit().code(), 3);
        assert_eq!(e.kind(), "Refused");
        let text = e.to_string();
        assert!(
            text.contains("--yes")
                && text.contains("stack st and bucket bkt (3 object versions, 1 delete markers)"),
            "{text}"
        );

        let q = consent(&plan(true, false), false, true)
            .expect("ok")
            .expect("asks");
        assert_eq!(q.prompt, "remove it? [y/N]");
        assert_eq!(
            q.details,
            ["stack st:", "  Function (AWS::Lambda::Function) f"]
        );
        for yes in ["y", "Y", "yes", " y\n"] {
            assert!(q.accepts(yes), "{yes:?}");
        }
        for no in ["", "n", "no", "bkt"] {
            assert!(!q.accepts(no), "{no:?}");
        }
    }

    #[test]
    fn a_bucket_goes_only_when_its_whole_name_is_typed() {
        let q = consent(&plan(true, true), false, true)
            .expect("ok")
            .expect("asks");
        assert!(
            q.prompt.contains("type the bucket's name (bkt)"),
            "{}",
            q.prompt
        );
        assert!(
            q.details
                .last()
                .is_some_and(|d| d.contains("3 object versions and 1 delete markers"))
        );
        assert!(q.accepts("bkt\n"));
        for no in ["y", "Y", "yes", "bk", ""] {
            assert!(!q.accepts(no), "{no:?}");
        }
    }
}
