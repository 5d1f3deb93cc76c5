import type { SSMClient, SSMClientConfig } from "@aws-sdk/client-ssm";
import type {
  AwsCredentialIdentity,
  AwsCredentialIdentityProvider,
  FinalizeRequestMiddleware,
  Logger,
  Pluggable,
  RelativeMiddlewareOptions,
} from "@smithy/types";

/** How keyrotor wrote the parameter value (the rotation's "format" input). */
export type KeyrotorFormat = "json" | "raw";

export interface KeyrotorParameterInit {
  /** The parameter's name (the managed-key module's parameter_name output). */
  parameterName: string;
  /** "json" (keyrotor's default) or "raw" (the key id is in the version's Description). */
  format?: KeyrotorFormat;
  /** Seconds a read key is used; keep it shorter than the rotation's graceSeconds. Default 300. */
  ttlSeconds?: number;
  /** The SSM client that reads the parameter, signed with the consumer's own role. */
  client?: SSMClient;
  /** Configuration for the SSM client created when `client` is not given. */
  clientConfig?: SSMClientConfig;
  /** Receives one info record per read (parameter, version, accessKeyId — never the secret). */
  logger?: Pick<Logger, "info" | "warn">;
}

/** A memoized credential provider; {forceRefresh: true} reads the parameter again at once. */
export interface KeyrotorCredentialProvider extends AwsCredentialIdentityProvider {
  (options?: { forceRefresh?: boolean } & Record<string, unknown>): Promise<AwsCredentialIdentity & { expiration: Date }>;
  memoized: true;
}

export const AUTH_FAILURE_CODES: readonly string[];
export const DEFAULT_TTL_SECONDS: number;
export const REFRESH_RETRY_INTERVAL_MS: number;

export function fromKeyrotorParameter(init: KeyrotorParameterInit): KeyrotorCredentialProvider;
export function isAuthFailure(err: unknown): boolean;
export function refreshOnAuthFailureMiddleware(credentials: KeyrotorCredentialProvider): FinalizeRequestMiddleware<any, any>;
export const refreshOnAuthFailureMiddlewareOptions: RelativeMiddlewareOptions & { step: "finalizeRequest" };
export function getRefreshOnAuthFailurePlugin(credentials: KeyrotorCredentialProvider): Pluggable<any, any>;
