//! The resource types quickdeploy reads in a template.

/// `AWS::Lambda::Function`.
pub const LAMBDA_FUNCTION: &str = "AWS::Lambda::Function";
/// `AWS::Serverless::Function` (SAM).
pub const SAM_FUNCTION: &str = "AWS::Serverless::Function";
/// `AWS::Lambda::LayerVersion`.
pub const LAMBDA_LAYER: &str = "AWS::Lambda::LayerVersion";
/// `AWS::Serverless::LayerVersion` (SAM).
pub const SAM_LAYER: &str = "AWS::Serverless::LayerVersion";

/// The BuildMethod a reader gives a bundle the CDK made with esbuild (`quickdeploy:bundle`
/// metadata, [`crate::project::cdk`]).
pub const BUNDLE_METHOD: &str = "cdk-esbuild";
