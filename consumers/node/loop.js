"use strict";
// The consumer loop internal/harness/consumer runs against moto across real rotations: W
// workers put and get objects with an S3 client signed by fromKeyrotorParameter until stdin
// closes. It prints {"iterations":n,"reads":r} after each iteration and one {"summary":…} line
// at the end on stdout; the provider's records go to stderr. KEYROTOR_MODE=once makes a single
// request (the denied-reader case). AWS_* in the environment are the consumer's own role,
// which reads the parameter.
const { S3Client, PutObjectCommand, GetObjectCommand } = require("@aws-sdk/client-s3");
const { fromKeyrotorParameter, getRefreshOnAuthFailurePlugin, isAuthFailure } = require(".");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

async function main() {
  const bucket = env("KEYROTOR_BUCKET");
  const workers = Number(process.env.KEYROTOR_WORKERS || "1");
  let reads = 0;
  const credentials = fromKeyrotorParameter({
    parameterName: env("KEYROTOR_PARAMETER"),
    format: env("KEYROTOR_FORMAT"),
    ttlSeconds: Number(env("KEYROTOR_TTL_SECONDS")),
    logger: {
      info: (r) => { reads++; console.error(JSON.stringify({ level: "INFO", ...r })); },
      warn: (r) => console.error(JSON.stringify({ level: "WARN", ...r })),
    },
  });
  const s3 = new S3Client({ credentials, forcePathStyle: true });
  s3.middlewareStack.use(getRefreshOnAuthFailurePlugin(credentials));
  // Counts refused attempts: outside the refresh middleware, inside the retry loop.
  const stats = { requests: 0, failed: 0, retries: 0, maxAttempts: 0, authFailedAttempts: 0, failures: [], keys: [] };
  s3.middlewareStack.addRelativeTo((next) => async (args) => {
    try {
      return await next(args);
    } catch (err) {
      if (isAuthFailure(err)) stats.authFailedAttempts++;
      throw err;
    }
  }, { name: "countRefused", step: "finalizeRequest", relation: "after", toMiddleware: "retryMiddleware" });

  const send = async (command) => {
    stats.requests++;
    try {
      const out = await s3.send(command);
      const attempts = out.$metadata.attempts || 1;
      stats.retries += attempts - 1;
      stats.maxAttempts = Math.max(stats.maxAttempts, attempts);
      return out;
    } catch (err) {
      stats.failed++;
      stats.failures.push(`${err.name}: ${err.message}`);
      return undefined;
    }
  };

  if (process.env.KEYROTOR_MODE === "once") {
    await send(new PutObjectCommand({ Bucket: bucket, Key: "once", Body: "once" }));
    console.log(JSON.stringify({ summary: { ...stats, reads } }));
    return;
  }

  let stopped = false;
  process.stdin.on("end", () => { stopped = true; });
  process.stdin.resume();
  let iterations = 0;
  const work = async (w) => {
    for (let i = 0; !stopped && i < 5000; i++) {
      const key = `signed/${w}/${i}`, body = `payload ${w}/${i}`;
      await send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      const got = await send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (got) {
        const text = await got.Body.transformToString();
        if (text !== body) { stats.failed++; stats.failures.push(`GetObject ${key} returned ${JSON.stringify(text)}, want ${JSON.stringify(body)}`); }
      }
      const id = (await credentials()).accessKeyId;
      if (!stats.keys.includes(id)) stats.keys.push(id);
      iterations++;
      console.log(JSON.stringify({ iterations, reads }));
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => work(w)));
  console.log(JSON.stringify({ summary: { ...stats, reads } }));
}

main().catch((err) => {
  console.error(`consumer loop: ${err.message}`);
  process.exit(1);
});
