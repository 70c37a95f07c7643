//! AWS clients, made once per command from the standard configuration chain: environment,
//! profiles (`--profile`, `AWS_PROFILE`), SSO, credential processes, instance roles. A custom
//! endpoint (`AWS_ENDPOINT_URL`, or per service `AWS_ENDPOINT_URL_S3`, ...) works as in every
//! AWS SDK; with one, S3 switches to path-style addressing, which local emulators need.

use anyhow::bail;

/// Where to reach AWS: the options every command that calls AWS takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// The named profile to use (default: AWS_PROFILE, else `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// The region (default: AWS_REGION, else the profile's).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
}

/// The clients a command needs, all from one configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    /// S3: artifacts, manifests, staging.
    pub s3: aws_sdk_s3::Client,
    /// Lambda: the functions to update.
    pub lambda: aws_sdk_lambda::Client,
    /// Lambda, for invoking the patcher (its own endpoint when `--patcher-endpoint` is set).
    pub patcher: aws_sdk_lambda::Client,
    /// CloudFormation: the stack.
    pub cfn: aws_sdk_cloudformation::Client,
    /// The configuration they were made from (region, credentials), for other clients.
    pub config: aws_config::SdkConfig,
}

fn custom_s3_endpoint() -> bool {
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Loads the configuration and makes the clients. `patcher_endpoint` overrides the endpoint
/// used to invoke the patcher only (a local Invoke API next to an emulator).
pub async fn clients(args: &AwsArgs, patcher_endpoint: Option<&str>) -> anyhow::Result<Clients> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &args.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        bail!("no AWS region: pass --region, set AWS_REGION, or give the profile a region");
    }
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(custom_s3_endpoint())
            .build(),
    );
    let lambda = aws_sdk_lambda::Client::new(&config);
    let patcher = match patcher_endpoint {
        Some(url) => {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("--patcher-endpoint {url:?} is not a URL like http://127.0.0.1:9001");
            }
            aws_sdk_lambda::Client::from_conf(
                aws_sdk_lambda::config::Builder::from(&config)
                    .endpoint_url(url)
                    .build(),
            )
        }
        None => lambda.clone(),
    };
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    Ok(Clients {
        s3,
        lambda,
        patcher,
        cfn,
        config,
    })
}

/// The error code and message of an SDK error, for messages people read.
pub fn describe<E>(e: &aws_sdk_s3::error::SdkError<E>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}
