"use strict";
// AWS SDK for JavaScript v3 credentials from a keyrotor SSM parameter: the Node.js counterpart
// of the Go module ssmcreds (same formats, TTL rule, error texts and auth-failure codes).

const { SSMClient, GetParameterCommand, paginateGetParameterHistory } = require("@aws-sdk/client-ssm");
const { CredentialsProviderError, memoize } = require("@smithy/property-provider");
const { getSmithyContext } = require("@smithy/core");

/** How long a read key is used before the parameter is read again; keep it under graceSeconds. */
const DEFAULT_TTL_SECONDS = 300;
/** The SDK's own window for refreshing credentials before their expiration (5 minutes). */
const SDK_REFRESH_WINDOW_MS = 300_000;
/** How long a key is kept after a failed re-read before the parameter is read again. */
const REFRESH_RETRY_INTERVAL_MS = 60_000;
/** How internal/rotation marks the key a parameter version holds: "keyrotor:<AccessKeyId>". */
const DESCRIPTION_PREFIX = "keyrotor:";
const FORMATS = ["json", "raw"];

/**
 * Error codes AWS answers when the signing key is unknown, deleted, inactive or does not match
 * its secret — what a rotated-away key gets (ssmcreds/authfailure.go holds the same list).
 */
const AUTH_FAILURE_CODES = Object.freeze([
  "InvalidClientTokenId", // query/XML services (STS, IAM, SQS…)
  "InvalidAccessKeyId", // S3: key unknown or deleted
  "SignatureDoesNotMatch", // secret does not belong to the key
  "ExpiredToken",
  "UnrecognizedClientException", // JSON services (KMS, DynamoDB, Lambda…)
  "InvalidSignatureException", // JSON services: secret does not match
]);

/** Whether err says the request's key or signature was refused. */
function isAuthFailure(err) {
  const code = err && (err.name || err.Code || err.code);
  return AUTH_FAILURE_CODES.includes(code);
}

/** The time, in milliseconds before expiration, at which a key is read again. */
function refreshWindowMs(ttlMs) {
  // The SDK's window, shrunk for TTLs shorter than it so a key is not re-read on every request.
  return Math.min(SDK_REFRESH_WINDOW_MS, Math.floor(ttlMs / 5));
}

function providerError(message, cause) {
  // tryNextLink false: a chain must not fall through to other credentials when the parameter
  // was named explicitly.
  const err = new CredentialsProviderError(message, { tryNextLink: false });
  if (cause !== undefined) err.cause = cause;
  return err;
}

/**
 * Returns an AwsCredentialIdentityProvider reading the keyrotor parameter `parameterName`.
 * The identity expires `ttlSeconds` after it was read; the provider is memoized (marked so, so
 * an SDK client uses it as it is) and reads the parameter again once less than
 * min(5 minutes, ttl/5) remains, or at once when called with {forceRefresh: true}.
 */
function fromKeyrotorParameter(init) {
  const { parameterName, format = "json", ttlSeconds = DEFAULT_TTL_SECONDS, logger } = init || {};
  if (!parameterName) {
    throw new Error("keyrotor: no parameterName given: pass the managed-key module's parameter_name, e.g. /keyrotor/s3-signer");
  }
  if (!FORMATS.includes(format)) {
    throw new Error(`keyrotor: format "${format}" for parameter ${parameterName} must be "json" or "raw", as the rotation's format input`);
  }
  if (!(ttlSeconds > 0)) {
    throw new Error(`keyrotor: ttlSeconds ${ttlSeconds} for parameter ${parameterName} must be a positive number of seconds, shorter than the rotation's graceSeconds`);
  }
  const ttlMs = ttlSeconds * 1000;
  const windowMs = refreshWindowMs(ttlMs);
  const client = init.client || new SSMClient(init.clientConfig || {});

  const readError = (err, action) => {
    const code = err && err.name;
    if (code === "ParameterNotFound") {
      return providerError(`keyrotor: parameter ${parameterName} does not exist: check the name (the managed-key module's parameter_name) ` +
        "or run a keyrotor rotation for its user, which creates it", err);
    }
    if (code && code.includes("AccessDenied")) {
      // AWS names the refused action in its message ("…is not authorized to perform: kms:Decrypt…").
      const refused = (/perform: ([a-z0-9-]+:[A-Za-z]+)/.exec(err.message || "") || [])[1] || action;
      return providerError(`keyrotor: not allowed to read parameter ${parameterName}: ${refused} was refused; ` +
        `the caller needs ssm:GetParameter on it${format === "raw" ? " and ssm:GetParameterHistory (format raw)" : ""} ` +
        "and kms:Decrypt on its KMS key", err);
    }
    return providerError(`keyrotor: read parameter ${parameterName}: ${err && err.message}`, err);
  };
  const malformed = (version, what) => providerError(`keyrotor: parameter ${parameterName} (version ${version}) ${what}`);

  const parseJSON = (value, version) => {
    if (!value.trim().startsWith("{")) {
      throw malformed(version, 'is not JSON {"AccessKeyId","SecretAccessKey"}; it looks like a raw secret (rotation format "raw"): read it with format "raw"');
    }
    let k;
    try {
      k = JSON.parse(value);
    } catch {
      // The parser's message may quote the value: never pass it on.
      throw malformed(version, 'is not valid JSON {"AccessKeyId","SecretAccessKey"}; it was not written by keyrotor: rotate the key again with keyrotor');
    }
    if (!k || typeof k.AccessKeyId !== "string" || typeof k.SecretAccessKey !== "string" || !k.AccessKeyId || !k.SecretAccessKey) {
      throw malformed(version, "lacks AccessKeyId or SecretAccessKey; it was not written by keyrotor: rotate the key again with keyrotor");
    }
    return { accessKeyId: k.AccessKeyId, secretAccessKey: k.SecretAccessKey };
  };

  // The AccessKeyId comes from the Description of exactly the version GetParameter returned,
  // so a rotation between the two calls cannot pair a secret with another key's id.
  const parseRaw = async (value, version) => {
    if (value.trim().startsWith("{")) {
      throw malformed(version, 'holds JSON, not a raw secret; it was rotated with format "json": read it with format "json"');
    }
    if (!value || /\s/.test(value)) {
      throw malformed(version, "is not a secret access key (empty or has whitespace); rotate the key again with keyrotor");
    }
    try {
      for await (const page of paginateGetParameterHistory({ client }, { Name: parameterName, WithDecryption: false })) {
        for (const v of page.Parameters || []) {
          if (v.Version !== version) continue;
          const d = v.Description || "";
          const id = d.startsWith(DESCRIPTION_PREFIX) ? d.slice(DESCRIPTION_PREFIX.length) : "";
          if (!id) {
            throw malformed(version, `has no Description "keyrotor:<AccessKeyId>", so the key id of its raw secret is unknown; ` +
              "it was not written by keyrotor: rotate the key again with keyrotor");
          }
          return { accessKeyId: id, secretAccessKey: value };
        }
      }
    } catch (err) {
      if (err instanceof CredentialsProviderError) throw err;
      throw readError(err, "ssm:GetParameterHistory");
    }
    throw malformed(version, "is missing from its history; read it again");
  };

  const read = async () => {
    let out;
    try {
      out = await client.send(new GetParameterCommand({ Name: parameterName, WithDecryption: true }));
    } catch (err) {
      throw readError(err, "ssm:GetParameter");
    }
    const p = out.Parameter;
    if (!p || typeof p.Value !== "string") throw providerError(`keyrotor: SSM returned no value for parameter ${parameterName}`);
    const key = format === "json" ? parseJSON(p.Value, p.Version) : await parseRaw(p.Value, p.Version);
    logger?.info?.({ message: "read key from keyrotor parameter", parameter: parameterName, version: p.Version, accessKeyId: key.accessKeyId, ttlSeconds });
    return { ...key, expiration: new Date(Date.now() + ttlMs) };
  };

  // A failed re-read keeps the key it had for REFRESH_RETRY_INTERVAL_MS (SSM throttled or
  // unreachable should not fail every request) — unless that key was refused (forceRefresh).
  let forced = false;
  let last;
  const readKeepingLast = async () => {
    const wasForced = forced;
    forced = false;
    try {
      last = await read();
      return last;
    } catch (err) {
      if (wasForced || !last) throw err;
      logger?.warn?.({ message: "re-reading keyrotor parameter failed; keeping the current key", parameter: parameterName,
        accessKeyId: last.accessKeyId, retryInSeconds: REFRESH_RETRY_INTERVAL_MS / 1000, error: err.message });
      last = { ...last, expiration: new Date(Date.now() + windowMs + REFRESH_RETRY_INTERVAL_MS) };
      return last;
    }
  };
  const memoized = memoize(readKeepingLast, (id) => id.expiration.getTime() - Date.now() < windowMs, () => true);
  const provider = async (options) => {
    if (options?.forceRefresh) forced = true;
    return memoized(options);
  };
  // An SDK client wraps a provider in its own memoization (refreshing 5 minutes before
  // expiration, so every request would re-read a shorter TTL) unless it says it is memoized.
  provider.memoized = true;
  return provider;
}

/**
 * A middleware, inside the SDK's retry loop just before signing: when an attempt is refused
 * with an authentication failure, it re-reads the parameter (unless another request already
 * did), signs the next attempt with the new key and marks the error retryable, so the client's
 * own retry strategy (backoff, retry quota) retries it — once per operation.
 */
function refreshOnAuthFailureMiddleware(credentials) {
  return (next, context) => {
    // The handler is built per operation, so `retried` is per operation.
    let retried = false;
    return async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (!isAuthFailure(err)) throw err;
        const scheme = getSmithyContext(context).selectedHttpAuthScheme;
        const refused = scheme?.identity?.accessKeyId;
        try {
          let current = await credentials();
          // Only a refusal of the key the cache still holds re-reads it, so several requests in
          // flight refused the same old key read the parameter once.
          if (!refused || current.accessKeyId === refused) current = await credentials({ forceRefresh: true });
          if (scheme) scheme.identity = current;
        } catch (readErr) {
          context.logger?.warn?.(`keyrotor: re-reading the key after ${err.name} failed: ${readErr.message}`);
          throw err;
        }
        if (retried) throw err;
        retried = true;
        err.$retryable = err.$retryable || {};
        throw err;
      }
    };
  };
}

const refreshOnAuthFailureMiddlewareOptions = {
  name: "keyrotorRefreshOnAuthFailureMiddleware",
  step: "finalizeRequest",
  relation: "before",
  toMiddleware: "httpSigningMiddleware",
  override: true,
};

/**
 * A plugin for one client signed with `credentials` (fromKeyrotorParameter):
 * client.middlewareStack.use(getRefreshOnAuthFailurePlugin(credentials)). Do not add it to the
 * SSM client that reads the parameter.
 */
function getRefreshOnAuthFailurePlugin(credentials) {
  return {
    applyToStack: (stack) => {
      stack.addRelativeTo(refreshOnAuthFailureMiddleware(credentials), refreshOnAuthFailureMiddlewareOptions);
    },
  };
}

module.exports = {
  AUTH_FAILURE_CODES,
  DEFAULT_TTL_SECONDS,
  REFRESH_RETRY_INTERVAL_MS,
  fromKeyrotorParameter,
  getRefreshOnAuthFailurePlugin,
  isAuthFailure,
  refreshOnAuthFailureMiddleware,
  refreshOnAuthFailureMiddlewareOptions,
};
