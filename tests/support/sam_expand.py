"""Expands a SAM template to plain CloudFormation, as CloudFormation's AWS::Serverless
transform does on AWS: moto has no transform, so the rig's proxy runs this on a SAM template
before moto sees it (tests/src/proxy.rs). aws-sam-translator is the transform's own code,
pinned in the Makefile (rig-deps).

stdin: the template (JSON); argv[1]: the stack's parameters as a JSON object. stdout: the
expanded template (JSON). A template SAM rejects exits 1 with SAM's message on stderr."""

import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402


class NoManagedPolicies:
    """Managed policies by name: none are looked up (the rig has no IAM policy list)."""

    def load(self):
        return {}


def main():
    template = json.load(sys.stdin)
    params = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    params.setdefault("AWS::Region", os.environ["AWS_DEFAULT_REGION"])
    params.setdefault("AWS::Partition", "aws")
    params.setdefault("AWS::AccountId", "123456789012")
    try:
        out = transform(template, params, NoManagedPolicies())
    except InvalidDocumentException as e:
        print("; ".join(str(c) for c in e.causes) or str(e), file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout)


main()
