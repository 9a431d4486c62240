from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr, ValidationError

from specimen_kit.database import build_engine
from specimen_kit.jwk import generate_private_key_pem, public_jwk, public_pem
from specimen_kit.testing import mint_token
from specimen_users.adapters.models import Base
from specimen_users.config import UsersSettings

ADMIN_EMAIL = "admin@specimen.local"


class TestAdminBootstrap:
    async def test_restart_keeps_a_single_admin(self, start_app: Any) -> None:
        async with start_app() as http:
            await http.post("/api/v1/auth/login", json={
                "email": ADMIN_EMAIL, "password": "admin-password-for-tests"})
        # A second start with another password must neither duplicate nor overwrite the admin.
        async with start_app(admin_password=SecretStr("another-password-1")) as http:
            old = await http.post("/api/v1/auth/login", json={
                "email": ADMIN_EMAIL, "password": "admin-password-for-tests"})
            assert old.status_code == 200
            headers = {"Authorization": f"Bearer {old.json()['access_token']}"}
            admins = (await http.get("/api/v1/users", params={"role": "admin"},
                                     headers=headers)).json()
            assert admins["total"] == 1

    async def test_development_password_is_generated_once_into_the_data_dir(
            self, start_app: Any, tmp_path: Path) -> None:
        async with start_app(admin_password=None, jwt_private_key=None) as http:
            password_file = tmp_path / "admin-password.txt"
            key_file = tmp_path / "keys" / "jwt-private.pem"
            assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            password = password_file.read_text().strip()
            login = await http.post("/api/v1/auth/login",
                                    json={"email": ADMIN_EMAIL, "password": password})
            assert login.status_code == 200
            jwks = (await http.get("/.well-known/jwks.json")).json()
        async with start_app(admin_password=None, jwt_private_key=None) as http:
            assert password_file.read_text().strip() == password
            assert (await http.get("/.well-known/jwks.json")).json() == jwks


class TestJwksAndProbes:
    async def test_jwks_publishes_the_signing_key_without_auth(
            self, api: Any, private_pem: str) -> None:
        response = await api.http.get("/.well-known/jwks.json")
        assert response.status_code == 200
        assert response.json() == {"keys": [public_jwk(private_pem)]}

    async def test_readiness_checks_the_database(self, api: Any) -> None:
        response = await api.http.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok"}


class TestMigrations:
    def test_migrated_schema_matches_the_models(self, database_url: str) -> None:
        engine = build_engine(database_url)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()


class TestSettings:
    def test_production_refuses_missing_key_and_placeholder_password(self) -> None:
        with pytest.raises(ValidationError, match="SPECIMEN_JWT_PRIVATE_KEY"):
            UsersSettings(environment="production", admin_password=SecretStr("x" * 20))

    def test_production_refuses_a_placeholder_admin_password(self, private_pem: str) -> None:
        with pytest.raises(ValidationError, match="placeholder"):
            UsersSettings(environment="production", jwt_private_key=SecretStr(private_pem),
                          admin_password=SecretStr("changeme"))

    def test_bad_rate_limit_is_refused_at_load(self) -> None:
        with pytest.raises(ValidationError, match="10/minute"):
            UsersSettings(login_failure_limit_per_account="five per minute")

    def test_a_first_login_delay_above_the_longest_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="SPECIMEN_LOGIN_FIRST_DELAY_SECONDS"):
            UsersSettings(login_first_delay_seconds=60, login_max_delay_seconds=30)

    def test_environment_variables_are_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPECIMEN_USERS_DATABASE_URL", "sqlite:///x.db")
        monkeypatch.setenv("SPECIMEN_ADMIN_EMAIL", "root@example.org")
        monkeypatch.setenv("SPECIMEN_BCRYPT_ROUNDS", "10")
        settings = UsersSettings()
        assert (settings.database_url, settings.admin_email, settings.bcrypt_rounds) == (
            "sqlite:///x.db", "root@example.org", 10)


class TestMigrateCommand:
    def test_migrate_creates_the_sqlite_directory_and_tables(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from sqlalchemy import inspect

        from specimen_users.cli import main

        database = tmp_path / "nested" / "users.sqlite3"
        monkeypatch.setenv("SPECIMEN_USERS_DATABASE_URL", f"sqlite:///{database}")
        assert main(["migrate"]) == 0
        assert main(["migrate"]) == 0  # idempotent
        engine = build_engine(f"sqlite:///{database}")
        try:
            assert {"users", "refresh_tokens", "alembic_version"} <= set(
                inspect(engine).get_table_names())
        finally:
            engine.dispose()

    def test_migrate_needs_no_serving_secret_in_production(
            self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        from specimen_users.cli import main

        monkeypatch.setenv("SPECIMEN_ENVIRONMENT", "production")
        monkeypatch.delenv("SPECIMEN_JWT_PRIVATE_KEY", raising=False)
        monkeypatch.delenv("SPECIMEN_ADMIN_PASSWORD", raising=False)
        monkeypatch.setenv("SPECIMEN_USERS_DATABASE_URL", f"sqlite:///{tmp_path / 'users.sqlite3'}")

        assert main(["migrate"]) == 0


class TestKeyRotation:
    async def test_a_retired_key_stays_in_the_jwks_and_its_tokens_still_verify(
            self, start_app: Any, private_pem: str) -> None:
        retired = generate_private_key_pem()
        old_token = mint_token(retired, sub="1", role="admin", hospital="Specimen")
        async with start_app(jwt_previous_public_keys=public_pem(retired)) as http:
            jwks = (await http.get("/.well-known/jwks.json")).json()
            me = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old_token}"})
            login = await http.post("/api/v1/auth/login", json={
                "email": ADMIN_EMAIL, "password": "admin-password-for-tests"})

        assert [key["kid"] for key in jwks["keys"]] == [public_jwk(private_pem)["kid"],
                                                        public_jwk(retired)["kid"]]
        assert me.status_code == 200, me.text
        assert login.json()["access_token"].count(".") == 2

    async def test_without_it_a_token_of_the_retired_key_is_refused(
            self, start_app: Any) -> None:
        old_token = mint_token(generate_private_key_pem(), sub="1", role="admin", hospital="Specimen")
        async with start_app() as http:
            me = await http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {old_token}"})

        assert me.status_code == 401

    def test_a_previous_key_that_is_not_a_key_is_refused_at_load(self) -> None:
        with pytest.raises(ValidationError):
            UsersSettings(
                jwt_previous_public_keys="-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----")
