"""Who signs in (infra/users.py): the user pool, its groups, its two app clients, its domain, the stack outputs, and
the company identity provider when the headcount:oidc* parameters name one."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from headcount import access
from infra import parameters
from tests.infra.conftest import DEPLOY_ENV, cdk_context, synthesize


def _client(template, name: str) -> dict:
    clients = template.find_resources("AWS::Cognito::UserPoolClient", {"Properties": {"ClientName": name}})
    assert len(clients) == 1, name
    return next(iter(clients.values()))["Properties"]


def test_the_pool_is_admin_made_strong_passworded_and_kept(template):
    template.has_resource(
        "AWS::Cognito::UserPool",
        {
            "Properties": Match.object_like(
                {
                    "UserPoolName": "headcount",
                    "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},  # no self sign-up
                    "AliasAttributes": ["email"],  # a username, or the email address
                    "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
                    "Policies": {
                        "PasswordPolicy": Match.object_like(
                            {
                                "MinimumLength": 12,
                                "RequireLowercase": True,
                                "RequireUppercase": True,
                                "RequireNumbers": True,
                                "RequireSymbols": True,
                            }
                        )
                    },
                    "MfaConfiguration": "OPTIONAL",
                    "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                }
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_the_pool_has_the_groups_of_access(template):
    (pool_id,) = template.find_resources("AWS::Cognito::UserPool")
    groups = template.find_resources("AWS::Cognito::UserPoolGroup")
    assert {g["Properties"]["GroupName"] for g in groups.values()} == set(access.GROUPS) == {"viewer", "admin"}
    assert all(g["Properties"]["UserPoolId"] == {"Ref": pool_id} for g in groups.values())


def test_the_resource_server_offers_the_read_scope(template):
    template.has_resource_properties(
        "AWS::Cognito::UserPoolResourceServer",
        {"Identifier": access.RESOURCE_SERVER, "Scopes": [Match.object_like({"ScopeName": "read"})]},
    )
    assert f"{access.RESOURCE_SERVER}/read" == access.READ_SCOPE


def test_the_dashboards_client_has_no_secret_and_short_lived_tokens(template):
    client = _client(template, "headcount-dashboard")
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    units = client["TokenValidityUnits"]
    assert (client["AccessTokenValidity"], units["AccessToken"]) == (60, "minutes")
    assert (client["IdTokenValidity"], units["IdToken"]) == (60, "minutes")
    assert (client["RefreshTokenValidity"], units["RefreshToken"]) == (12 * 60, "minutes")
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    # Without federation: no hosted UI flow at all
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert not client.get("AllowedOAuthFlows")


def test_the_tools_client_has_a_secret_and_client_credentials_only(template):
    client = _client(template, "headcount-tools")
    (server_id,) = template.find_resources("AWS::Cognito::UserPoolResourceServer")
    assert client["GenerateSecret"] is True
    assert client["AllowedOAuthFlows"] == ["client_credentials"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthScopes"] == [{"Fn::Join": ["", [{"Ref": server_id}, "/read"]]}]
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]  # no person signs in with it


def test_the_pool_has_a_domain_unique_to_the_account(template):
    (pool_id,) = template.find_resources("AWS::Cognito::UserPool")
    template.has_resource_properties(
        "AWS::Cognito::UserPoolDomain",
        {"UserPoolId": {"Ref": pool_id}, "Domain": {"Fn::Join": ["", ["headcount-", {"Ref": "AWS::AccountId"}]]}},
    )


def test_the_outputs_say_where_to_sign_in_and_get_tokens(template):
    outputs = template.to_json()["Outputs"]
    assert {"UserPoolId", "DashboardClientId", "ToolsClientId", "TokenEndpoint", "ApiUrl"} <= set(outputs)
    (domain_id,) = template.find_resources("AWS::Cognito::UserPoolDomain")
    assert outputs["TokenEndpoint"]["Value"] == {
        "Fn::Join": ["", ["https://", {"Ref": domain_id}, ".auth.us-east-1.amazoncognito.com/oauth2/token"]]
    }
    (stage_id,) = template.find_resources("AWS::ApiGateway::Stage")
    assert outputs["ApiUrl"]["Value"]["Fn::Join"][1][-2:] == [{"Ref": stage_id}, "/"]


FEDERATION = {
    parameters.OIDC_ISSUER_CONTEXT: "https://login.example.com/tenant/v2.0",
    parameters.OIDC_CLIENT_ID_CONTEXT: "headcount-app",
    parameters.OIDC_CLIENT_SECRET_NAME_CONTEXT: "headcount/oidc-client",
    parameters.OIDC_NAME_CONTEXT: "Example",
}


@pytest.fixture(scope="module")
def federated(tmp_path_factory) -> Template:
    synthesized = synthesize(tmp_path_factory.mktemp("federated"), cdk_context(**FEDERATION), DEPLOY_ENV)
    assert synthesized.error is None, synthesized.error
    return Template.from_json(synthesized.template)


def test_federation_adds_the_identity_provider_with_its_secret_by_reference(federated):
    (pool_id,) = federated.find_resources("AWS::Cognito::UserPool")
    federated.has_resource_properties(
        "AWS::Cognito::UserPoolIdentityProvider",
        {
            "UserPoolId": {"Ref": pool_id},
            "ProviderName": "Example",
            "ProviderType": "OIDC",
            "ProviderDetails": Match.object_like(
                {
                    "oidc_issuer": "https://login.example.com/tenant/v2.0",
                    "client_id": "headcount-app",
                    # resolved by CloudFormation when it deploys the provider: never in the template
                    "client_secret": "{{resolve:secretsmanager:headcount/oidc-client:SecretString:::}}",
                }
            ),
            "AttributeMapping": Match.object_like({"email": "email"}),
        },
    )


def test_federation_opens_the_hosted_ui_to_the_dashboard_client(federated):
    client = _client(federated, "headcount-dashboard")
    (api_id,) = federated.find_resources("AWS::ApiGateway::RestApi")
    assert client["SupportedIdentityProviders"] == ["COGNITO", "Example"]
    assert client["AllowedOAuthFlows"] == ["code"]
    # the person's access token must carry the scope the read and admin methods' authorizer asks for
    assert access.USER_SCOPE in client["AllowedOAuthScopes"]
    # back to the dashboard: the stage's URL, from the API's id (not the deployment's: no cycle)
    app_url = {
        "Fn::Join": [
            "",
            [
                "https://",
                {"Ref": api_id},
                ".execute-api.",
                {"Ref": "AWS::Region"},
                ".",
                {"Ref": "AWS::URLSuffix"},
                "/prod/",
            ],
        ]
    }
    assert client["CallbackURLs"] == client["LogoutURLs"] == [app_url]
    # and no function holds the provider's secret
    for function in federated.find_resources("AWS::Lambda::Function").values():
        assert "secretsmanager" not in json.dumps(function["Properties"].get("Environment", {}))
