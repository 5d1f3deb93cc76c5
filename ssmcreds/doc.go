// Package ssmcreds gives an AWS SDK for Go v2 client the access key that keyrotor keeps in an
// SSM Parameter Store SecureString, so a long-running consumer follows every rotation without
// a restart or a deploy.
//
// New returns an *aws.CredentialsCache over a Provider that reads the parameter (GetParameter
// with decryption; for format raw also the version's Description, "keyrotor:<AccessKeyId>").
// The credentials expire after a TTL (DefaultTTL), so the cache reads the parameter again;
// keep the TTL shorter than the rotation's graceSeconds so consumers move to the new key
// before the old one is deactivated. InvalidateOnAuthFailure covers the rest: a request
// refused because its key was deactivated or deleted invalidates the cache and is retried
// once with the key read afresh.
//
// The parameter is read with the consumer's own credentials (its role), typically from
// config.LoadDefaultConfig; only the client that should sign with the rotated key gets the
// ssmcreds credentials. That role needs ssm:GetParameter on the parameter and kms:Decrypt on
// its KMS key (for format raw also ssm:GetParameterHistory). The secret access key never
// appears in errors or logs.
package ssmcreds
