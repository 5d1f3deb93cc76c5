package sfnlocal

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
)

// Intrinsic functions that encode, hash and make identifiers.

// maxEncodedInput is AWS's limit on the input of States.Base64Encode/Decode and States.Hash.
const maxEncodedInput = 10000

var encodingIntrinsics = map[string]intrinsicFunc{
	"States.Base64Encode": {params: []paramKind{stringParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		s, err := encodableInput(c, a)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.EncodeToString([]byte(s)), nil
	}},
	"States.Base64Decode": {params: []paramKind{stringParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		s, err := encodableInput(c, a)
		if err != nil {
			return nil, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, intrinsicFailure(c, "%q is not base64: %v", s, err)
		}
		return string(b), nil
	}},
	"States.Hash": {params: []paramKind{stringParam, stringParam}, run: func(c *intrinsicCall, a intrinsicArgs, _ randSource) (any, error) {
		s, err := encodableInput(c, a)
		if err != nil {
			return nil, err
		}
		var h hash.Hash
		switch alg := a.str(1); alg {
		case "MD5":
			h = md5.New()
		case "SHA-1":
			h = sha1.New()
		case "SHA-256":
			h = sha256.New()
		case "SHA-384":
			h = sha512.New384()
		case "SHA-512":
			h = sha512.New()
		default:
			return nil, intrinsicFailure(c, "algorithm %q is not one of MD5, SHA-1, SHA-256, SHA-384, SHA-512", alg)
		}
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil)), nil
	}},
	"States.UUID": {run: func(*intrinsicCall, intrinsicArgs, randSource) (any, error) {
		return newUUID(), nil
	}},
}

// encodableInput is the first argument of the encoding and hashing functions, within AWS's
// limit.
func encodableInput(c *intrinsicCall, a intrinsicArgs) (string, error) {
	s := a.str(0)
	if len(s) > maxEncodedInput {
		return "", intrinsicFailure(c, "the input has more than %d characters", maxEncodedInput)
	}
	return s, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
