//! AWS clients, made once per command from the standard configuration chain: environment,
//! profiles (`--profile`, `AWS_PROFILE`), SSO, credential processes, instance roles. A custom
//! endpoint (`AWS_ENDPOINT_URL`, or per service `AWS_ENDPOINT_URL_S3`, ...) works as in every
//! AWS SDK; with one, S3 switches to path-style addressing, which local emulators need.
//!
//! The folder also holds the one doubling wait for polls ([`backoff`]), the clock in the
//! forms reports use ([`clock`]) and the command's time line of calls ([`trace`]). It uses no
//! other folder of the crate.

pub mod backoff;
pub mod clock;
pub mod target;
pub mod trace;

use anyhow::bail;
use aws_credential_types::provider::ProvideCredentials as _;

/// What is wrong with the AWS configuration before any call is made (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum AwsConfigError {
    /// The named profile is in neither file.
    #[error(
        "AWS profile {name:?} not found in ~/.aws/config or ~/.aws/credentials (or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE){known}: check --profile or AWS_PROFILE"
    )]
    ProfileNotFound {
        /// The profile asked for.
        name: String,
        /// `; profiles there: a, b`, or nothing.
        known: String,
    },
    /// The credential chain found nothing.
    #[error(
        "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a profile with --profile or AWS_PROFILE, or run `aws sso login` for an SSO profile ({0})"
    )]
    NoCredentials(String),
    /// No region anywhere.
    #[error("no AWS region: pass --region, set AWS_REGION, or give the profile a region")]
    NoRegion,
    /// A target of quickdeploy.toml cannot be reached ([`target`]): its profile is missing,
    /// or its role cannot be assumed.
    #[error("target {target}: {message}")]
    Target {
        /// The target's name.
        target: String,
        /// What is wrong and the fix.
        message: String,
    },
}

/// The profile asked for (`--profile`, else `AWS_PROFILE`) must exist: the SDK would quietly
/// use none, and the user would read about regions and instance metadata instead.
async fn check_profile(args: &AwsArgs) -> Result<(), AwsConfigError> {
    let Some(name) = args
        .profile
        .clone()
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .filter(|p| !p.is_empty())
    else {
        return Ok(());
    };
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    let set = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &files,
        None,
    )
    .await;
    let known: Vec<String> = match &set {
        Ok(set) if set.get_profile(&name).is_some() => return Ok(()),
        Ok(set) => set.profiles().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    };
    Err(AwsConfigError::ProfileNotFound {
        name,
        known: if known.is_empty() {
            String::new()
        } else {
            format!("; profiles there: {}", known.join(", "))
        },
    })
}

/// Resolves credentials once, so that a machine with none hears it in one line, not as a
/// list of providers under the first call's error. Skipped when the environment has keys.
async fn check_credentials(config: &aws_config::SdkConfig) -> Result<(), AwsConfigError> {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some_and(|v| !v.is_empty()) {
        return Ok(());
    }
    let Some(provider) = config.credentials_provider() else {
        return Err(AwsConfigError::NoCredentials(
            "no provider configured".into(),
        ));
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(30),
        provider.provide_credentials(),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => {
            let first = e.to_string();
            Err(AwsConfigError::NoCredentials(
                first.lines().next().unwrap_or_default().to_owned(),
            ))
        }
        Err(_) => Err(AwsConfigError::NoCredentials(
            "the credential chain did not answer within 30 s".into(),
        )),
    }
}

/// Where to reach AWS: the options every command that calls AWS takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// The named profile to use (default: AWS_PROFILE, else `default`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// The region (default: AWS_REGION, else the profile's).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Give up connecting to an endpoint after this many seconds.
    #[arg(
        long,
        global = true,
        env = "QUICKDEPLOY_CONNECT_TIMEOUT",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    pub connect_timeout: u64,
    /// Give up on an attempt of an AWS call that gets no answer for this many seconds (it is
    /// retried once within --call-timeout).
    #[arg(
        long,
        global = true,
        env = "QUICKDEPLOY_READ_TIMEOUT",
        default_value_t = 20,
        value_name = "SECONDS"
    )]
    pub read_timeout: u64,
    /// Give up on an AWS call after this many seconds, all its attempts together (uploads get
    /// more, by their size: a second per 256 KiB).
    #[arg(
        long,
        global = true,
        env = "QUICKDEPLOY_CALL_TIMEOUT",
        default_value_t = 45,
        value_name = "SECONDS"
    )]
    pub call_timeout: u64,
    /// Give up on the patcher's answer after this many seconds: its Lambda Timeout (120 s in
    /// the bootstrap stack) plus a margin. Raise both together.
    #[arg(
        long,
        global = true,
        env = "QUICKDEPLOY_PATCHER_TIMEOUT",
        default_value_t = 150,
        value_name = "SECONDS"
    )]
    pub patcher_timeout: u64,
    /// Print every AWS call on stderr: service, operation, HTTP status, attempt and time.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

impl AwsArgs {
    /// The deadlines these arguments set.
    pub fn deadlines(&self) -> Deadlines {
        Deadlines {
            connect: std::time::Duration::from_secs(self.connect_timeout.max(1)),
            read: std::time::Duration::from_secs(self.read_timeout.max(1)),
            call: std::time::Duration::from_secs(self.call_timeout.max(1)),
        }
    }
}

/// How long a call may take: to connect, for an attempt's answer, and for all its attempts
/// together (the SDK's operation timeout). A stalled endpoint then fails a call within
/// `call`, naming the endpoint, rather than after every retry's full read timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// To connect.
    pub connect: std::time::Duration,
    /// For an attempt's answer.
    pub read: std::time::Duration,
    /// For the whole call, its retries included.
    pub call: std::time::Duration,
}

/// Uploads are given this many bytes per second beyond the call's deadline (2 Mbit/s: a
/// slow uplink still finishes, a stalled one still fails).
pub const UPLOAD_BYTES_PER_SECOND: u64 = 256 * 1024;

impl Deadlines {
    /// The SDK's timeouts for a control-plane call.
    pub fn timeouts(&self) -> aws_config::timeout::TimeoutConfig {
        self.with_call(self.call)
    }

    /// The timeouts for a call that sends `bytes`: the deadline grows with its size; its
    /// read timeout too, since S3 answers only once the body is in.
    pub fn upload(&self, bytes: u64) -> aws_config::timeout::TimeoutConfig {
        let extra = std::time::Duration::from_secs(bytes / UPLOAD_BYTES_PER_SECOND);
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read + extra)
            .operation_timeout(self.call + extra)
            .build()
    }

    /// The timeouts of a call whose every attempt may wait `wait` for its answer (the
    /// patcher), with one retry.
    fn patient(&self, wait: std::time::Duration) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(wait)
            .operation_timeout(wait + self.call)
            .build()
    }

    fn with_call(&self, call: std::time::Duration) -> aws_config::timeout::TimeoutConfig {
        aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .read_timeout(self.read)
            .operation_timeout(call)
            .build()
    }
}

/// Retries, configured once for every client: the SDK's standard mode (exponential backoff
/// with jitter on throttles, 5xx and timeouts) with 5 attempts rather than 3, since Lambda's
/// control plane throttles a burst of UpdateFunctionCode calls; callers do not retry
/// throttles themselves.
fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(std::time::Duration::from_millis(200))
}

/// The configuration override for an S3 call of `s3` that sends `bytes`: its deadline and
/// read timeout grow by a second per [`UPLOAD_BYTES_PER_SECOND`] beyond the client's own
/// ([`Deadlines::upload`]), so a large upload on a slow link is not cut while bytes flow.
pub fn upload_override(s3: &aws_sdk_s3::Client, bytes: u64) -> aws_sdk_s3::config::Builder {
    let conf = s3.config();
    let tc = conf.timeout_config();
    let secs = std::time::Duration::from_secs;
    let d = Deadlines {
        connect: tc.and_then(|t| t.connect_timeout()).unwrap_or(secs(10)),
        read: tc.and_then(|t| t.read_timeout()).unwrap_or(secs(20)),
        call: tc.and_then(|t| t.operation_timeout()).unwrap_or(secs(45)),
    };
    aws_sdk_s3::config::Builder::default().timeout_config(d.upload(bytes))
}

/// Where calls go, for error messages: `AWS_ENDPOINT_URL` when set, else AWS itself.
pub fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => format!("{url} (AWS_ENDPOINT_URL)"),
        _ => "AWS's regional endpoint".to_owned(),
    }
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
    /// Who these credentials are (STS GetCallerIdentity's ARN, or why not), asked once per
    /// set of clients: each target of a command may be another account.
    pub identity: std::sync::Arc<tokio::sync::OnceCell<Result<String, String>>>,
    /// Every call's attempts, timed, and the ops' phases ([`trace`]).
    pub trace: trace::Trace,
    /// The deadlines the clients were made with (uploads ask for theirs by size).
    pub deadlines: Deadlines,
}

fn custom_s3_endpoint() -> bool {
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Loads the configuration and makes the clients. `patcher_endpoint` overrides the endpoint
/// used to invoke the patcher only (a local Invoke API next to an emulator).
pub async fn clients(args: &AwsArgs, patcher_endpoint: Option<&str>) -> anyhow::Result<Clients> {
    check_profile(args).await?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(p) = &args.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &args.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    let config = loader
        .timeout_config(args.deadlines().timeouts())
        .retry_config(retry_config())
        .load()
        .await;
    if config.region().is_none() {
        return Err(AwsConfigError::NoRegion.into());
    }
    check_credentials(&config).await?;
    from_config(args, config, patcher_endpoint)
}

/// The clients of a loaded configuration ([`clients`], and each target's in [`target`]).
fn from_config(
    args: &AwsArgs,
    config: aws_config::SdkConfig,
    patcher_endpoint: Option<&str>,
) -> anyhow::Result<Clients> {
    let deadlines = args.deadlines();
    let trace = trace::Trace::default();
    let mut s3 = aws_sdk_s3::config::Builder::from(&config).force_path_style(custom_s3_endpoint());
    let mut lambda = aws_sdk_lambda::config::Builder::from(&config);
    let mut patcher = aws_sdk_lambda::config::Builder::from(&config).timeout_config(
        deadlines.patient(std::time::Duration::from_secs(args.patcher_timeout.max(1))),
    );
    let mut cfn = aws_sdk_cloudformation::config::Builder::from(&config);
    // Every client times its calls onto the one trace (and prints them with -v).
    let recorder = || {
        aws_smithy_runtime_api::client::interceptors::SharedInterceptor::new(trace::Recorder {
            trace: trace.clone(),
            verbose: args.verbose,
        })
    };
    s3.push_interceptor(recorder());
    lambda.push_interceptor(recorder());
    patcher.push_interceptor(recorder());
    cfn.push_interceptor(recorder());
    let s3 = aws_sdk_s3::Client::from_conf(s3.build());
    let lambda = aws_sdk_lambda::Client::from_conf(lambda.build());
    if let Some(url) = patcher_endpoint {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--patcher-endpoint {url:?} is not a URL like http://127.0.0.1:9001");
        }
        patcher = patcher.endpoint_url(url);
    }
    let patcher = aws_sdk_lambda::Client::from_conf(patcher.build());
    let cfn = aws_sdk_cloudformation::Client::from_conf(cfn.build());
    Ok(Clients {
        s3,
        lambda,
        patcher,
        cfn,
        config,
        identity: std::sync::Arc::default(),
        trace,
        deadlines,
    })
}

/// A failed AWS call: its message says what went wrong for people (see [`describe`]); the
/// service's error code and the SDK error itself stay inspectable, so a caller can still tell
/// a missing object or a throttle from anything else.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    message: String,
    code: Option<String>,
    // Not `#[source]`: the message already says what the SDK error says, and anyhow's `{:#}`
    // would repeat it.
    sdk: Box<dyn std::error::Error + Send + Sync>,
}

impl AwsError {
    /// The service's error code (`NoSuchKey`, `ResourceConflictException`), when it answered.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The SDK error, for a caller that needs more than the code.
    pub fn sdk_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.sdk.as_ref()
    }

    /// True when the service said it was throttling the caller.
    pub fn is_throttle(&self) -> bool {
        matches!(
            self.code(),
            Some(
                "TooManyRequestsException"
                    | "ThrottlingException"
                    | "Throttling"
                    | "SlowDown"
                    | "RequestLimitExceeded"
            )
        )
    }
}

impl<E, R> From<aws_smithy_runtime_api::client::result::SdkError<E, R>> for AwsError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn from(e: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Self {
        use aws_sdk_s3::error::ProvideErrorMetadata as _;
        Self {
            message: describe(&e),
            code: e.code().map(str::to_owned),
            sdk: Box::new(e),
        }
    }
}

/// A failed call as an `anyhow::Error` that keeps the [`AwsError`]: `.map_err(aws::err)`.
pub fn err<E, R>(e: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    AwsError::from(e).into()
}

/// The error code and message of an SDK error, for messages people read. An error that never
/// reached a service (timeout, refused connection, DNS) names the endpoint and what to check.
pub fn describe<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    use aws_sdk_s3::error::SdkError;
    let unreached = match e {
        SdkError::TimeoutError(_) => Some("no answer in time (--read-timeout, --connect-timeout)"),
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            Some("no answer in time (--read-timeout, --connect-timeout)")
        }
        SdkError::DispatchFailure(d) if d.is_io() => Some("cannot connect"),
        SdkError::DispatchFailure(_) => Some("the request was not sent"),
        _ => None,
    };
    if let Some(what) = unreached {
        return format!(
            "{what}: {}; endpoint {}: check that it is reachable and the network is up",
            zipedit::records::error_chain(e),
            endpoint()
        );
    }
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => zipedit::records::error_chain(e),
    }
}
