"""IAM: the managed policy that is the handler role's permissions boundary.

A managed policy keeps at most five versions: an update creates a new default version, first deleting
the oldest version that is not the default when five exist. Every write here is administrative
(``deploy.administrator``)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.access import Access, Scopes, allow, never, only_administrator
from mailflow_cli.deploy.administrator import as_administrator
from mailflow_cli.deploy.handlers.base import (
    ResourceHandler,
    both,
    missing,
    paginate,
    tag_delta,
    tag_dict,
    tag_list,
)
from mailflow_cli.deploy.model import Action, Observed
from mailflow_cli.deploy.policy import normalise_policy, policy_json
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.boundary import BoundarySpec
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.naming import TAG_COMPONENT, TAG_ENVIRONMENT, TAG_MANAGED_BY

MAX_POLICY_VERSIONS = 5
_OWNERSHIP_TAGS = (TAG_MANAGED_BY, TAG_ENVIRONMENT, TAG_COMPONENT)


class BoundaryHandler(ResourceHandler[BoundarySpec]):
    resource_type = BoundarySpec

    @classmethod
    def permissions(cls, scopes: Scopes) -> Access:
        """Writing the boundary is an administrator's, and the deployer is denied it: a deployer that
        could rewrite its own boundary could escalate. It may read and tag it."""
        boundary = scopes.boundary
        writes = (
            "iam:CreatePolicy",
            "iam:CreatePolicyVersion",
            "iam:DeletePolicyVersion",
            "iam:DeletePolicy",
        )
        return Access(
            read=(allow(boundary, "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyTags"),),
            write=(
                allow(boundary, "iam:ListPolicyVersions", "iam:TagPolicy", "iam:UntagPolicy"),
                only_administrator(boundary, *writes),
                never("NeverWriteTheBoundary", boundary, *writes, "iam:SetDefaultPolicyVersion"),
            ),
        )

    def discover(self, resource: BoundarySpec) -> Observed | None:
        iam = self.client("iam")
        try:
            policy = iam.get_policy(PolicyArn=resource.arn)["Policy"]
        except ClientError as exc:
            if missing(exc, "NoSuchEntity"):
                return None
            raise

        def document() -> dict[str, Any] | None:
            version = iam.get_policy_version(PolicyArn=resource.arn, VersionId=policy["DefaultVersionId"])
            return normalise_policy(version["PolicyVersion"]["Document"])

        def tags() -> dict[str, str]:
            return tag_dict(paginate(iam, "list_policy_tags", "Tags", PolicyArn=resource.arn))

        current, tagged = both(document, tags)
        if not self.owns(tagged):
            return Observed({"tags": comparable_tags(tagged)}, owned=False)
        return Observed({"document": current, "tags": comparable_tags(tagged)})

    def administrative(self, action: Action, changed: frozenset[str]) -> bool:
        return action is not Action.UPDATE or "document" in changed

    def _commands(self, resource: BoundarySpec, *, exists: bool) -> list[list[str]]:
        document = f'"$(mailflow app-policy --boundary --json -c {self.services.config_path})"'
        if exists:
            return [
                [
                    "aws",
                    "iam",
                    "create-policy-version",
                    "--policy-arn",
                    resource.arn,
                    "--set-as-default",
                    "--policy-document",
                    document,
                ]
            ]
        tags = [f"Key={key},Value={resource.tags[key]}" for key in _OWNERSHIP_TAGS]
        return [
            [
                "aws",
                "iam",
                "create-policy",
                "--policy-name",
                resource.name,
                "--path",
                resource.path,
                "--tags",
                *tags,
                "--policy-document",
                document,
            ]
        ]

    def create(self, resource: BoundarySpec, step: StepReporter) -> None:
        iam = self.client("iam")
        as_administrator(
            lambda: iam.create_policy(
                PolicyName=resource.name,
                Path=resource.path,
                PolicyDocument=policy_json(dict(resource.document)),
                Description="Mailflow: the most the handler role may ever do (managed by the mailflow CLI)",
                Tags=tag_list(resource.tags),
            ),
            what=f"the permissions boundary {resource.arn}",
            why="does not exist yet (the handler role is created with it)",
            commands=self._commands(resource, exists=False),
        )

    def update(
        self, resource: BoundarySpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        iam = self.client("iam")
        if "document" in changed:
            as_administrator(
                lambda: self._new_default_version(resource),
                what=f"the permissions boundary {resource.arn}",
                why="is outdated (the configured domains or attachment sources changed, or it was edited)",
                commands=self._commands(resource, exists=True),
            )
        if "tags" in changed:
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                iam.tag_policy(PolicyArn=resource.arn, Tags=tag_list(to_set))
            if to_remove:
                iam.untag_policy(PolicyArn=resource.arn, TagKeys=to_remove)

    def _new_default_version(self, resource: BoundarySpec) -> None:
        iam = self.client("iam")
        versions = iam.list_policy_versions(PolicyArn=resource.arn)["Versions"]
        if len(versions) >= MAX_POLICY_VERSIONS:
            oldest = min(
                (version for version in versions if not version["IsDefaultVersion"]),
                key=lambda version: version["CreateDate"],
            )
            iam.delete_policy_version(PolicyArn=resource.arn, VersionId=oldest["VersionId"])
        iam.create_policy_version(
            PolicyArn=resource.arn, PolicyDocument=policy_json(dict(resource.document)), SetAsDefault=True
        )

    def delete(self, resource: BoundarySpec, observed: Observed, step: StepReporter) -> None:
        iam = self.client("iam")

        def delete_all_versions() -> None:
            for version in iam.list_policy_versions(PolicyArn=resource.arn)["Versions"]:
                if not version["IsDefaultVersion"]:
                    iam.delete_policy_version(PolicyArn=resource.arn, VersionId=version["VersionId"])
            iam.delete_policy(PolicyArn=resource.arn)

        as_administrator(
            delete_all_versions,
            what=f"the permissions boundary {resource.arn}",
            why="is left after everything else of the stack was deleted (an administrator deletes its "
            "versions that are not the default first: aws iam list-policy-versions, delete-policy-version)",
            commands=[["aws", "iam", "delete-policy", "--policy-arn", resource.arn]],
        )
