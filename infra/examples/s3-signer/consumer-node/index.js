"use strict";
// The s3-signer example's consumer in Node.js, beside the Go one (../consumer): a Lambda handler
// that returns a presigned S3 GET URL signed with the key keyrotor rotates into
// SIGNER_PARAMETER_NAME, read at run time through @keyrotor/credentials (consumers/node).
// Same request, response and environment as the Go consumer.
const { S3Client, GetObjectCommand } = require("@aws-sdk/client-s3");
const { getSignedUrl } = require("@aws-sdk/s3-request-presigner");
const { fromKeyrotorParameter, DEFAULT_TTL_SECONDS } = require("@keyrotor/credentials");

const DEFAULT_EXPIRES_SECONDS = 900;
const MAX_EXPIRES_SECONDS = 604800; // S3 allows a week

function secondsFromEnv(name, def) {
  const v = process.env[name];
  if (!v) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} is "${v}": set it to a whole number of seconds, at least 1`);
  return n;
}

const parameterName = process.env.SIGNER_PARAMETER_NAME;
if (!parameterName) throw new Error("SIGNER_PARAMETER_NAME is not set: set it to the managed-key module's parameter_name");
// The Terraform example sets both so that its grace covers them (see its precondition).
const ttlSeconds = secondsFromEnv("SIGNER_CACHE_TTL_SECONDS", DEFAULT_TTL_SECONDS);
const maxExpires = secondsFromEnv("SIGNER_URL_MAX_SECONDS", MAX_EXPIRES_SECONDS);
const log = (level) => (record) => console.log(JSON.stringify({ level, ...record }));

// The Lambda role's credentials (the default chain) read the parameter; only this client signs
// with its key. Presigning sends no request, so the TTL alone moves URLs to a new key.
const endpoint = process.env.SIGNER_S3_ENDPOINT;
const s3 = new S3Client({
  credentials: fromKeyrotorParameter({ parameterName, ttlSeconds, logger: { info: log("INFO"), warn: log("WARN") } }),
  ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
});

exports.handler = async (req) => {
  const { bucket, key, expiresSeconds } = req || {};
  if (!bucket || !key) throw new Error('invalid request: bucket and key are required, e.g. {"bucket":"reports","key":"2026/q3.pdf"}');
  const expires = expiresSeconds || DEFAULT_EXPIRES_SECONDS;
  if (!Number.isInteger(expires) || expires < 1 || expires > maxExpires) {
    throw new Error(`invalid request: expiresSeconds ${expiresSeconds} must be between 1 and ${maxExpires}`);
  }
  const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: expires });
  // The URL says which key signed it and when; the response repeats both, never the secret.
  const q = new URL(url).searchParams;
  const d = q.get("X-Amz-Date"); // 20060102T150405Z
  const signedAt = Date.UTC(+d.slice(0, 4), +d.slice(4, 6) - 1, +d.slice(6, 8), +d.slice(9, 11), +d.slice(11, 13), +d.slice(13, 15));
  const accessKeyId = (q.get("X-Amz-Credential") || "").split("/")[0];
  const expiresAt = new Date(signedAt + expires * 1000).toISOString();
  log("INFO")({ message: "presigned", bucket, key, accessKeyId, expiresAt });
  return { url, expiresAt, accessKeyId };
};
