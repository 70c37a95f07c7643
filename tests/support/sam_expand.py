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
    json.dump(for_moto(out), sys.stdout)


def for_moto(doc):
    """What moto's CloudFormation cannot create, left out (moto gaps, not AWS behaviour): API
    Gateway resources (moto reads no OpenAPI Body, so SAM's implicit API has no methods and
    its Deployment fails), event source mappings and permissions whose FunctionName is an
    alias (AutoPublishAlias: moto makes no aliases), and whatever refers to them. None is
    anything quickdeploy reads."""
    resources = doc.get("Resources", {})
    aliases = {k for k, r in resources.items() if r.get("Type") == "AWS::Lambda::Alias"}
    on_alias = ("AWS::Lambda::EventSourceMapping", "AWS::Lambda::Permission")
    dropped = set()
    for logical_id, r in resources.items():
        function = r.get("Properties", {}).get("FunctionName")
        if r.get("Type", "").startswith("AWS::ApiGateway::") or (
            r.get("Type") in on_alias
            and isinstance(function, dict)
            and function.get("Ref") in aliases
        ):
            dropped.add(logical_id)
    while True:
        more = {k for k, r in resources.items() if k not in dropped and refers(r, dropped)}
        if not more:
            break
        dropped |= more
    for logical_id in dropped:
        del resources[logical_id]
    outputs = doc.get("Outputs", {})
    for name in [n for n, o in outputs.items() if refers(o, dropped)]:
        del outputs[name]
    return doc


def refers(value, ids):
    """True when value names one of ids: Ref, Fn::GetAtt, DependsOn or a ${} in Fn::Sub."""
    text = json.dumps(value)
    return any(
        f'"Ref": "{i}"' in text
        or f'"Fn::GetAtt": ["{i}"' in text
        or f'"{i}"' in text and '"DependsOn"' in text
        or "${" + i + "}" in text
        or "${" + i + "." in text
        for i in ids
    )


main()
