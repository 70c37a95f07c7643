//! One app, several targets on the rig (issue 26): moto serves every region from one server
//! (it reads the region from each request's signature) and several accounts (it maps the
//! credentials of an assumed role, `arn:aws:iam::ACCOUNT:role/NAME`, to that account). Each
//! target has its own stack, its own versioned bucket made in its account and region, and its
//! own patcher (the real zipedit binary with that account's credentials and region) behind
//! one Invoke API that routes by function name.

use std::collections::HashMap;
use std::path::Path;

use crate::app::App;
use crate::rig::{Credentials, Moto, Patcher, RunAs, assume_role, sdk_config_as};

/// The account a target without a role is in: moto's default, the rig's credentials'.
pub const HOME_ACCOUNT: &str = "123456789012";

/// One target of the app: `[targets.NAME]`.
#[derive(Debug, Clone)]
pub struct Site {
    /// Its name.
    pub name: String,
    /// Its region.
    pub region: String,
    /// The role it assumes (another account), if any.
    pub role_arn: Option<String>,
    /// Its profile, if any (written into the app's AWS config file).
    pub profile: Option<String>,
    /// `confirm = true`.
    pub confirm: bool,
}

impl Site {
    /// A target in the home account.
    pub fn home(name: &str, region: &str) -> Self {
        Self {
            name: name.into(),
            region: region.into(),
            role_arn: None,
            profile: None,
            confirm: false,
        }
    }

    /// A target in `account`, reached by assuming a role there.
    pub fn other(name: &str, region: &str, account: &str) -> Self {
        Self {
            role_arn: Some(format!("arn:aws:iam::{account}:role/deployer")),
            ..Self::home(name, region)
        }
    }

    /// Its stack.
    pub fn stack(&self) -> String {
        format!("qd-{}", self.name)
    }

    /// Its bucket.
    pub fn bucket(&self) -> String {
        format!("qd-{}-artifacts", self.name)
    }

    /// Its patcher's function name.
    pub fn patcher(&self) -> String {
        format!("zipedit-{}", self.name)
    }

    /// Its `[targets.NAME]` table.
    pub fn table(&self) -> String {
        let mut t = format!(
            "\n[targets.{}]\nregion = \"{}\"\nstack = \"{}\"\nbucket = \"{}\"\npatcher = \"{}\"\n",
            self.name,
            self.region,
            self.stack(),
            self.bucket(),
            self.patcher()
        );
        if let Some(r) = &self.role_arn {
            t.push_str(&format!("role_arn = \"{r}\"\n"));
        }
        if let Some(p) = &self.profile {
            t.push_str(&format!("profile = \"{p}\"\n"));
        }
        if self.confirm {
            t.push_str("confirm = true\n");
        }
        t
    }
}

/// A target's clients straight at moto, in its account and region, for checking.
pub struct SiteClients {
    /// S3.
    pub s3: aws_sdk_s3::Client,
    /// Lambda.
    pub lambda: aws_sdk_lambda::Client,
    /// CloudFormation.
    pub cfn: aws_sdk_cloudformation::Client,
}

/// moto, the fault proxy the CLI talks to, one patcher per target, and the app with its
/// `[targets.NAME]` tables.
pub struct TargetsRig {
    /// moto.
    pub moto: Moto,
    /// Between the CLI and moto.
    pub proxy: crate::proxy::S3Proxy,
    /// Every target's patcher, behind one Invoke API.
    pub patcher: Patcher,
    /// The app.
    pub app: App,
    /// Its targets.
    pub sites: Vec<Site>,
    /// Each target's clients, by name.
    pub clients: HashMap<String, SiteClients>,
}

impl TargetsRig {
    /// Copies the app in `source` (its quickdeploy.toml's `artifact_bucket` must be
    /// `home_bucket`, made here in the home account), adds a `[targets.NAME]` table per site,
    /// and makes each site's bucket and patcher.
    pub async fn start(source: &Path, home_bucket: &str, sites: Vec<Site>) -> Self {
        let moto = Moto::start();
        let proxy = crate::proxy::S3Proxy::start(&moto.endpoint()).await;
        let mut run_as = Vec::new();
        let mut clients = HashMap::new();
        for site in &sites {
            let credentials = match &site.role_arn {
                Some(role) => assume_role(moto.port, role),
                None => Credentials::rig(),
            };
            let conf = sdk_config_as(&moto.endpoint(), &site.region, &credentials).await;
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&conf)
                    .force_path_style(true)
                    .build(),
            );
            make_regional_bucket(&s3, &site.bucket(), &site.region).await;
            clients.insert(
                site.name.clone(),
                SiteClients {
                    s3,
                    lambda: aws_sdk_lambda::Client::new(&conf),
                    cfn: aws_sdk_cloudformation::Client::new(&conf),
                },
            );
            run_as.push(RunAs {
                name: site.patcher(),
                region: site.region.clone(),
                credentials,
            });
        }
        let patcher = Patcher::start_many_via(
            &crate::bin("zipedit"),
            &moto.endpoint(),
            Some(&proxy.endpoint),
            1,
            &run_as,
        )
        .await;
        let app = App::from_dir(
            source,
            home_bucket,
            &moto.endpoint(),
            &proxy.endpoint,
            &patcher.invoke_endpoint,
        )
        .await;
        let toml = app.root().join("quickdeploy.toml");
        let mut text = std::fs::read_to_string(&toml).expect("quickdeploy.toml");
        for site in &sites {
            text.push_str(&site.table());
        }
        std::fs::write(&toml, text).expect("write quickdeploy.toml");
        // The profiles the targets name, in the AWS config file the CLI reads on the rig.
        let profiles: String = sites
            .iter()
            .filter_map(|s| s.profile.as_ref().map(|p| (p, &s.region)))
            .map(|(p, r)| format!("[profile {p}]\nregion = {r}\n"))
            .collect();
        std::fs::write(app.root().join(".no-aws-config"), profiles).expect("aws config");
        Self {
            moto,
            proxy,
            patcher,
            app,
            sites,
            clients,
        }
    }

    /// A target's clients.
    pub fn at(&self, site: &str) -> &SiteClients {
        &self.clients[site]
    }

    /// The physical name of a function of a target's stack.
    pub async fn function(&self, site: &str, logical_id: &str) -> String {
        let stack = self
            .sites
            .iter()
            .find(|s| s.name == site)
            .expect("a site")
            .stack();
        let resources = self
            .at(site)
            .cfn
            .describe_stack_resources()
            .stack_name(&stack)
            .send()
            .await
            .expect("describe_stack_resources");
        resources
            .stack_resources()
            .iter()
            .find(|r| r.logical_resource_id() == Some(logical_id))
            .and_then(|r| r.physical_resource_id())
            .unwrap_or_else(|| panic!("no {logical_id} in {stack}"))
            .to_owned()
    }

    /// A function's CodeSha256 in each of these targets, in order.
    pub async fn code_shas(&self, sites: &[&str], logical_id: &str) -> Vec<String> {
        let mut out = Vec::new();
        for s in sites {
            out.push(self.code_sha(s, logical_id).await);
        }
        out
    }

    /// A function's CodeSha256 as its target's Lambda reports it.
    pub async fn code_sha(&self, site: &str, logical_id: &str) -> String {
        let name = self.function(site, logical_id).await;
        self.at(site)
            .lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .expect("get_function_configuration")
            .code_sha256()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Makes a versioned bucket in `region` (outside us-east-1, S3 wants the location said).
pub async fn make_regional_bucket(s3: &aws_sdk_s3::Client, name: &str, region: &str) {
    use aws_sdk_s3::types::{
        BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
        VersioningConfiguration,
    };
    let mut create = s3.create_bucket().bucket(name);
    if region != crate::rig::REGION {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    create.send().await.expect("create bucket");
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("versioning");
}

/// A one-function Python app (`Api` on `src/api`), stack `qd-home`, bucket `qd-home-artifacts`.
pub fn write_one_function_app(dir: &Path) {
    let template = "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal: {Service: lambda.amazonaws.com}\n            Action: sts:AssumeRole\n  Api:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      Role: !GetAtt Role.Arn\n      Code: ./src/api\n";
    std::fs::write(dir.join("template.yaml"), template).expect("template");
    std::fs::create_dir_all(dir.join("src/api")).expect("mkdir");
    set_greeting(dir, "hello");
    std::fs::write(
        dir.join("quickdeploy.toml"),
        "stack = \"qd-home\"\ntemplate = \"template.yaml\"\nartifact_bucket = \"qd-home-artifacts\"\n",
    )
    .expect("toml");
}

/// The one-line change: `src/api/app.py` returns `greeting`.
pub fn set_greeting(dir: &Path, greeting: &str) {
    std::fs::write(
        dir.join("src/api/app.py"),
        format!("def handler(e, c):\n    return {greeting:?}\n"),
    )
    .expect("write app.py");
}
