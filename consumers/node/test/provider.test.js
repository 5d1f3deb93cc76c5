"use strict";
// Unit tests of the provider and the middleware over a fake SSM client and a mocked clock; the
// harness (internal/harness/consumer) runs the package against moto across real rotations.
const { test } = require("node:test");
const assert = require("node:assert/strict");
const { SSMClient, GetParameterCommand, GetParameterHistoryCommand } = require("@aws-sdk/client-ssm");
const { fromKeyrotorParameter, refreshOnAuthFailureMiddleware, isAuthFailure, AUTH_FAILURE_CODES } = require("..");

const PARAM = "/keyrotor/s3-signer";
const SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

// fakeSSM serves the parameter versions in `versions` (newest last); `fail` makes the next
// calls throw it.
function fakeSSM(versions) {
  // A real client (the history paginator insists on one) whose send is replaced.
  const ssm = Object.assign(new SSMClient({ region: "eu-west-1", credentials: { accessKeyId: "AKIAREADER", secretAccessKey: "reader" } }),
    { versions, calls: [], fail: undefined });
  ssm.send = async (cmd) => {
    ssm.calls.push(cmd.constructor.name);
    if (ssm.fail) throw ssm.fail;
    const v = ssm.versions[ssm.versions.length - 1];
    if (cmd instanceof GetParameterCommand) return { Parameter: { Name: PARAM, Value: v.value, Version: v.version } };
    if (cmd instanceof GetParameterHistoryCommand) {
      return { Parameters: ssm.versions.map((x) => ({ Name: PARAM, Version: x.version, Description: x.description })) };
    }
    throw new Error(`unexpected ${cmd.constructor.name}`);
  };
  return ssm;
}
const jsonVersion = (version, id, secret = SECRET) =>
  ({ version, value: JSON.stringify({ AccessKeyId: id, SecretAccessKey: secret }), description: `keyrotor:${id}` });
const reads = (ssm) => ssm.calls.filter((c) => c === "GetParameterCommand").length;
const awsError = (name, message = name) => Object.assign(new Error(message), { name });

test("a read key is served until less than min(5 min, TTL/5) of its TTL is left, then read again", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: 0 });
  const ssm = fakeSSM([jsonVersion(1, "AKIAOLD")]);
  const creds = fromKeyrotorParameter({ parameterName: PARAM, client: ssm, ttlSeconds: 100 });
  assert.equal(creds.memoized, true, "an SDK client must use the provider as it is");
  const first = await creds();
  assert.deepEqual([first.accessKeyId, first.secretAccessKey, first.expiration.getTime()], ["AKIAOLD", SECRET, 100_000]);
  ssm.versions.push(jsonVersion(2, "AKIANEW"));
  t.mock.timers.tick(79_999); // 20.001 s left: more than TTL/5
  assert.equal((await creds()).accessKeyId, "AKIAOLD");
  t.mock.timers.tick(2); // under 20 s left: read again before it expires
  const second = await creds();
  assert.deepEqual([second.accessKeyId, second.expiration.getTime(), reads(ssm)], ["AKIANEW", 180_001, 2]);
});

test("a long TTL is re-read in the SDK's own 5-minute window", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: 0 });
  const ssm = fakeSSM([jsonVersion(1, "AKIAOLD")]);
  const creds = fromKeyrotorParameter({ parameterName: PARAM, client: ssm, ttlSeconds: 3600 });
  await creds();
  t.mock.timers.tick(3600_000 - 300_001);
  await creds();
  assert.equal(reads(ssm), 1);
  t.mock.timers.tick(2);
  await creds();
  assert.equal(reads(ssm), 2);
});

test("forceRefresh reads the parameter at once", async () => {
  const ssm = fakeSSM([jsonVersion(1, "AKIAOLD")]);
  const creds = fromKeyrotorParameter({ parameterName: PARAM, client: ssm });
  await creds();
  ssm.versions.push(jsonVersion(2, "AKIANEW"));
  assert.equal((await creds()).accessKeyId, "AKIAOLD");
  assert.equal((await creds({ forceRefresh: true })).accessKeyId, "AKIANEW");
});

test("a failed re-read keeps the key for another minute; a forced one fails", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: 0 });
  const warnings = [];
  const ssm = fakeSSM([jsonVersion(1, "AKIAOLD")]);
  const creds = fromKeyrotorParameter({ parameterName: PARAM, client: ssm, ttlSeconds: 100, logger: { warn: (r) => warnings.push(r) } });
  await creds();
  t.mock.timers.tick(90_000);
  ssm.fail = awsError("ThrottlingException", "Rate exceeded");
  const kept = await creds();
  assert.equal(kept.accessKeyId, "AKIAOLD");
  assert.equal(kept.expiration.getTime(), 90_000 + 20_000 + 60_000);
  assert.equal(warnings.length, 1);
  assert.doesNotMatch(JSON.stringify(warnings), new RegExp(SECRET.replace(/[/]/g, "\\/")));
  await assert.rejects(creds({ forceRefresh: true }), /keyrotor: read parameter \/keyrotor\/s3-signer: Rate exceeded/);
});

test("errors name the parameter and what to do, never the value", async (t) => {
  const cases = [
    { name: "missing parameter", fail: awsError("ParameterNotFound"), want: /parameter \/keyrotor\/s3-signer does not exist.*run a keyrotor rotation/ },
    {
      name: "read denied",
      fail: awsError("AccessDeniedException", "User: arn:aws:iam::123456789012:user/app is not authorized to perform: ssm:GetParameter on resource: arn:aws:ssm:eu-west-1:123456789012:parameter/keyrotor/s3-signer"),
      want: /not allowed to read parameter \/keyrotor\/s3-signer: ssm:GetParameter was refused; the caller needs ssm:GetParameter on it and kms:Decrypt on its KMS key/,
    },
    {
      name: "decrypt denied",
      fail: awsError("AccessDeniedException", "User: arn:aws:iam::123456789012:user/app is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:123456789012:key/1"),
      want: /not allowed to read parameter \/keyrotor\/s3-signer: kms:Decrypt was refused/,
    },
    { name: "raw value read as json", versions: [{ version: 3, value: SECRET, description: "keyrotor:AKIA1" }], want: /\(version 3\) is not JSON .*read it with format "raw"/ },
    { name: "broken json", versions: [{ version: 4, value: `{"AccessKeyId":"AKIA1","SecretAccessKey":"${SECRET}"`, description: "" }], want: /\(version 4\) is not valid JSON/ },
    { name: "json lacking the secret", versions: [{ version: 5, value: '{"AccessKeyId":"AKIA1"}', description: "" }], want: /lacks AccessKeyId or SecretAccessKey/ },
    { name: "json read as raw", format: "raw", versions: [jsonVersion(6, "AKIA1")], want: /holds JSON, not a raw secret; .*format "json"/ },
    { name: "raw without keyrotor's description", format: "raw", versions: [{ version: 7, value: SECRET, description: "hand-written" }], want: /\(version 7\) has no Description "keyrotor:<AccessKeyId>"/ },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const ssm = fakeSSM(c.versions || [jsonVersion(1, "AKIA1")]);
      ssm.fail = c.fail;
      const creds = fromKeyrotorParameter({ parameterName: PARAM, client: ssm, format: c.format });
      const err = await creds().then(() => assert.fail("read succeeded"), (e) => e);
      assert.match(err.message, c.want);
      assert.equal(err.tryNextLink, false);
      assert.ok(!err.message.includes(SECRET) && !String(err.stack).includes(SECRET), "the secret is in the error");
    });
  }
});

test("raw format takes the key id from the Description of the version read", async () => {
  const ssm = fakeSSM([
    { version: 1, value: "old-secret", description: "keyrotor:AKIAOLD" },
    { version: 2, value: SECRET, description: "keyrotor:AKIANEW" },
  ]);
  const creds = fromKeyrotorParameter({ parameterName: PARAM, client: ssm, format: "raw" });
  const got = await creds();
  assert.deepEqual([got.accessKeyId, got.secretAccessKey], ["AKIANEW", SECRET]);
});

test("bad options are refused with what to pass", () => {
  assert.throws(() => fromKeyrotorParameter({}), /no parameterName given/);
  assert.throws(() => fromKeyrotorParameter({ parameterName: PARAM, format: "yaml" }), /must be "json" or "raw"/);
  assert.throws(() => fromKeyrotorParameter({ parameterName: PARAM, ttlSeconds: 0 }), /shorter than the rotation's graceSeconds/);
});

test("the auth-failure middleware re-reads a refused key and makes the attempt retryable once", async (t) => {
  const ssm = fakeSSM([jsonVersion(1, "AKIAOLD")]);
  const creds = fromKeyrotorParameter({ parameterName: PARAM, client: ssm });
  const old = await creds();
  ssm.versions.push(jsonVersion(2, "AKIANEW"));
  const context = { __smithy_context: { selectedHttpAuthScheme: { identity: old } } };
  const refusal = () => awsError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");
  const handler = refreshOnAuthFailureMiddleware(creds)(async () => { throw refusal(); }, context);

  const first = await handler({}).then(() => assert.fail("no error"), (e) => e);
  assert.ok(first.$retryable, "the first refusal is not retryable");
  assert.equal(context.__smithy_context.selectedHttpAuthScheme.identity.accessKeyId, "AKIANEW");
  assert.equal(reads(ssm), 2);
  const second = await handler({}).then(() => assert.fail("no error"), (e) => e);
  assert.equal(second.$retryable, undefined, "a second refusal in one operation is retried");

  await t.test("a refusal of a key no longer held does not read again", async () => {
    const ctx = { __smithy_context: { selectedHttpAuthScheme: { identity: old } } };
    const h = refreshOnAuthFailureMiddleware(creds)(async () => { throw refusal(); }, ctx);
    const before = reads(ssm);
    await assert.rejects(h({}));
    assert.equal(reads(ssm), before);
    assert.equal(ctx.__smithy_context.selectedHttpAuthScheme.identity.accessKeyId, "AKIANEW");
  });
  await t.test("other errors pass through untouched", async () => {
    const h = refreshOnAuthFailureMiddleware(creds)(async () => { throw awsError("NoSuchKey"); }, context);
    const err = await h({}).then(() => assert.fail("no error"), (e) => e);
    assert.equal(err.$retryable, undefined);
  });
});

test("every auth-failure code is recognised, and nothing else", () => {
  for (const code of AUTH_FAILURE_CODES) assert.ok(isAuthFailure(awsError(code)), code);
  for (const code of ["AccessDenied", "NoSuchKey", "ThrottlingException"]) assert.ok(!isAuthFailure(awsError(code)), code);
});
