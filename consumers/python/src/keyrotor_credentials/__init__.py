"""boto3/botocore credentials from a keyrotor SSM parameter.

The Python counterpart of the Go module ssmcreds (same formats, TTL rule, error texts and
auth-failure codes)::

    import boto3, keyrotor_credentials
    signer = keyrotor_credentials.session("/keyrotor/s3-signer")  # read with the default role
    s3 = signer.client("s3")  # signs with the rotated key, follows every rotation

The key is read with GetParameter (with decryption; for format raw also the version's
Description, "keyrotor:<AccessKeyId>", from GetParameterHistory), kept for a TTL shorter than
the rotation's graceSeconds and re-read before it expires, through botocore's own
RefreshableCredentials. A request refused because its key was retired re-reads the parameter
and is retried once, through botocore's needs-retry event.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
from typing import Any, Optional

import boto3
import botocore.session
from botocore.credentials import CredentialProvider, CredentialResolver, RefreshableCredentials
from botocore.exceptions import ClientError, CredentialRetrievalError

__all__ = [
    "AUTH_FAILURE_CODES",
    "DEFAULT_TTL_SECONDS",
    "KeyrotorCredentials",
    "KeyrotorParameterProvider",
    "ParameterReadError",
    "is_auth_failure",
    "register_refresh_on_auth_failure",
    "session",
]

#: How long a read key is used before the parameter is read again; keep it under graceSeconds.
DEFAULT_TTL_SECONDS = 300
#: botocore's own refresh windows (RefreshableCredentials): 15 and 10 minutes before expiry.
_BOTOCORE_ADVISORY_SECONDS = 15 * 60
_BOTOCORE_MANDATORY_SECONDS = 10 * 60
#: How internal/rotation marks the key a parameter version holds: "keyrotor:<AccessKeyId>".
_DESCRIPTION_PREFIX = "keyrotor:"
_FORMATS = ("json", "raw")

#: Error codes AWS answers when the signing key is unknown, deleted, inactive or does not match
#: its secret — what a rotated-away key gets (ssmcreds/authfailure.go holds the same list).
AUTH_FAILURE_CODES = frozenset(
    {
        "InvalidClientTokenId",  # query/XML services (STS, IAM, SQS…)
        "InvalidAccessKeyId",  # S3: key unknown or deleted
        "SignatureDoesNotMatch",  # secret does not belong to the key
        "ExpiredToken",
        "UnrecognizedClientException",  # JSON services (KMS, DynamoDB, Lambda…)
        "InvalidSignatureException",  # JSON services: secret does not match
    }
)

_log = logging.getLogger(__name__)


class ParameterReadError(CredentialRetrievalError):
    """The parameter could not be read or is not what keyrotor writes; the text says what to do."""

    fmt = "{error_msg}"


def is_auth_failure(error: Any) -> bool:
    """Whether a ClientError (or a parsed response's Error code) says the key was refused."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in AUTH_FAILURE_CODES
    return error in AUTH_FAILURE_CODES


class KeyrotorCredentials(RefreshableCredentials):
    """RefreshableCredentials over a keyrotor parameter.

    The key expires ttl_seconds after it was read; botocore re-reads it once less than
    min(15 minutes, ttl/5) remains (a failed re-read keeps the key) and must re-read it once
    less than min(10 minutes, ttl/10) remains. refresh_now re-reads it at once.
    """

    @classmethod
    def from_parameter(
        cls,
        parameter_name: str,
        *,
        format: str = "json",
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        ssm_client: Any = None,
        logger: Optional[logging.Logger] = None,
    ) -> "KeyrotorCredentials":
        """Reads the parameter now with ssm_client (boto3.client("ssm") of the default session
        when None: the consumer's own role) and returns credentials that follow rotations."""
        reader = _ParameterReader(parameter_name, format, ttl_seconds, ssm_client, logger or _log)
        ttl = reader.ttl_seconds
        return cls.create_from_metadata(
            reader.read(),
            refresh_using=reader.read,
            method=KeyrotorParameterProvider.METHOD,
            advisory_timeout=min(_BOTOCORE_ADVISORY_SECONDS, ttl / 5),
            mandatory_timeout=min(_BOTOCORE_MANDATORY_SECONDS, ttl / 10),
        )

    def refresh_now(self, refused_access_key: Optional[str] = None) -> None:
        """Re-reads the parameter at once, unless the key held is no longer refused_access_key
        (another request already re-read it). A failure is raised: a refused key is never kept."""
        with self._refresh_lock:
            if refused_access_key is not None and self._access_key != refused_access_key:
                return
            self._protected_refresh(is_mandatory=True)


class KeyrotorParameterProvider(CredentialProvider):
    """A botocore credential provider (for a CredentialResolver) giving KeyrotorCredentials."""

    METHOD = "keyrotor-parameter"
    # botocore asks providers outside it to prefix their canonical names with "custom".
    CANONICAL_NAME = "customKeyrotorParameter"

    def __init__(self, parameter_name: str, **options: Any) -> None:
        super().__init__()
        self._parameter_name = parameter_name
        self._options = options

    def load(self) -> KeyrotorCredentials:
        return KeyrotorCredentials.from_parameter(self._parameter_name, **self._options)


def session(
    parameter_name: str,
    *,
    format: str = "json",
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ssm_client: Any = None,
    region_name: Optional[str] = None,
    logger: Optional[logging.Logger] = None,
) -> boto3.session.Session:
    """A boto3 Session whose clients sign with the parameter's key and follow its rotations:
    its credentials come from KeyrotorParameterProvider alone, and every client it creates
    re-reads the key and retries once when a request is refused with an auth failure."""
    core = botocore.session.Session()
    provider = KeyrotorParameterProvider(
        parameter_name, format=format, ttl_seconds=ttl_seconds, ssm_client=ssm_client, logger=logger
    )
    core.register_component("credential_provider", CredentialResolver(providers=[provider]))
    signer = boto3.session.Session(botocore_session=core, region_name=region_name)
    creds = core.get_credentials()
    register_refresh_on_auth_failure(core, creds)
    return signer


_signed_with = threading.local()
_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/")


def register_refresh_on_auth_failure(events_owner: Any, credentials: KeyrotorCredentials) -> None:
    """Registers, on a client (client.meta.events) or a boto3/botocore session (for the
    clients it creates later), the handlers that make a request refused with an auth failure
    re-read the key and retry once per operation. Do not register it for the SSM client that
    reads the parameter."""
    if hasattr(events_owner, "meta"):  # a client
        events = events_owner.meta.events
    elif isinstance(events_owner, boto3.session.Session):
        events = events_owner.events
    else:  # a botocore session or an event emitter
        events = events_owner

    def remember_key(request: Any = None, **_: Any) -> None:
        # botocore sends one attempt at a time per thread: the key this attempt was signed with.
        m = _CREDENTIAL_RE.search(str((request.headers or {}).get("Authorization", b""))) if request is not None else None
        _signed_with.key = m.group(1) if m else None

    def needs_retry(response: Any = None, request_dict: Any = None, **_: Any) -> Optional[int]:
        if not response:
            return None
        code = (response[1] or {}).get("Error", {}).get("Code")
        if code not in AUTH_FAILURE_CODES:
            return None
        try:
            credentials.refresh_now(getattr(_signed_with, "key", None))
        except Exception as err:  # the parameter cannot be read: the refusal stands
            _log.warning("keyrotor: re-reading the key after %s failed: %s", code, err)
            return None
        context = (request_dict or {}).setdefault("context", {})
        if context.get("keyrotor_auth_retried"):
            return None
        context["keyrotor_auth_retried"] = True
        return 0  # retry at once; the next attempt is signed with the key read afresh

    events.register("before-send", remember_key, unique_id="keyrotor-remember-key")
    # botocore calls every needs-retry handler and retries on the first answer that is not
    # None, so the retry handler's "not retryable" for an auth failure does not hide this one.
    events.register("needs-retry", needs_retry, unique_id="keyrotor-refresh-on-auth-failure")


class _ParameterReader:
    def __init__(self, name: str, fmt: str, ttl_seconds: float, client: Any, logger: logging.Logger) -> None:
        if not name:
            raise ValueError("keyrotor: no parameter name given: pass the managed-key module's parameter_name, e.g. /keyrotor/s3-signer")
        if fmt not in _FORMATS:
            raise ValueError(f'keyrotor: format "{fmt}" for parameter {name} must be "json" or "raw", as the rotation\'s format input')
        if not ttl_seconds or ttl_seconds <= 0:
            raise ValueError(
                f"keyrotor: ttl_seconds {ttl_seconds} for parameter {name} must be a positive number of seconds, "
                "shorter than the rotation's graceSeconds"
            )
        self.name, self.format, self.ttl_seconds, self.logger = name, fmt, ttl_seconds, logger
        self.client = client if client is not None else boto3.client("ssm")

    def _error(self, err: Exception, action: str) -> ParameterReadError:
        code = err.response.get("Error", {}).get("Code", "") if isinstance(err, ClientError) else ""
        if code == "ParameterNotFound":
            msg = (
                f"keyrotor: parameter {self.name} does not exist: check the name (the managed-key module's "
                "parameter_name) or run a keyrotor rotation for its user, which creates it"
            )
        elif "AccessDenied" in code:
            # AWS names the refused action in its message ("…is not authorized to perform: kms:Decrypt…").
            m = re.search(r"perform: ([a-z0-9-]+:[A-Za-z]+)", str(err))
            raw = " and ssm:GetParameterHistory (format raw)" if self.format == "raw" else ""
            msg = (
                f"keyrotor: not allowed to read parameter {self.name}: {m.group(1) if m else action} was refused; "
                f"the caller needs ssm:GetParameter on it{raw} and kms:Decrypt on its KMS key ({err})"
            )
        else:
            msg = f"keyrotor: read parameter {self.name}: {err}"
        return ParameterReadError(provider=KeyrotorParameterProvider.METHOD, error_msg=msg)

    def _malformed(self, version: int, what: str) -> ParameterReadError:
        return ParameterReadError(
            provider=KeyrotorParameterProvider.METHOD, error_msg=f"keyrotor: parameter {self.name} (version {version}) {what}"
        )

    def read(self) -> dict:
        """botocore's refresh_using: the key as credential metadata, expiring after the TTL."""
        try:
            p = self.client.get_parameter(Name=self.name, WithDecryption=True)["Parameter"]
        except ClientError as err:
            raise self._error(err, "ssm:GetParameter") from None
        value, version = p.get("Value", ""), p.get("Version", 0)
        if self.format == "json":
            key_id, secret = self._parse_json(value, version)
        else:
            key_id, secret = self._parse_raw(value, version)
        self.logger.info(
            "read key from keyrotor parameter",
            extra={"parameter": self.name, "version": version, "accessKeyId": key_id, "ttlSeconds": self.ttl_seconds},
        )
        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=self.ttl_seconds)
        return {"access_key": key_id, "secret_key": secret, "token": None, "expiry_time": expiry.isoformat()}

    def _parse_json(self, value: str, version: int) -> tuple:
        if not value.strip().startswith("{"):
            raise self._malformed(
                version,
                'is not JSON {"AccessKeyId","SecretAccessKey"}; it looks like a raw secret (rotation format "raw"): read it with format "raw"',
            )
        try:
            k = json.loads(value)
        except ValueError:
            # The parser's message may quote the value: never pass it on.
            k = None
        if not isinstance(k, dict):
            raise self._malformed(
                version, 'is not valid JSON {"AccessKeyId","SecretAccessKey"}; it was not written by keyrotor: rotate the key again with keyrotor'
            ) from None
        key_id, secret = k.get("AccessKeyId"), k.get("SecretAccessKey")
        if not isinstance(key_id, str) or not isinstance(secret, str) or not key_id or not secret:
            raise self._malformed(version, "lacks AccessKeyId or SecretAccessKey; it was not written by keyrotor: rotate the key again with keyrotor")
        return key_id, secret

    def _parse_raw(self, value: str, version: int) -> tuple:
        # The AccessKeyId comes from the Description of exactly the version GetParameter
        # returned, so a rotation between the two calls cannot pair a secret with another key's id.
        if value.strip().startswith("{"):
            raise self._malformed(version, 'holds JSON, not a raw secret; it was rotated with format "json": read it with format "json"')
        if not value or re.search(r"\s", value):
            raise self._malformed(version, "is not a secret access key (empty or has whitespace); rotate the key again with keyrotor")
        try:
            for page in self.client.get_paginator("get_parameter_history").paginate(Name=self.name, WithDecryption=False):
                for v in page.get("Parameters", []):
                    if v.get("Version") != version:
                        continue
                    d = v.get("Description", "")
                    key_id = d[len(_DESCRIPTION_PREFIX):] if d.startswith(_DESCRIPTION_PREFIX) else ""
                    if not key_id:
                        raise self._malformed(
                            version,
                            'has no Description "keyrotor:<AccessKeyId>", so the key id of its raw secret is unknown; '
                            "it was not written by keyrotor: rotate the key again with keyrotor",
                        )
                    return key_id, value
        except ClientError as err:
            raise self._error(err, "ssm:GetParameterHistory") from None
        raise self._malformed(version, "is missing from its history; read it again")
