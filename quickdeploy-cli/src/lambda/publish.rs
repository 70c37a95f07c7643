//! Publishing a new version of a layer from its patched artifact: the quick path's half of a
//! layer change (the other half moves the functions that use it, in `update`).
//!
//! The new version copies the settings of the version the stack created (compatible runtimes
//! and architectures, description, licence), so it differs only in content. Old versions are
//! never deleted: functions and aliases may still run them, and they are the way back.

use anyhow::{Context as _, anyhow};
use aws_sdk_lambda::types::LayerVersionContentInput;

use crate::aws::AwsError;
use crate::lambda::layer;
use crate::project::template::S3Object;

/// A published layer version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its ARN, `arn:...:layer:name:version`.
    pub version_arn: String,
}

/// Publishes a version of the layer `like` is a version of, from `artifact` (a pinned S3
/// object version), with `like`'s settings; checks Lambda read the content whose CodeSha256
/// the patcher reported.
pub async fn layer_version(
    lambda: &aws_sdk_lambda::Client,
    like: &str,
    artifact: &S3Object,
    code_sha256: &str,
) -> anyhow::Result<Published> {
    let (name, number) = layer::name_and_version(like)
        .ok_or_else(|| anyhow!("{like} is not a layer version ARN"))?;
    let previous = lambda
        .get_layer_version()
        .layer_name(name)
        .version_number(number)
        .send()
        .await
        .map_err(AwsError::from)
        .with_context(|| format!("GetLayerVersion {like} failed"))?;
    let content = LayerVersionContentInput::builder()
        .s3_bucket(&artifact.bucket)
        .s3_key(&artifact.key)
        .set_s3_object_version(artifact.version.clone())
        .build();
    let published = lambda
        .publish_layer_version()
        .layer_name(name)
        .content(content)
        .set_compatible_runtimes(Some(previous.compatible_runtimes().to_vec()))
        .set_compatible_architectures(Some(previous.compatible_architectures().to_vec()))
        .set_description(previous.description().map(str::to_owned))
        .set_license_info(
            previous
                .license_info()
                .map(str::to_owned)
                .filter(|l| !l.is_empty()),
        )
        .send()
        .await
        .map_err(AwsError::from)
        .with_context(|| format!("PublishLayerVersion of layer {name} from {artifact} failed"))?;
    let version_arn = published
        .layer_version_arn()
        .ok_or_else(|| anyhow!("PublishLayerVersion of layer {name} answered no LayerVersionArn"))?
        .to_owned();
    let got = published.content().and_then(|c| c.code_sha256());
    if got != Some(code_sha256) {
        return Err(anyhow!(
            "published {version_arn}, but Lambda reports its content's CodeSha256 as {}, not the patched artifact's {code_sha256}: someone else wrote {artifact} meanwhile; run deploy again",
            got.unwrap_or("(none)")
        ));
    }
    Ok(Published { version_arn })
}
