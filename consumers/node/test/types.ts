// Compiled (not run) by the harness with tsc --noEmit --strict: the package's types describe
// how a consumer wires it into an SDK client.
import { S3Client } from "@aws-sdk/client-s3";
import { SSMClient } from "@aws-sdk/client-ssm";
import {
  AUTH_FAILURE_CODES,
  fromKeyrotorParameter,
  getRefreshOnAuthFailurePlugin,
  isAuthFailure,
  type KeyrotorCredentialProvider,
} from "..";

const credentials: KeyrotorCredentialProvider = fromKeyrotorParameter({
  parameterName: "/keyrotor/s3-signer",
  format: "raw",
  ttlSeconds: 300,
  client: new SSMClient({}),
  logger: console,
});
const s3 = new S3Client({ credentials });
s3.middlewareStack.use(getRefreshOnAuthFailurePlugin(credentials));

async function use(): Promise<Date> {
  const identity = await credentials({ forceRefresh: true });
  const codes: readonly string[] = AUTH_FAILURE_CODES;
  return isAuthFailure(new Error(codes[0])) ? new Date() : identity.expiration;
}
void use;

// @ts-expect-error: a format keyrotor does not write is refused by the types too.
fromKeyrotorParameter({ parameterName: "/keyrotor/s3-signer", format: "yaml" });
// @ts-expect-error: the parameter's name is required.
fromKeyrotorParameter({ ttlSeconds: 300 });
