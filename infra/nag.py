"""cdk-nag acknowledgments (cdk-nag 3 uses CDK's own Validations): each with the reason it is acceptable."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, DefaultStackSynthesizer, Stack, Token, Validations
from constructs import IConstruct

PARTITION = "<AWS::Partition>"  # how cdk-nag spells the partition in a finding's id


def acknowledge(scope: IConstruct, reasons: Mapping[str, str]) -> None:
    """Acknowledge AwsSolutions findings on `scope` and its children. Keys are rule ids without the pack prefix,
    with the finding where a rule has several (`IAM5[Resource::*]`); CDK's own warnings as `Annotation::<id>`."""
    Validations.of(scope).acknowledge(
        *(
            Acknowledgment(id=rule if rule.startswith("Annotation::") else f"AwsSolutions-{rule}", reason=reason)
            for rule, reason in reasons.items()
        )
    )


def managed_policy(name: str) -> str:
    """The IAM4 finding id of an AWS managed policy."""
    return f"IAM4[Policy::arn:{PARTITION}:iam::aws:policy/{name}]"


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag names `Fn::GetAtt [<logical id>, Arn]` of an L2 construct's CloudFormation resource in a finding."""
    cfn = construct.node.default_child
    stack = Stack.of(construct)
    return f"<{stack.resolve(stack.get_logical_id(cfn))}.Arn>"


def bootstrap_assets_objects(stack: Stack) -> str:
    """How cdk-nag names the objects of the CDK bootstrap assets bucket (what an asset's grant_read allows): account,
    region and partition appear literally when the stack's environment is known, as placeholders when it is not."""

    def literal_or(value: str, placeholder: str) -> str:
        resolved = stack.resolve(value)
        return resolved if isinstance(resolved, str) and not Token.is_unresolved(value) else placeholder

    account = literal_or(stack.account, "<AWS::AccountId>")
    region = literal_or(stack.region, "<AWS::Region>")
    partition = literal_or(stack.partition, PARTITION)
    qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
    return f"arn:{partition}:s3:::cdk-{qualifier}-assets-{account}-{region}/*"
