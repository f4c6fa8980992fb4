"""IAM: the handler role, its permissions boundary, its trust policy and its single inline policy."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mailflow_cli.deploy.administrator import as_administrator
from mailflow_cli.deploy.handlers.base import (
    ResourceHandler,
    fan_out,
    missing,
    paginate,
    tag_delta,
    tag_dict,
    tag_list,
)
from mailflow_cli.deploy.model import Action, Observed
from mailflow_cli.deploy.policy import normalise_policy, policy_json
from mailflow_cli.deploy.progress import StepReporter
from mailflow_cli.deploy.resources.common import comparable_tags
from mailflow_cli.deploy.resources.role import RoleSpec
from mailflow_cli.deploy.retry import BOUNDARY_NOT_VISIBLE, ROLE_NOT_VISIBLE


class RoleHandler(ResourceHandler[RoleSpec]):
    resource_type = RoleSpec

    def discover(self, resource: RoleSpec) -> Observed | None:
        iam = self.client("iam")
        try:
            role = iam.get_role(RoleName=resource.name)["Role"]
        except ClientError as exc:
            if missing(exc, "NoSuchEntity"):
                return None
            raise
        tags = tag_dict(role.get("Tags"))  # GetRole returns the role's tags (all of them: at most 50)
        if not self.owns(tags):
            return Observed({"tags": comparable_tags(tags)}, owned=False)
        policy_names = paginate(iam, "list_role_policies", "PolicyNames", RoleName=resource.name)

        def document(name: str) -> dict[str, Any] | None:
            return normalise_policy(
                iam.get_role_policy(RoleName=resource.name, PolicyName=name)["PolicyDocument"]
            )

        policies = dict(zip(policy_names, fan_out(document, policy_names), strict=True))
        return Observed(
            {
                "trustPolicy": normalise_policy(role["AssumeRolePolicyDocument"]),
                "inlinePolicy": policies,
                "permissionsBoundary": role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn"),
                "tags": comparable_tags(tags),
            }
        )

    def administrative(self, action: Action, changed: frozenset[str]) -> bool:
        """Created with its boundary, the deployer may; a boundary missing or changed on an existing
        role needs iam:PutRolePermissionsBoundary, which the deployer is denied."""
        return action is Action.UPDATE and "permissionsBoundary" in changed

    def create(self, resource: RoleSpec, step: StepReporter) -> None:
        iam = self.client("iam")
        self.services.retry.call(
            lambda: iam.create_role(
                RoleName=resource.name,
                AssumeRolePolicyDocument=policy_json(dict(resource.trust_policy)),
                Description="Mailflow handler (managed by the mailflow CLI)",
                PermissionsBoundary=resource.boundary_arn,
                Tags=tag_list(resource.tags),
            ),
            when=BOUNDARY_NOT_VISIBLE,
            waiting=step.waiting,
        )
        self.services.retry.call(
            lambda: self._put_policy(resource), when=ROLE_NOT_VISIBLE, waiting=step.waiting
        )

    def _put_policy(self, resource: RoleSpec) -> None:
        self.client("iam").put_role_policy(
            RoleName=resource.name,
            PolicyName=resource.policy_name,
            PolicyDocument=policy_json(dict(resource.policy)),
        )

    def update(
        self, resource: RoleSpec, observed: Observed, changed: frozenset[str], step: StepReporter
    ) -> None:
        iam = self.client("iam")
        if "permissionsBoundary" in changed:  # first: the deployer may write the policy only then
            as_administrator(
                lambda: iam.put_role_permissions_boundary(
                    RoleName=resource.name, PermissionsBoundary=resource.boundary_arn
                ),
                what=f"the role {resource.name}",
                why=f"does not have its permissions boundary {resource.boundary_arn}",
                commands=[
                    [
                        "aws",
                        "iam",
                        "put-role-permissions-boundary",
                        "--role-name",
                        resource.name,
                        "--permissions-boundary",
                        resource.boundary_arn,
                    ]
                ],
            )
        if "trustPolicy" in changed:
            iam.update_assume_role_policy(
                RoleName=resource.name, PolicyDocument=policy_json(dict(resource.trust_policy))
            )
        if "inlinePolicy" in changed:
            self._put_policy(resource)
            for name in observed.attributes.get("inlinePolicy", {}):
                if name != resource.policy_name:
                    iam.delete_role_policy(RoleName=resource.name, PolicyName=name)
        if "tags" in changed:
            to_set, to_remove = tag_delta(observed.attributes.get("tags", {}), comparable_tags(resource.tags))
            if to_set:
                iam.tag_role(RoleName=resource.name, Tags=tag_list(to_set))
            if to_remove:
                iam.untag_role(RoleName=resource.name, TagKeys=to_remove)

    def delete(self, resource: RoleSpec, observed: Observed, step: StepReporter) -> None:
        iam = self.client("iam")
        for name in paginate(iam, "list_role_policies", "PolicyNames", RoleName=resource.name):
            iam.delete_role_policy(RoleName=resource.name, PolicyName=name)
        iam.delete_role(RoleName=resource.name)
