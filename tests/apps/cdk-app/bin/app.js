#!/usr/bin/env node
// quickdeploy's CDK test app: the shapes real CDK apps have (see lib/).
const cdk = require('aws-cdk-lib');
const { ApiStack } = require('../lib/api-stack');
const { JobsStack } = require('../lib/jobs-stack');

const app = new cdk.App();
const env = {
  account: process.env.CDK_DEFAULT_ACCOUNT || '123456789012',
  region: process.env.CDK_DEFAULT_REGION || 'us-east-1',
};
new ApiStack(app, 'QdCdkApi', { env });
new JobsStack(app, 'QdCdkJobs', { env });
