package rotation

import (
	"context"
	"encoding/base64"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

type sealer interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, opts ...func(*kms.Options)) (*kms.EncryptOutput, error)
}

type unsealer interface {
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// sealContext binds a sealed secret to its user, key and execution: KMS refuses to unseal it
// for anything else, and the key policy can grant Decrypt on these keys only.
func sealContext(user, accessKeyID, execution string) map[string]string {
	return map[string]string{"user": user, "accessKeyId": accessKeyID, "execution": execution}
}

// seal encrypts the secret with the engine's KMS key; the result is base64 ciphertext.
func seal(ctx context.Context, k sealer, kmsKeyID string, secret SecretKey, encCtx map[string]string) (string, error) {
	out, err := k.Encrypt(ctx, &kms.EncryptInput{
		KeyId: aws.String(kmsKeyID), Plaintext: []byte(secret.reveal()), EncryptionContext: encCtx,
	})
	if err != nil {
		return "", Classify(err, "seal the new secret with KMS")
	}
	return base64.StdEncoding.EncodeToString(out.CiphertextBlob), nil
}

func unseal(ctx context.Context, k unsealer, kmsKeyID, sealed string, encCtx map[string]string) (SecretKey, error) {
	blob, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return SecretKey{}, NewError(InvalidInput, err, "sealedSecret is not base64; pass the rotation document from CreateKey unchanged")
	}
	out, err := k.Decrypt(ctx, &kms.DecryptInput{
		KeyId: aws.String(kmsKeyID), CiphertextBlob: blob, EncryptionContext: encCtx,
	})
	if hasCode(err, "InvalidCiphertextException") {
		return SecretKey{}, NewError(InvalidInput, err, "sealedSecret does not belong to user %s, key %s and execution %s",
			encCtx["user"], encCtx["accessKeyId"], encCtx["execution"])
	}
	if err != nil {
		return SecretKey{}, Classify(err, "unseal the new secret with KMS")
	}
	return SecretKey{value: string(out.Plaintext)}, nil
}
