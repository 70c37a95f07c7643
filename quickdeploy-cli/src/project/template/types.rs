//! The resource types quickdeploy reads in a template.

/// `AWS::Lambda::Function`.
pub const LAMBDA_FUNCTION: &str = "AWS::Lambda::Function";
/// `AWS::Serverless::Function` (SAM).
pub const SAM_FUNCTION: &str = "AWS::Serverless::Function";
/// `AWS::Lambda::LayerVersion`.
pub const LAMBDA_LAYER: &str = "AWS::Lambda::LayerVersion";
/// `AWS::Serverless::LayerVersion` (SAM).
pub const SAM_LAYER: &str = "AWS::Serverless::LayerVersion";
