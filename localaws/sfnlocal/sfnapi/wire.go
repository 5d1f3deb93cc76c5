package sfnapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// epoch is a timestamp as AWS JSON 1.0 sends it: seconds since the epoch, with milliseconds.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

func epochPtr(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

// newUUID returns a random (version 4) UUID, the form AWS gives unnamed executions.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// checkName applies Step Functions' rules for state machine and execution names.
func checkName(kind, name string) *Error {
	n := utf8.RuneCountInString(name)
	if n < 1 || n > 80 {
		return apiErr(CodeInvalidName, "Invalid Name: '%s' (a %s name must be 1 to 80 characters long, it has %d)", name, kind, n)
	}
	for _, r := range name {
		switch {
		case unicode.IsSpace(r) || unicode.IsControl(r): // IsControl covers U+0000-001F and U+007F-009F
			return apiErr(CodeInvalidName, "Invalid Name: '%s' (a %s name must not contain white space or control characters)", name, kind)
		case strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r):
			return apiErr(CodeInvalidName, "Invalid Name: '%s' (a %s name must not contain %q; letters, digits, '-' and '_' are safe)", name, kind, r)
		}
	}
	return nil
}

// arnParts splits arn:partition:states:region:account:<kind>:<rest> and checks the kind.
func arnParts(arn, kind string) (region, account, rest string, err *Error) {
	p := strings.SplitN(arn, ":", 7)
	if len(p) != 7 || p[0] != "arn" || p[1] == "" || p[2] != "states" || p[5] != kind || p[6] == "" {
		return "", "", "", apiErr(CodeInvalidArn, "Invalid Arn: '%s' (expected arn:aws:states:<region>:<account>:%s:<name>)", arn, kind)
	}
	return p[3], p[4], p[6], nil
}

// pageToken is the opaque nextToken of the List/Get operations. It names the position of the
// next item by a stable key (event index, creation sequence), so items appended between
// pages neither repeat nor go missing.
type pageToken struct {
	Op    string `json:"o"`
	Scope string `json:"s"`
	Next  int64  `json:"n"`
	Rev   bool   `json:"r,omitempty"`
}

func (t pageToken) encode() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s, op, scope string) (pageToken, *Error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Op != op || t.Scope != scope {
		return t, apiErr(CodeInvalidToken, "Invalid Token: '%s' (pass the nextToken of the previous %s response unchanged, with the same arguments)", s, op)
	}
	return t, nil
}

// pageSize applies AWS's maxResults rule: 0 means the default of 100, at most 1000.
func pageSize(maxResults int32) (int, *Error) {
	switch {
	case maxResults < 0 || maxResults > 1000:
		return 0, apiErr(CodeValidationException, "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 0 and 1000", maxResults)
	case maxResults == 0:
		return 100, nil
	default:
		return int(maxResults), nil
	}
}
