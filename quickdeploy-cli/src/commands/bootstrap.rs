//! `quickdeploy bootstrap`: install the zipedit patcher in an account and region, once.

use anyhow::{Context, anyhow, bail};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus,
    CreateBucketConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use serde::Serialize;

use crate::aws::AwsArgs;
use crate::changeset;
use crate::config::DEFAULT_PATCHER;
use crate::error::{Error, Exit};
use crate::manifest::sha256_hex;
use crate::output::short_sha;

/// The patcher stack's default name; later commands look for the bucket there.
pub const STACK: &str = "quickdeploy-zipedit";

/// The patcher's template, built in so bootstrap works from any folder.
const TEMPLATE: &str = include_str!("../../../cfn/zipedit.yaml");

/// Install the zipedit patcher: its stack, and an artifact bucket if none is given.
///
/// Packages the zipedit Lambda (a built binary, a bootstrap.zip from
/// scripts/package-lambda.sh, or by default the package `make install` installed), uploads it, and creates or updates the patcher stack from
/// cfn/zipedit.yaml. Without --bucket it uses the artifact bucket
/// quickdeploy-artifacts-ACCOUNT-REGION; either bucket is made when missing: versioned,
/// encrypted, public access blocked, with a lifecycle rule that aborts abandoned multipart
/// uploads and expires old versions (keeping the newest 20). Running it again with the same code
/// changes nothing.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  quickdeploy bootstrap --region eu-west-1            # the package `make install` installed
  quickdeploy bootstrap --arch x86_64 --output json
  scripts/package-lambda.sh --arch arm64 && quickdeploy bootstrap --code target/lambda/bootstrap.zip
  quickdeploy bootstrap --binary target/debug/zipedit --arch x86_64 --bucket my-artifacts

Without --code or --binary, the patcher's package zipedit-ARCH.zip is taken from
$QUICKDEPLOY_PATCHER_PACKAGE_DIR, else from ../share/quickdeploy/ next to the quickdeploy
executable (where `make install` puts it).

Exit codes: 0 installed (or already up to date), 1 failed, 2 bad usage or configuration
(no patcher package found, no region or credentials).")]
pub struct Args {
    /// The packaged patcher (bootstrap.zip from scripts/package-lambda.sh; default: the
    /// installed zipedit-ARCH.zip).
    #[arg(long, value_name = "ZIP", conflicts_with = "binary")]
    code: Option<std::path::PathBuf>,
    /// A built zipedit binary, packaged here as `bootstrap`.
    #[arg(long, value_name = "FILE")]
    binary: Option<std::path::PathBuf>,
    /// The artifact bucket (default: quickdeploy-artifacts-ACCOUNT-REGION, made if missing).
    #[arg(long, value_name = "BUCKET")]
    bucket: Option<String>,
    /// The patcher's instruction set; must match the code.
    #[arg(long, default_value = "arm64", value_parser = ["arm64", "x86_64"])]
    arch: String,
    /// The patcher's function name.
    #[arg(long, default_value = DEFAULT_PATCHER, value_name = "NAME")]
    function_name: String,
    /// The patcher stack's name.
    #[arg(long, default_value = STACK, value_name = "NAME")]
    stack: String,
    #[command(flatten)]
    out: super::OutputArgs,
    #[command(flatten)]
    aws: AwsArgs,
}

impl Args {
    /// JSON output: --output decides when given, as in the other commands.
    pub fn json(&self) -> bool {
        self.out.json(false)
    }
}

/// Where `make install` puts the patcher's packages, relative to PREFIX (the executable is
/// PREFIX/bin/quickdeploy).
const SHARE_DIR: &str = "share/quickdeploy";
/// Overrides where the packages are looked for first.
pub const PACKAGE_DIR_ENV: &str = "QUICKDEPLOY_PATCHER_PACKAGE_DIR";

/// The installed package's file name for an architecture.
fn package_name(arch: &str) -> String {
    format!("zipedit-{arch}.zip")
}

/// The folders to look in for the installed package, in order: the environment's, then the
/// one next to the running executable.
fn package_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os(PACKAGE_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push(std::path::PathBuf::from(d));
    }
    // current_exe resolves the symlink a package manager may put on PATH only on some
    // systems; canonicalize so a linked ~/bin/quickdeploy still finds PREFIX/share.
    if let Ok(exe) = std::env::current_exe() {
        let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
        if let Some(prefix) = exe.parent().and_then(std::path::Path::parent) {
            dirs.push(prefix.join(SHARE_DIR));
        }
    }
    dirs
}

/// The first `zipedit-ARCH.zip` in `dirs`, or an error naming every place looked and the fix.
fn find_package(dirs: &[std::path::PathBuf], arch: &str) -> anyhow::Result<std::path::PathBuf> {
    let name = package_name(arch);
    let looked: Vec<std::path::PathBuf> = dirs.iter().map(|d| d.join(&name)).collect();
    if let Some(found) = looked.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    let places = if looked.is_empty() {
        "nowhere (no QUICKDEPLOY_PATCHER_PACKAGE_DIR, and the executable's folder is unknown)"
            .to_owned()
    } else {
        looked
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    bail!(
        "no patcher package for {arch}: looked for {places}. Fix: run `make install` in a \
         quickdeploy checkout (installs it next to the CLI), set {PACKAGE_DIR_ENV} to the folder \
         holding {name}, or give --code ZIP or --binary FILE"
    )
}

#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    outcome: &'static str,
    stack: String,
    patcher: String,
    bucket: String,
    bucket_created: bool,
    code: String,
    code_sha256: String,
    code_uploaded: bool,
    /// The local package or binary the code came from.
    source: String,
    status: Option<String>,
}

/// Runs `bootstrap`.
pub async fn run(args: Args) -> crate::error::Outcome {
    let json = args.json();
    let read = |p: &std::path::Path| {
        std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let (zip, source) = match (&args.code, &args.binary) {
        (Some(z), _) => read(z).map(|zip| (zip, z.clone())),
        (None, Some(b)) => read(b).and_then(|bin| {
            zipedit::build_archive(vec![
                zipedit::PutFile::new("bootstrap", bin).executable(true),
            ])
            .context("cannot package the binary")
            .map(|zip| (zip, b.clone()))
        }),
        (None, None) => {
            find_package(&package_dirs(), &args.arch).and_then(|p| read(&p).map(|zip| (zip, p)))
        }
    }
    .map_err(|e| Error::new(Exit::BadInput, "BadInput", e))?;
    let clients = crate::aws::clients(&args.aws, None)
        .await
        .map_err(|e| Error::new(Exit::BadInput, "BadAwsConfig", e))?;
    let report = bootstrap(&args, &clients, zip, source.display().to_string())
        .await
        .map_err(|e| Error::new(Exit::Failed, "BootstrapFailed", e))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!("  package  {}", report.source);
        println!(
            "  bucket   {}{}",
            report.bucket,
            if report.bucket_created {
                " (created: versioned, encrypted, public access blocked)"
            } else {
                ""
            }
        );
        println!(
            "  code     {} (CodeSha256 {}){}",
            report.code,
            short_sha(&report.code_sha256),
            if report.code_uploaded {
                " uploaded"
            } else {
                " already there"
            }
        );
        match report.outcome {
            "unchanged" => println!(
                "patcher {} in stack {}: nothing to change",
                report.patcher, report.stack
            ),
            _ => println!(
                "patcher {} in stack {}: {}",
                report.patcher,
                report.stack,
                report.status.as_deref().unwrap_or("?")
            ),
        }
    }
    if report.ok {
        Ok(Exit::Success)
    } else {
        Ok(Exit::Failed)
    }
}

// Long (bucket, code upload, stack compare, change set): split with the ops layer of issue 11.
async fn bootstrap(
    args: &Args,
    clients: &crate::aws::Clients,
    zip: Vec<u8>,
    source: String,
) -> anyhow::Result<Report> {
    let s3 = &clients.s3;
    let region = clients
        .config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    let (bucket, bucket_created) = match &args.bucket {
        // A named bucket that does not exist yet is made as the default one would be.
        Some(b) => (b.clone(), ensure_bucket(s3, b, &region).await?),
        None => {
            let sts = aws_sdk_sts::Client::new(&clients.config);
            let account = sts
                .get_caller_identity()
                .send()
                .await
                .map_err(crate::aws::err)
                .context("cannot tell the account (sts:GetCallerIdentity)")?
                .account()
                .context("GetCallerIdentity named no account")?
                .to_owned();
            let name = format!("quickdeploy-artifacts-{account}-{region}");
            let created = ensure_bucket(s3, &name, &region).await?;
            (name, created)
        }
    };
    let code_sha256 = zipedit::code_sha256(&zip);
    // Content-addressed: the same code is the same key, so a second run uploads nothing.
    let key = format!(
        "quickdeploy/patcher/zipedit-{}.zip",
        &sha256_hex(&zip)[..16]
    );
    let (version, code_uploaded) = match s3.head_object().bucket(&bucket).key(&key).send().await {
        Ok(h) => (
            h.version_id().map(str::to_owned).filter(|v| v != "null"),
            false,
        ),
        Err(_) => {
            let put = s3
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(ByteStream::from(zip))
                .send()
                .await
                .map_err(crate::aws::err)
                .with_context(|| format!("cannot upload the patcher to s3://{bucket}/{key}"))?;
            (
                put.version_id().map(str::to_owned).filter(|v| v != "null"),
                true,
            )
        }
    };
    let params = vec![
        ("ArtifactBucketNames".to_owned(), bucket.clone()),
        ("CodeBucket".to_owned(), bucket.clone()),
        ("CodeKey".to_owned(), key.clone()),
        ("CodeObjectVersion".to_owned(), version.unwrap_or_default()),
        ("Architecture".to_owned(), args.arch.clone()),
        ("FunctionName".to_owned(), args.function_name.clone()),
    ];
    let deployed = crate::stack::describe(&clients.cfn, &args.stack).await?;
    // Same template, same parameters: nothing to change, and no change set to make for it.
    let same = deployed.as_ref().is_some_and(|d| {
        crate::template::Template::parse(TEMPLATE).is_ok_and(|t| t == d.template)
            && params
                .iter()
                .all(|(k, v)| same_value(d.parameters.get(k).map(String::as_str).unwrap_or(""), v))
            && !d.status.contains("ROLLBACK")
    });
    let created = if same {
        None
    } else {
        changeset::create(
            &clients.cfn,
            &args.stack,
            TEMPLATE,
            &params,
            false,
            deployed.is_some(),
        )
        .await?
    };
    let mut report = Report {
        ok: true,
        outcome: "unchanged",
        stack: args.stack.clone(),
        patcher: args.function_name.clone(),
        bucket,
        bucket_created,
        code: format!("s3://{}/{key}", args.bucket.as_deref().unwrap_or("")),
        code_sha256,
        code_uploaded,
        source,
        status: None,
    };
    report.code = format!("s3://{}/{key}", report.bucket);
    let Some(created) = created else {
        return Ok(report);
    };
    let json = args.json();
    let on_event = |line: &str| {
        if !json {
            eprintln!("{line}");
        }
    };
    let done = changeset::execute(&clients.cfn, &args.stack, &created, &on_event).await?;
    report.status = Some(done.status.clone());
    if done.rolled_back || !done.failed.is_empty() {
        bail!(
            "the patcher stack {} ended {}: {}",
            args.stack,
            done.status,
            done.failed.join("; ")
        );
    }
    report.outcome = if created.create { "created" } else { "updated" };
    Ok(report)
}

/// The bucket's lifecycle rule: aborts multipart uploads a crashed patcher or CLI left (parts
/// are billed until then), and expires old artifact versions while keeping the newest ones,
/// which are what a rollback points functions back at.
pub const LIFECYCLE_RULE: &str = "quickdeploy-housekeeping";
/// Days after which an unfinished multipart upload is aborted.
pub const ABORT_UPLOADS_AFTER_DAYS: i32 = 1;
/// Noncurrent versions kept whatever their age, and how long older ones are kept.
pub const KEEP_VERSIONS: i32 = 20;
/// See [`KEEP_VERSIONS`].
pub const KEEP_VERSIONS_DAYS: i32 = 30;

fn lifecycle() -> anyhow::Result<BucketLifecycleConfiguration> {
    let rule = LifecycleRule::builder()
        .id(LIFECYCLE_RULE)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(ABORT_UPLOADS_AFTER_DAYS)
                .build(),
        )
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(KEEP_VERSIONS_DAYS)
                .newer_noncurrent_versions(KEEP_VERSIONS)
                .build(),
        )
        .build()
        .map_err(|e| anyhow!(e))?;
    BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| anyhow!(e))
}

/// Makes the bucket if it is missing: versioned, encrypted, public access blocked, with the
/// housekeeping lifecycle rule. True when it was made.
async fn ensure_bucket(s3: &aws_sdk_s3::Client, name: &str, region: &str) -> anyhow::Result<bool> {
    if s3.head_bucket().bucket(name).send().await.is_ok() {
        return Ok(false);
    }
    let mut create = s3.create_bucket().bucket(name);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(region.into())
                .build(),
        );
    }
    let fail = |what: &'static str| move |e: String| anyhow!("cannot {what} bucket {name}: {e}");
    create
        .send()
        .await
        .map_err(|e| fail("create")(crate::aws::describe(&e)))?;
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .map_err(|e| fail("version")(crate::aws::describe(&e)))?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(|e| anyhow!(e))?,
        )
        .build();
    s3.put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|e| anyhow!(e))?,
        )
        .send()
        .await
        .map_err(|e| fail("encrypt")(crate::aws::describe(&e)))?;
    s3.put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| fail("block public access to")(crate::aws::describe(&e)))?;
    s3.put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(lifecycle()?)
        .send()
        .await
        .map_err(|e| fail("set the lifecycle rule of")(crate::aws::describe(&e)))?;
    Ok(true)
}

/// Parameter values compared item by item, so a list parameter echoed back in another
/// spelling (moto answers `['a', 'b']` for `a,b`) still compares equal.
fn same_value(deployed: &str, ours: &str) -> bool {
    let items = |s: &str| -> Vec<String> {
        s.trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|i| i.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
            .collect()
    };
    deployed == ours || items(deployed) == items(ours)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_package_is_the_first_found_and_a_miss_names_every_place_and_the_fix() {
        let a = tempfile::tempdir().expect("tmp");
        let b = tempfile::tempdir().expect("tmp");
        let dirs = [a.path().to_path_buf(), b.path().to_path_buf()];
        let err = super::find_package(&dirs, "arm64").expect_err("nothing installed");
        let text = format!("{err:#}");
        for d in &dirs {
            assert!(
                text.contains(&d.join("zipedit-arm64.zip").display().to_string()),
                "{text}"
            );
        }
        assert!(
            text.contains("make install") && text.contains("--code"),
            "{text}"
        );
        std::fs::write(b.path().join("zipedit-arm64.zip"), b"b").expect("write");
        assert_eq!(
            super::find_package(&dirs, "arm64").expect("found"),
            dirs[1].join("zipedit-arm64.zip")
        );
        std::fs::write(a.path().join("zipedit-arm64.zip"), b"a").expect("write");
        assert_eq!(
            super::find_package(&dirs, "arm64").expect("found"),
            dirs[0].join("zipedit-arm64.zip")
        );
        // Another architecture's package is not taken.
        assert!(super::find_package(&dirs, "x86_64").is_err());
    }

    #[test]
    fn list_parameters_compare_by_items() {
        assert!(super::same_value("['a', 'b']", "a,b"));
        assert!(super::same_value("a", "a"));
        assert!(!super::same_value("['a']", "a,b"));
    }
}
