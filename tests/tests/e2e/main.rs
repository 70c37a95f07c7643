//! quickdeploy's end-to-end tests: the CLI, the zipedit patcher and the local rig (moto and the
//! real zipedit binary behind the Lambda APIs), one module per behaviour.
//!
//! One test binary rather than one per file: each binary links the whole AWS SDK, so 21 of them
//! took minutes of linking and ~10 GB of disk on a fresh CI machine; one links once. Run one
//! module with `cargo test -p quickdeploy-tests --test e2e -- safety::`.

mod agreement;
mod assumed;
mod bootstrap_ops;
mod builds;
mod builds_go;
mod builds_target;
mod cdk_apps;
mod cdk_rig;
mod cli_behaviour;
mod deltas;
mod deploy;
mod destroy;
mod full;
mod history;
mod hotpatch_record;
mod iam_policy;
mod init;
mod latency;
mod layers;
mod many_functions;
mod moto_as_aws;
mod package_filter;
mod patch_zip;
mod patcher_race;
mod patcher_safety;
mod records;
mod rig_start;
mod rollback;
mod safety;
mod sam_apps;
mod targets;
mod terminal;
mod watch;
mod zipedit_lambda;
mod zipedit_stack;
