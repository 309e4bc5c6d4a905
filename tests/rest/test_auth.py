"""Credentials (SPEC §2): bearer tokens from a secret or a JWKS, API keys, their errors."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from typer.testing import CliRunner

from app.auth import tokens
from app.auth.tokens import mint_token
from app.cli import cli
from app.settings import Settings
from tests.support.api import SECRET, Api, Caller, running_api, settings_for


def bearer(token: str) -> Caller:
    return Caller(None, None, {"Authorization": f"Bearer {token}"})


def in_an_hour() -> int:
    return int((datetime.now(UTC) + timedelta(hours=1)).timestamp())


def claims(**overrides: Any) -> dict[str, Any]:
    base = {"sub": str(uuid.uuid4()), "email": "a@example.com", "exp": in_an_hour()}
    return {**base, **overrides}


async def error_of(api: Api, caller: Caller, path: str = "/apikeys") -> tuple[int, str]:
    response = await api.call("GET", path, caller)
    assert response.headers["x-error-id"] == response.json()["error"]["error_id"]
    return response.status_code, response.json()["error"]["code"]


class TestBearerTokens:
    async def test_a_valid_token_is_its_user(self, api: Api) -> None:
        user = api.user()
        assert (await api.call("GET", "/apikeys", user)).status_code == 200

    @pytest.mark.parametrize(
        ("make_token", "expected"),
        [
            (lambda: jwt.encode(claims(exp=1_000_000), SECRET), (401, "TOKEN_EXPIRED")),
            (
                lambda: jwt.encode(claims(), "another-secret-of-sufficient-length-000000"),
                (401, "INVALID_TOKEN"),
            ),
            (
                lambda: jwt.encode({k: v for k, v in claims().items() if k != "exp"}, SECRET),
                (401, "INVALID_TOKEN"),
            ),
            (lambda: jwt.encode(claims(sub="alice"), SECRET), (401, "INVALID_TOKEN")),
            (lambda: jwt.encode(claims(roles="billing_admin"), SECRET), (401, "INVALID_TOKEN")),
            (lambda: jwt.encode(claims(), SECRET)[:-3] + "abc", (401, "INVALID_TOKEN")),
            (lambda: jwt.encode(claims(), SECRET, algorithm="HS512"), (401, "INVALID_TOKEN")),
            (lambda: "not.a.jwt", (401, "INVALID_TOKEN")),
            (lambda: jwt.encode(claims(exp=str(in_an_hour())), SECRET), (401, "INVALID_TOKEN")),
            (lambda: jwt.encode(claims(exp=10**400), SECRET), (401, "INVALID_TOKEN")),
            (lambda: jwt.encode(claims(email="a" * 321), SECRET), (401, "INVALID_TOKEN")),
            (lambda: jwt.encode(claims(email="a\x00@example.com"), SECRET), (401, "INVALID_TOKEN")),
            (lambda: jwt.encode(claims(email=["a@example.com"]), SECRET), (401, "INVALID_TOKEN")),
        ],
        ids=[
            "expired",
            "wrong-secret",
            "no-exp",
            "sub-not-uuid",
            "roles-not-list",
            "tampered",
            "other-algorithm",
            "garbage",
            "exp-a-string",
            "exp-beyond-range",
            "email-too-long",
            "email-with-nul",
            "email-not-a-string",
        ],
    )
    async def test_bad_tokens_are_401(
        self, api: Api, make_token: Callable[[], str], expected: tuple[int, str]
    ) -> None:
        """Tokens are minted when the test runs, so none has expired by accident."""
        assert await error_of(api, bearer(make_token())) == expected

    async def test_an_unsigned_token_is_refused(self, api: Api) -> None:
        token = jwt.encode(claims(), key=None, algorithm="none")  # type: ignore[arg-type]
        assert await error_of(api, bearer(token)) == (401, "INVALID_TOKEN")

    async def test_other_schemes_are_refused(self, api: Api) -> None:
        caller = Caller(None, None, {"Authorization": "Basic dXNlcjpwYXNz"})
        assert await error_of(api, caller) == (401, "INVALID_TOKEN")

    async def test_roles_come_from_the_token(self, api: Api) -> None:
        token = jwt.encode(claims(roles=["billing_admin"]), SECRET)
        assert (await api.call("GET", "/admin/tiers", bearer(token))).status_code == 200


class TestCredentialCombinations:
    async def test_both_kinds_at_once_is_400(self, api: Api) -> None:
        user = api.user()
        issued = (await api.call("POST", "/apikeys", user, json={"name": "k"})).json()
        caller = Caller(
            None, None, {**user.headers, "api-key": issued["key"], "api-secret": issued["secret"]}
        )
        assert await error_of(api, caller) == (400, "AMBIGUOUS_CREDENTIALS")
        half = Caller(None, None, {**user.headers, "api-key": issued["key"]})
        assert await error_of(api, half) == (400, "AMBIGUOUS_CREDENTIALS")

    async def test_half_an_api_key_pair_is_400(self, api: Api) -> None:
        for headers in (
            {"api-key": "bk_x"},
            {"api-secret": "bs_x"},
            {"api-key": "", "api-secret": "bs_x"},
        ):
            assert await error_of(api, Caller(None, None, headers)) == (400, "INCOMPLETE_API_KEY")

    async def test_an_unknown_key_is_401(self, api: Api) -> None:
        caller = Caller(None, None, {"api-key": "bk_nope", "api-secret": "bs_nope"})
        assert await error_of(api, caller) == (401, "INVALID_API_KEY")

    async def test_granted_roles_apply_to_api_keys(
        self, api: Api, database_url: str, tmp_path: Path
    ) -> None:
        user = api.user()
        issued = (await api.call("POST", "/apikeys", user, json={"name": "ops"})).json()
        caller = Caller(None, None, {"api-key": issued["key"], "api-secret": issued["secret"]})
        assert (await api.call("GET", "/admin/tiers", caller)).status_code == 403
        result = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "app.cli",
                "grant-role",
                "--user-id",
                user.user_id,
                "--role",
                "billing_admin",
            ],
            env={
                **os.environ,
                "BILLING_DATABASE_URL": database_url,
                "BILLING_DATA_DIR": str(tmp_path),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        async with running_api(settings_for(database_url, tmp_path)) as fresh:
            assert (await fresh.call("GET", "/admin/tiers", caller)).status_code == 200


def rsa_and_ec_keys() -> tuple[Any, Any, dict[str, Any]]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    public_keys = [
        ("rsa-1", jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())),
        ("ec-1", jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key())),
    ]
    keys = [{**json.loads(jwk), "kid": kid, "use": "sig"} for kid, jwk in public_keys]
    return rsa_key, ec_key, {"keys": keys}


@contextmanager
def serving(document: dict[str, Any]) -> Iterator[str]:
    """`document` as the identity provider's JWKS, read at each request: a test may
    change it, or set "status" to have the provider fail."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = int(document.get("status", 200))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(document).encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()


class TestJwks:
    ISSUER, AUDIENCE = "https://id.example.com/", "billing"

    def settings(self, database_url: str, tmp_path: Path, **keys: Any) -> Settings:
        """Tokens verified with the keys of `keys` (a JWKS URL or file) for this issuer."""
        return settings_for(
            database_url, tmp_path, jwt_issuer=self.ISSUER, jwt_audience=self.AUDIENCE, **keys
        )

    def token(self, key: Any, kid: str, algorithm: str, **overrides: Any) -> str:
        payload = claims(**{"iss": self.ISSUER, "aud": self.AUDIENCE, **overrides})
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})

    async def check(self, api: Api, rsa_key: Any, ec_key: Any) -> None:
        assert (
            await api.call("GET", "/apikeys", bearer(self.token(rsa_key, "rsa-1", "RS256")))
        ).status_code == 200
        assert (
            await api.call("GET", "/apikeys", bearer(self.token(ec_key, "ec-1", "ES256")))
        ).status_code == 200
        wrong_audience = self.token(rsa_key, "rsa-1", "RS256", aud="other")
        assert await error_of(api, bearer(wrong_audience)) == (401, "INVALID_TOKEN")
        wrong_issuer = self.token(ec_key, "ec-1", "ES256", iss="https://evil.example.com/")
        assert await error_of(api, bearer(wrong_issuer)) == (401, "INVALID_TOKEN")
        unknown_kid = self.token(rsa_key, "rsa-2", "RS256")
        assert await error_of(api, bearer(unknown_kid)) == (401, "INVALID_TOKEN")
        hs_token = jwt.encode(claims(iss=self.ISSUER, aud=self.AUDIENCE), SECRET)
        assert await error_of(api, bearer(hs_token)) == (401, "INVALID_TOKEN")
        refused = {
            # Each key verifies only its own algorithm: neither a key of the other type
            # (which PyJWT cannot even load) nor another algorithm of the same type.
            "ec-signed-for-rsa-kid": self.token(ec_key, "rsa-1", "ES256"),
            "rsa-signed-for-ec-kid": self.token(rsa_key, "ec-1", "RS256"),
            "rs512": self.token(rsa_key, "rsa-1", "RS512"),
            "ps256": self.token(rsa_key, "rsa-1", "PS256"),
            "unsigned": jwt.encode(
                claims(iss=self.ISSUER, aud=self.AUDIENCE),
                key=None,  # type: ignore[arg-type]
                algorithm="none",
                headers={"kid": "rsa-1"},
            ),
            "no-issuer": self.token(rsa_key, "rsa-1", "RS256", iss=None),
            "no-audience": self.token(rsa_key, "rsa-1", "RS256", aud=None),
            "expired": self.token(ec_key, "ec-1", "ES256", exp=1_000_000),
        }
        for name, token in refused.items():
            assert (await error_of(api, bearer(token)))[0] == 401, name

    async def test_keys_from_a_file(self, database_url: str, tmp_path: Path) -> None:
        rsa_key, ec_key, document = rsa_and_ec_keys()
        jwks_file = tmp_path / "jwks.json"
        jwks_file.write_text(json.dumps(document))
        async with running_api(
            self.settings(database_url, tmp_path, jwt_jwks_file=jwks_file)
        ) as api:
            await self.check(api, rsa_key, ec_key)

    async def test_keys_from_a_url(self, database_url: str, tmp_path: Path) -> None:
        rsa_key, ec_key, document = rsa_and_ec_keys()
        with serving(document) as url:
            async with running_api(self.settings(database_url, tmp_path, jwt_jwks_url=url)) as api:
                await self.check(api, rsa_key, ec_key)

    async def test_withdrawn_keys_stop_working_and_an_absent_provider_changes_nothing(
        self, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        rsa_key, ec_key, document = rsa_and_ec_keys()
        rsa_token = bearer(self.token(rsa_key, "rsa-1", "RS256"))
        ec_token = bearer(self.token(ec_key, "ec-1", "ES256"))
        with serving(document) as url:
            async with running_api(self.settings(database_url, tmp_path, jwt_jwks_url=url)) as api:
                assert (await api.call("GET", "/apikeys", rsa_token)).status_code == 200
                # Every request now finds the keys due to be read again.
                monkeypatch.setattr(tokens, "JWKS_MAX_AGE_SECONDS", 0.0)
                monkeypatch.setattr(tokens, "JWKS_REFRESH_INTERVAL_SECONDS", 0.0)
                document["status"] = 503
                assert (await api.call("GET", "/apikeys", rsa_token)).status_code == 200
                del document["status"]
                document["keys"] = [key for key in document["keys"] if key["kid"] != "rsa-1"]
                assert await error_of(api, rsa_token) == (401, "INVALID_TOKEN")
                assert (await api.call("GET", "/apikeys", ec_token)).status_code == 200


class TestEmbeddedSecret:
    async def test_generated_once_and_used_by_the_token_command(
        self, database_url: str, tmp_path: Path
    ) -> None:
        settings = settings_for(database_url, tmp_path).model_copy(update={"jwt_secret": None})
        user_id = str(uuid.uuid4())
        async with running_api(settings) as api:
            secret_file = tmp_path / "jwt-secret"
            assert len(secret_file.read_text()) >= 48
            result = CliRunner().invoke(
                cli,
                ["token", "--user-id", user_id, "--email", "me@example.com", "--admin"],
                env={"BILLING_DATA_DIR": str(tmp_path), "BILLING_JWT_SECRET": ""},
            )
            assert result.exit_code == 0, result.output
            token = result.output.strip()
            assert jwt.decode(token, options={"verify_signature": False})["roles"] == [
                "billing_admin"
            ]
            assert (await api.call("GET", "/admin/tiers", bearer(token))).status_code == 200
            forged = mint_token("x" * 48, user_id=uuid.UUID(user_id), email=None)
            assert await error_of(api, bearer(forged)) == (401, "INVALID_TOKEN")

    def test_no_token_is_minted_when_an_identity_provider_signs_them(self, tmp_path: Path) -> None:
        """The server would refuse it: with JWKS configured, only the provider's keys count."""
        jwks_file = tmp_path / "jwks.json"
        jwks_file.write_text(json.dumps(rsa_and_ec_keys()[2]))
        result = CliRunner().invoke(
            cli,
            ["token", "--user-id", str(uuid.uuid4())],
            env={
                "BILLING_DATA_DIR": str(tmp_path),
                "BILLING_JWT_SECRET": "a-configured-secret-of-sufficient-length",
                "BILLING_JWT_JWKS_FILE": str(jwks_file),
            },
        )
        assert result.exit_code != 0
        assert "identity provider" in result.output
