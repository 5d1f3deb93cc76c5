"""Unit tests of keyrotor_credentials over botocore's Stubber and a fixed clock; the harness
(internal/harness/consumer) runs the package against moto across real rotations."""

import datetime
import json
import unittest

import boto3
import botocore.awsrequest
from botocore.stub import Stubber

import keyrotor_credentials as kc

PARAM = "/keyrotor/s3-signer"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def ssm_client():
    return boto3.client(
        "ssm", region_name="eu-west-1", aws_access_key_id="AKIAREADER", aws_secret_access_key="reader"
    )


def get_parameter(stub, value, version):
    stub.add_response(
        "get_parameter",
        {"Parameter": {"Name": PARAM, "Type": "SecureString", "Value": value, "Version": version}},
        {"Name": PARAM, "WithDecryption": True},
    )


def json_value(key_id, secret=SECRET):
    return json.dumps({"AccessKeyId": key_id, "SecretAccessKey": secret})


class _Raw:
    """A urllib3-like body for botocore's AWSResponse."""

    def __init__(self, body):
        self._body = body

    def stream(self, *_args, **_kwargs):
        yield self._body


class Clock:
    def __init__(self):
        self.now = datetime.datetime.now(datetime.timezone.utc)

    def __call__(self):
        return self.now


class RefreshTest(unittest.TestCase):
    def test_key_is_read_again_when_less_than_a_fifth_of_its_ttl_is_left(self):
        client = ssm_client()
        with Stubber(client) as stub:
            get_parameter(stub, json_value("AKIAOLD"), 1)
            creds = kc.KeyrotorCredentials.from_parameter(PARAM, ssm_client=client, ttl_seconds=100)
            clock = Clock()
            creds._time_fetcher = clock  # botocore's own clock hook
            self.assertEqual(creds.get_frozen_credentials().access_key, "AKIAOLD")
            clock.now += datetime.timedelta(seconds=75)  # 25 s left: more than ttl/5
            self.assertEqual(creds.get_frozen_credentials().access_key, "AKIAOLD")
            get_parameter(stub, json_value("AKIANEW"), 2)
            clock.now += datetime.timedelta(seconds=6)  # 19 s left: advisory refresh
            self.assertEqual(creds.get_frozen_credentials().access_key, "AKIANEW")
            stub.assert_no_pending_responses()

    def test_failed_advisory_refresh_keeps_the_key_but_refresh_now_raises(self):
        client = ssm_client()
        with Stubber(client) as stub:
            get_parameter(stub, json_value("AKIAOLD"), 1)
            creds = kc.KeyrotorCredentials.from_parameter(PARAM, ssm_client=client, ttl_seconds=100)
            clock = Clock()
            creds._time_fetcher = clock
            clock.now += datetime.timedelta(seconds=85)  # 15 s left: advisory, not mandatory
            stub.add_client_error("get_parameter", "ThrottlingException", "Rate exceeded")
            with self.assertLogs("botocore.credentials", "WARNING"):
                self.assertEqual(creds.get_frozen_credentials().access_key, "AKIAOLD")
            stub.add_client_error("get_parameter", "ThrottlingException", "Rate exceeded")
            with self.assertRaisesRegex(kc.ParameterReadError, "keyrotor: read parameter /keyrotor/s3-signer: .*Rate exceeded"):
                creds.refresh_now()

    def test_refresh_now_skips_a_key_no_longer_held(self):
        client = ssm_client()
        with Stubber(client) as stub:
            get_parameter(stub, json_value("AKIAOLD"), 1)
            creds = kc.KeyrotorCredentials.from_parameter(PARAM, ssm_client=client)
            get_parameter(stub, json_value("AKIANEW"), 2)
            creds.refresh_now("AKIAOLD")
            self.assertEqual(creds.get_frozen_credentials().access_key, "AKIANEW")
            creds.refresh_now("AKIAOLD")  # another request already re-read: no call
            stub.assert_no_pending_responses()

    def test_raw_format_takes_the_key_id_from_the_version_read(self):
        client = ssm_client()
        with Stubber(client) as stub:
            get_parameter(stub, SECRET, 2)
            stub.add_response(
                "get_parameter_history",
                {"Parameters": [
                    {"Name": PARAM, "Version": 1, "Description": "keyrotor:AKIAOLD"},
                    {"Name": PARAM, "Version": 2, "Description": "keyrotor:AKIANEW"},
                ]},
                {"Name": PARAM, "WithDecryption": False},
            )
            creds = kc.KeyrotorCredentials.from_parameter(PARAM, ssm_client=client, format="raw")
            frozen = creds.get_frozen_credentials()
            self.assertEqual((frozen.access_key, frozen.secret_key), ("AKIANEW", SECRET))


class ErrorTest(unittest.TestCase):
    def test_errors_name_the_parameter_and_what_to_do_never_the_value(self):
        denied = "User: arn:aws:iam::123456789012:user/app is not authorized to perform: {} on resource: x"
        cases = [
            ("missing", "json", ("ParameterNotFound", "none"), None, r"parameter /keyrotor/s3-signer does not exist.*run a keyrotor rotation"),
            ("read denied", "json", ("AccessDeniedException", denied.format("ssm:GetParameter")), None,
             r"not allowed to read parameter /keyrotor/s3-signer: ssm:GetParameter was refused; the caller needs ssm:GetParameter on it and kms:Decrypt"),
            ("decrypt denied", "json", ("AccessDeniedException", denied.format("kms:Decrypt")), None,
             r"not allowed to read parameter /keyrotor/s3-signer: kms:Decrypt was refused"),
            ("raw read as json", "json", None, SECRET, r"is not JSON .*read it with format \"raw\""),
            ("broken json", "json", None, '{"AccessKeyId":"AKIA1","SecretAccessKey":"' + SECRET + '"', r"is not valid JSON"),
            ("json lacking the secret", "json", None, '{"AccessKeyId":"AKIA1"}', r"lacks AccessKeyId or SecretAccessKey"),
            ("json read as raw", "raw", None, json_value("AKIA1"), r"holds JSON, not a raw secret"),
        ]
        for name, fmt, error, value, want in cases:
            with self.subTest(name):
                client = ssm_client()
                with Stubber(client) as stub:
                    if error:
                        stub.add_client_error("get_parameter", error[0], error[1])
                    else:
                        get_parameter(stub, value, 3)
                    with self.assertRaisesRegex(kc.ParameterReadError, want) as ctx:
                        kc.KeyrotorCredentials.from_parameter(PARAM, ssm_client=client, format=fmt)
                    self.assertNotIn(SECRET, str(ctx.exception))
                    self.assertIsNone(ctx.exception.__cause__)

    def test_bad_options_say_what_to_pass(self):
        for kwargs, want in [
            ({"format": "yaml"}, 'must be "json" or "raw"'),
            ({"ttl_seconds": 0}, "shorter than the rotation's graceSeconds"),
        ]:
            with self.subTest(want), self.assertRaisesRegex(ValueError, want):
                kc.KeyrotorCredentials.from_parameter(PARAM, ssm_client=ssm_client(), **kwargs)


class AuthFailureTest(unittest.TestCase):
    def test_a_refused_key_is_read_again_and_the_request_retried_once(self):
        reader = ssm_client()
        with Stubber(reader) as stub:
            get_parameter(stub, json_value("AKIAOLD"), 1)
            signer = kc.session(PARAM, ssm_client=reader, region_name="eu-west-1")
            creds = signer.get_credentials()
            self.assertIsInstance(creds, kc.KeyrotorCredentials)
            sts = signer.client("sts")
            signed_with = []

            def answer(request, **_):
                # A fake STS: refuses AKIAOLD, accepts anything else.
                key = kc._CREDENTIAL_RE.search(request.headers["Authorization"].decode()).group(1)
                signed_with.append(key)
                if key == "AKIAOLD":
                    body = b"<ErrorResponse><Error><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error></ErrorResponse>"
                    return botocore.awsrequest.AWSResponse(request.url, 403, {}, _Raw(body))
                body = (b"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/s3-signer</Arn>"
                        b"<UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>")
                return botocore.awsrequest.AWSResponse(request.url, 200, {}, _Raw(body))

            sts.meta.events.register("before-send", answer)
            get_parameter(stub, json_value("AKIANEW"), 2)
            out = sts.get_caller_identity()
            self.assertEqual(signed_with, ["AKIAOLD", "AKIANEW"])
            self.assertEqual(out["ResponseMetadata"]["RetryAttempts"], 1)
            stub.assert_no_pending_responses()

            # A key refused twice in one operation fails after its one retry.
            get_parameter(stub, json_value("AKIAOLD"), 3)
            creds.refresh_now()
            signed_with.clear()
            get_parameter(stub, json_value("AKIAOLD"), 4)
            get_parameter(stub, json_value("AKIAOLD"), 5)
            with self.assertRaisesRegex(Exception, "InvalidClientTokenId"):
                sts.get_caller_identity()
            self.assertEqual(signed_with, ["AKIAOLD", "AKIAOLD"])


    def test_codes(self):
        for code in kc.AUTH_FAILURE_CODES:
            self.assertTrue(kc.is_auth_failure(code), code)
        for code in ("AccessDenied", "NoSuchKey", "Throttling"):
            self.assertFalse(kc.is_auth_failure(code), code)


if __name__ == "__main__":
    unittest.main()
