// The second stack: one NodejsFunction from the same lambdas/ folder, and a NestedStack with a
// NodejsFunction that imports the shared module (its template is an asset of this stack).
const path = require('path');
const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');
const nodejs = require('aws-cdk-lib/aws-lambda-nodejs');

const root = path.join(__dirname, '..');

const bundled = {
  runtime: lambda.Runtime.NODEJS_22_X,
  depsLockFilePath: path.join(root, 'package-lock.json'),
  projectRoot: root,
};

class ReportsStack extends cdk.NestedStack {
  constructor(scope, id, props) {
    super(scope, id, props);
    new nodejs.NodejsFunction(this, 'reportFunction', {
      ...bundled,
      entry: path.join(root, 'lambdas', 'report.ts'),
    });
  }
}

class JobsStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    new nodejs.NodejsFunction(this, 'workerFunction', {
      ...bundled,
      entry: path.join(root, 'lambdas', 'worker.ts'),
    });
    new ReportsStack(this, 'Reports');
  }
}

module.exports = { JobsStack };
