// The second stack: one NodejsFunction from the same lambdas/ folder.
const path = require('path');
const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');
const nodejs = require('aws-cdk-lib/aws-lambda-nodejs');

const root = path.join(__dirname, '..');

class JobsStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    new nodejs.NodejsFunction(this, 'workerFunction', {
      runtime: lambda.Runtime.NODEJS_22_X,
      depsLockFilePath: path.join(root, 'package-lock.json'),
      projectRoot: root,
      entry: path.join(root, 'lambdas', 'worker.ts'),
    });
  }
}

module.exports = { JobsStack };
