"""Settings of the users service: the kit's shared settings plus its database, keys and limits."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from specimen_kit.hospitals import MAX_HOSPITAL_NAME_CHARS, InvalidHospitalName, hospital_name
from specimen_kit.jwk import public_jwk, split_pem_bundle
from specimen_kit.ratelimit import RateLimit
from specimen_kit.settings import ServiceSettings
from specimen_users.domain.login_throttle import LoginThrottleRules

# Values copied from examples and templates; production refuses them so that a half-configured
# deployment fails at start-up instead of running with a guessable secret.
_PLACEHOLDER_SECRETS = frozenset({
    "", "admin", "password", "changeme", "change-me", "changethis", "change_me", "secret",
    "specimen", "example", "test", "default", "12345678", "replace-me",
})
_MIN_PRODUCTION_ADMIN_PASSWORD = 12


class UsersDatabaseSettings(ServiceSettings):
    """What ``python -m specimen_users migrate`` needs: the database, none of the serving secrets
    (a migration Job need not hold the signing key or the admin password)."""

    database_url: str = Field(default="", validation_alias="SPECIMEN_USERS_DATABASE_URL")

    @property
    def resolved_database_url(self) -> str:
        """The database URL, or the SQLite file in the data directory when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'users.sqlite3').resolve()}"


class UsersSettings(UsersDatabaseSettings):
    """Environment of the users service (``SPECIMEN_`` prefix, see each field's alias).

    Fields only this service reads carry its name in their variable (``SPECIMEN_USERS_...``);
    the key, admin and limit variables are named as the deployment documents them.
    """

    jwt_private_key: SecretStr | None = Field(
        default=None, validation_alias="SPECIMEN_JWT_PRIVATE_KEY"
    )
    jwt_previous_public_keys: str | None = Field(
        default=None, validation_alias="SPECIMEN_JWT_PREVIOUS_PUBLIC_KEYS",
        description="PEM public keys of retired signing keys, still published in the JWKS so that "
                    "tokens they signed verify until they expire (key rotation).")
    access_token_minutes: int = Field(
        default=15, gt=0, le=24 * 60, validation_alias="SPECIMEN_ACCESS_TOKEN_MINUTES"
    )
    refresh_token_days: int = Field(
        default=14, gt=0, le=365, validation_alias="SPECIMEN_REFRESH_TOKEN_DAYS"
    )
    admin_email: str = Field(
        default="admin@specimen.local", min_length=3, validation_alias="SPECIMEN_ADMIN_EMAIL"
    )
    admin_password: SecretStr | None = Field(
        default=None, validation_alias="SPECIMEN_ADMIN_PASSWORD"
    )
    admin_hospital: str = Field(
        default="Specimen", min_length=1, max_length=MAX_HOSPITAL_NAME_CHARS,
        validation_alias="SPECIMEN_ADMIN_HOSPITAL",
        description="The first admin's hospital, by name; created at start-up when missing.")
    login_rate_limit_per_address: str = Field(
        default="30/minute", validation_alias="SPECIMEN_LOGIN_RATE_LIMIT_PER_ADDRESS",
        description="Login attempts from one address, on any accounts.")
    login_failure_limit_per_account: str = Field(
        default="20/hour", validation_alias="SPECIMEN_LOGIN_FAILURE_LIMIT_PER_ACCOUNT",
        description="Failed logins for one account from all addresses; past it, addresses "
                    "that failed for it wait for the window's end (others are not held).")
    login_free_failures: int = Field(
        default=3, ge=0, le=100, validation_alias="SPECIMEN_LOGIN_FREE_FAILURES",
        description="Failed logins per account and address before delays start.")
    login_first_delay_seconds: float = Field(
        default=2.0, gt=0, le=3600, validation_alias="SPECIMEN_LOGIN_FIRST_DELAY_SECONDS")
    login_max_delay_seconds: float = Field(
        default=900.0, gt=0, le=86400, validation_alias="SPECIMEN_LOGIN_MAX_DELAY_SECONDS")
    bcrypt_rounds: int = Field(default=12, ge=4, le=31, validation_alias="SPECIMEN_BCRYPT_ROUNDS")

    @field_validator("admin_hospital")
    @classmethod
    def _admin_hospital_makes_an_id(cls, value: str) -> str:
        try:
            return hospital_name(value)
        except InvalidHospitalName as error:
            raise ValueError(f"SPECIMEN_ADMIN_HOSPITAL: {error.detail}") from None

    @field_validator("login_rate_limit_per_address", "login_failure_limit_per_account")
    @classmethod
    def _parseable_rate_limit(cls, value: str) -> str:
        RateLimit.parse(value)  # raises ValueError naming the expected form
        return value

    @model_validator(mode="after")
    def _coherent_login_delays(self) -> UsersSettings:
        if self.login_first_delay_seconds > self.login_max_delay_seconds:
            raise ValueError("SPECIMEN_LOGIN_FIRST_DELAY_SECONDS must not exceed "
                             "SPECIMEN_LOGIN_MAX_DELAY_SECONDS")
        return self

    @model_validator(mode="after")
    def _production_secrets(self) -> UsersSettings:
        if not self.is_production:
            return self
        if self.jwt_private_key is None or "PRIVATE KEY" not in self.jwt_private_key.get_secret_value():
            raise ValueError("SPECIMEN_JWT_PRIVATE_KEY must hold a PEM RSA private key in "
                             "production (generate one with `openssl genpkey -algorithm RSA`)")
        if self.admin_password is None:
            raise ValueError("SPECIMEN_ADMIN_PASSWORD is required in production")
        password = self.admin_password.get_secret_value()
        if password.lower() in _PLACEHOLDER_SECRETS or len(password) < _MIN_PRODUCTION_ADMIN_PASSWORD:
            raise ValueError("SPECIMEN_ADMIN_PASSWORD looks like a placeholder; set a random "
                             f"password of at least {_MIN_PRODUCTION_ADMIN_PASSWORD} characters")
        if self.bcrypt_rounds < 10:
            raise ValueError("SPECIMEN_BCRYPT_ROUNDS below 10 is for tests only, not production")
        return self

    @field_validator("jwt_previous_public_keys")
    @classmethod
    def _parseable_previous_keys(cls, value: str | None) -> str | None:
        if value is not None:
            for pem in split_pem_bundle(value):
                public_jwk(pem)  # raises ValueError on anything but an RSA key
        return value

    @property
    def previous_public_keys(self) -> list[str]:
        """The retired signing keys' PEMs, in the order given."""
        return split_pem_bundle(self.jwt_previous_public_keys or "")

    @property
    def login_throttle_rules(self) -> LoginThrottleRules:
        return LoginThrottleRules(
            per_address=RateLimit.parse(self.login_rate_limit_per_address),
            per_account=RateLimit.parse(self.login_failure_limit_per_account),
            free_failures=self.login_free_failures,
            first_delay_seconds=self.login_first_delay_seconds,
            max_delay_seconds=self.login_max_delay_seconds)
