// Two NodejsFunctions bundled by esbuild from one lambdas/ folder (one package-lock, a module
// both import), a Function from Code.fromAsset with a LayerVersion from an asset.
const path = require('path');
const cdk = require('aws-cdk-lib');
const lambda = require('aws-cdk-lib/aws-lambda');
const nodejs = require('aws-cdk-lib/aws-lambda-nodejs');

const root = path.join(__dirname, '..');

class ApiStack extends cdk.Stack {
  constructor(scope, id, props) {
    super(scope, id, props);
    const common = {
      runtime: lambda.Runtime.NODEJS_22_X,
      depsLockFilePath: path.join(root, 'package-lock.json'),
      projectRoot: root,
      memorySize: 256,
      timeout: cdk.Duration.seconds(10),
    };
    new nodejs.NodejsFunction(this, 'getOneItemFunction', {
      ...common,
      entry: path.join(root, 'lambdas', 'get-one.ts'),
      environment: { TABLE: 'items' },
    });
    new nodejs.NodejsFunction(this, 'listItemsFunction', {
      ...common,
      entry: path.join(root, 'lambdas', 'list.ts'),
    });
    const layer = new lambda.LayerVersion(this, 'CommonLayer', {
      code: lambda.Code.fromAsset(path.join(root, 'layers', 'common')),
      compatibleRuntimes: [lambda.Runtime.PYTHON_3_12],
    });
    new lambda.Function(this, 'helloPyFunction', {
      runtime: lambda.Runtime.PYTHON_3_12,
      handler: 'app.handler',
      code: lambda.Code.fromAsset(path.join(root, 'functions', 'hello-py'), {
        exclude: ['*.pyc', 'tests'],
      }),
      layers: [layer],
    });
  }
}

module.exports = { ApiStack };
