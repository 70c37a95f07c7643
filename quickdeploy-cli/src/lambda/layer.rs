//! Layer versions in a function's `Layers`: pure decisions about ARNs, no I/O.
//!
//! A layer version ARN is `arn:<partition>:lambda:<region>:<account>:layer:<name>:<version>`;
//! without its version it names the layer. A quick layer deploy publishes a new version and
//! moves each user function from whichever version of that layer it runs to the new one,
//! keeping every other layer where it is: a function's layers are applied in order, and a
//! later layer's files shadow an earlier one's.

/// A function's move from one layer's current version to a new one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Swap {
    /// The layer, without a version (`arn:...:layer:name`).
    pub layer: String,
    /// The version to run, `arn:...:layer:name:version`.
    pub version_arn: String,
}

/// The layer a version ARN belongs to, `arn:...:layer:name`; `None` when `arn` is not a layer
/// version ARN.
pub fn unversioned(arn: &str) -> Option<&str> {
    let (layer, version) = arn.rsplit_once(':')?;
    let is_layer_version = version.parse::<u64>().is_ok()
        && layer.starts_with("arn:")
        && layer.split(':').nth(5) == Some("layer");
    is_layer_version.then_some(layer)
}

/// The layer's name and version number from a version ARN.
pub fn name_and_version(arn: &str) -> Option<(&str, i64)> {
    let layer = unversioned(arn)?;
    let name = layer.rsplit(':').next()?;
    let version = arn.rsplit(':').next()?.parse().ok()?;
    Some((name, version))
}

/// The function's layers after the swaps: each swapped layer's version replaced in place,
/// the others kept in their order. Refused (why, in words) when the function does not run a
/// version of a swapped layer: its configuration then is not what its stack's template says,
/// and only a full deploy puts it right.
pub fn swapped(current: &[String], swaps: &[Swap]) -> Result<Vec<String>, String> {
    let mut out = current.to_vec();
    for swap in swaps {
        let at = out
            .iter()
            .position(|arn| unversioned(arn) == Some(swap.layer.as_str()))
            .ok_or_else(|| {
                format!(
                    "it does not use layer {} as its stack's template says (its Layers: [{}]): run `quickdeploy full` to deploy the stack as the template says",
                    swap.layer,
                    current.join(", ")
                )
            })?;
        out[at] = swap.version_arn.clone();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPS2: &str = "arn:aws:lambda:us-east-1:123456789012:layer:deps:2";
    const OTHER7: &str = "arn:aws:lambda:us-east-1:123456789012:layer:other:7";
    const POWERTOOLS: &str = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:4";

    fn swap(to: &str) -> Swap {
        Swap {
            layer: unversioned(to).expect("a layer version").to_owned(),
            version_arn: to.to_owned(),
        }
    }

    #[test]
    fn layer_version_arns_are_told_from_other_arns() {
        assert_eq!(
            unversioned(DEPS2),
            Some("arn:aws:lambda:us-east-1:123456789012:layer:deps")
        );
        assert_eq!(name_and_version(DEPS2), Some(("deps", 2)));
        assert_eq!(name_and_version(POWERTOOLS).map(|(_, v)| v), Some(4));
        for not_one in [
            "arn:aws:lambda:us-east-1:1:function:f:3",
            "arn:aws:lambda:us-east-1:1:layer:deps",
            "deps:2",
            "",
        ] {
            assert_eq!(unversioned(not_one), None, "{not_one}");
        }
    }

    #[test]
    fn a_swap_replaces_that_layer_in_place_and_keeps_the_others_in_order() {
        let deps3 = DEPS2.replace(":2", ":3");
        let current = [POWERTOOLS.to_owned(), DEPS2.to_owned(), OTHER7.to_owned()];
        assert_eq!(
            swapped(&current, &[swap(&deps3)]),
            Ok(vec![
                POWERTOOLS.to_owned(),
                deps3.clone(),
                OTHER7.to_owned()
            ])
        );
        // Two layers of the same deploy, and a swap to the version it already runs.
        let other8 = OTHER7.replace(":7", ":8");
        assert_eq!(
            swapped(&current, &[swap(&other8), swap(&deps3)]),
            Ok(vec![POWERTOOLS.to_owned(), deps3, other8])
        );
        assert_eq!(swapped(&current, &[swap(DEPS2)]), Ok(current.to_vec()));
    }

    #[test]
    fn a_function_without_the_layer_is_refused_with_what_it_has() {
        let why = swapped(&[OTHER7.to_owned()], &[swap(DEPS2)]).expect_err("refused");
        assert!(why.contains("layer:deps as its stack"), "{why}");
        assert!(
            why.contains(OTHER7) && why.contains("quickdeploy full"),
            "{why}"
        );
        assert!(swapped(&[], &[swap(DEPS2)]).is_err());
    }
}
