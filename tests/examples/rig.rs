//! The local sandbox: moto (S3, Lambda, IAM, CloudFormation) and the real zipedit patcher
//! behind the Lambda Invoke API, in the foreground until Ctrl-C. Prints the environment that
//! points `quickdeploy` at it, so quickdeploy can be tried without an AWS account. quickdeploy
//! talks to moto through the rig's proxy, which does what moto does not: it expands SAM
//! templates as CloudFormation's transform does, and gives layer versions their physical ids.
//!
//! Run: `make rig` (or `cargo run -p quickdeploy-tests --example rig`).

use testkit::app::{BUCKET, PATCHER};
use testkit::proxy::S3Proxy;
use testkit::rig::{Moto, Patcher, REGION, s3_client};

#[tokio::main]
async fn main() {
    let moto = Moto::start();
    let proxy = S3Proxy::start(&moto.endpoint()).await;
    let patcher = Patcher::start_named_via(
        &testkit::bin("zipedit"),
        &moto.endpoint(),
        &proxy.endpoint,
        2,
        PATCHER,
    )
    .await;
    // The example app's bucket, so `quickdeploy full` works in examples/app at once.
    let s3 = s3_client(&moto.endpoint()).await;
    testkit::rig::make_bucket(&s3, BUCKET, true).await;
    println!("# the local rig is up: moto at {}", moto.endpoint());
    println!("# paste these into another shell, then use quickdeploy as on AWS:");
    println!("export AWS_ENDPOINT_URL={}", proxy.endpoint);
    println!(
        "export QUICKDEPLOY_PATCHER_ENDPOINT={}",
        patcher.invoke_endpoint
    );
    println!("export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing");
    println!("export AWS_REGION={REGION} AWS_EC2_METADATA_DISABLED=true");
    println!(
        "# for the CDK's CLI (cdk deploy, cdk watch): export AWS_ENDPOINT_URL={}",
        testkit::cdk::cdk_endpoint(&proxy.endpoint)
    );
    println!("# the patcher answers as `{PATCHER}` (quickdeploy's default name).");
    println!("# try: cd examples/app && quickdeploy full --yes   (its bucket {BUCKET} is made)");
    println!("#      then edit src/shared/greeting.py and run quickdeploy deploy");
    println!("# Ctrl-C stops the rig; its state is gone with it.");
    let _ = tokio::signal::ctrl_c().await;
    drop(patcher);
    drop(proxy);
    drop(moto);
}
