package awsmodel

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Refusal is how a service answers a request that fails its model's constraints.
type Refusal struct {
	Status  int
	Header  http.Header
	Body    []byte
	Code    string
	Message string
}

// Refuse answers vs as the service does (always HTTP 400):
//   - query protocol (IAM, STS): <ErrorResponse><Error><Type>Sender</Type><Code>ValidationError
//     ("ValidationError: the input fails to satisfy the constraints specified by an AWS
//     service", Common Errors of the IAM and STS API references);
//   - JSON protocols (SSM, KMS, Step Functions) and Lambda's REST-JSON: ValidationException
//     (the JSON services' Common Errors), {"__type": ..., "message": ...};
//   - Organizations: InvalidInputException with the Reason its model enumerates
//     (INPUT_REQUIRED, INVALID_PATTERN, MAX_LENGTH_EXCEEDED, ...);
//   - S3 (REST-XML): <Error><Code>InvalidArgument</Code> ("Error responses", S3 API reference).
//
// The message is AWS's: "1 validation error detected: Value '...' at '...' failed to satisfy
// constraint: ...".
func (s *Service) Refuse(vs []Violation, requestID string) Refusal {
	msg := Message(vs)
	h := http.Header{}
	h.Set("X-Amzn-RequestId", requestID)
	r := Refusal{Status: http.StatusBadRequest, Header: h, Message: msg}
	switch {
	case s.Protocol == "query":
		r.Code = "ValidationError"
		h.Set("Content-Type", "text/xml")
		r.Body = QueryErrorBody(r.Code, msg, requestID)
	case s.Protocol == "rest-xml":
		r.Code = "InvalidArgument"
		h.Set("Content-Type", "application/xml")
		r.Body = xmlErrorBody(false, r.Code, msg, requestID)
	case s.SigningName == "organizations":
		r.Code = "InvalidInputException"
		r.Body, _ = json.Marshal(map[string]string{"__type": r.Code, "Message": msg, "Reason": organizationsReason(vs[0])})
	default:
		r.Code = "ValidationException"
		r.Body = JSONErrorBody(r.Code, msg)
	}
	if r.Header.Get("Content-Type") == "" {
		ct := "application/x-amz-json-1.1"
		if s.Protocol == "rest-json" {
			ct = "application/json"
		} else if s.SigningName == "states" {
			ct = "application/x-amz-json-1.0"
		}
		h.Set("Content-Type", ct)
		h.Set("X-Amzn-ErrorType", r.Code)
	}
	return r
}

// QueryErrorBody is an error as the query protocol (IAM, STS) sends it:
// <ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>.
func QueryErrorBody(code, message, requestID string) []byte {
	return xmlErrorBody(true, code, message, requestID)
}

// JSONErrorBody is an error as the JSON protocols (SSM, KMS, Step Functions) send it:
// {"__type": code, "message": message}.
func JSONErrorBody(code, message string) []byte {
	b, _ := json.Marshal(map[string]string{"__type": code, "message": message})
	return b
}

// xmlErrorBody writes the query protocol's error document, or with query false S3's
// (REST-XML): <Error><Code>…</Code><Message>…</Message><RequestId>…</RequestId></Error>.
func xmlErrorBody(query bool, code, message, requestID string) []byte {
	var b bytes.Buffer
	elem := func(name, text string) {
		b.WriteString("<" + name + ">")
		_ = xml.EscapeText(&b, []byte(text))
		b.WriteString("</" + name + ">")
	}
	if query {
		b.WriteString("<ErrorResponse><Error><Type>Sender</Type>")
	} else {
		b.WriteString("<Error>")
	}
	elem("Code", code)
	elem("Message", message)
	if query {
		b.WriteString("</Error>")
	}
	elem("RequestId", requestID)
	if query {
		b.WriteString("</ErrorResponse>")
	} else {
		b.WriteString("</Error>")
	}
	return b.Bytes()
}

// Write sends the refusal.
func (r Refusal) Write(w http.ResponseWriter) {
	for k, v := range r.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.Status)
	_, _ = w.Write(r.Body)
}

func organizationsReason(v Violation) string {
	c := v.Constraint
	switch {
	case v.Value == nil:
		return "INPUT_REQUIRED"
	case strings.Contains(c, "regular expression"):
		return "INVALID_PATTERN"
	case strings.Contains(c, "enum"):
		return "INVALID_ENUM"
	case strings.Contains(c, "length greater"):
		return "MIN_LENGTH_EXCEEDED"
	case strings.Contains(c, "length less"):
		return "MAX_LENGTH_EXCEEDED"
	case strings.Contains(c, "value greater"):
		return "MIN_VALUE_EXCEEDED"
	default:
		return "MAX_VALUE_EXCEEDED"
	}
}

// Checker checks the requests one endpoint receives and counts them.
type Checker struct {
	Models           *Models
	name             string
	checked, refused atomic.Int64
	tallyOnce        sync.Once
}

// NewChecker returns a checker over Default's models; name says which endpoint it serves
// (proxy, sfnapi, lambda) in its tally.
func NewChecker(name string) (*Checker, error) {
	m, err := Default()
	if err != nil {
		return nil, err
	}
	return &Checker{Models: m, name: name}, nil
}

// Check looks up req's operation in the model of service signingName and checks its input.
// known is false when the model has no such operation (nothing is counted then).
func (c *Checker) Check(signingName string, req Request) (op string, vs []Violation, known bool) {
	s := c.Models.Service(signingName)
	if s == nil {
		return "", nil, false
	}
	o, in := s.Operation(req)
	if o == nil {
		return "", nil, false
	}
	vs = s.Check(o, in)
	c.checked.Add(1)
	if len(vs) > 0 {
		c.refused.Add(1)
	}
	return o.Name, vs, true
}

// Counts returns how many requests were checked and how many were refused.
func (c *Checker) Counts() (checked, refused int64) { return c.checked.Load(), c.refused.Load() }

// TallyEnv names a directory: when set, each Checker writes its counts there once, on
// WriteTally (its endpoint's Close), so that `make test` can sum what every test process
// checked (cmd/awsmodels-summary).
const TallyEnv = "KEYROTOR_AWS_MODELS_TALLY"

// Tally is one checker's counts as written to the tally directory.
type Tally struct {
	Endpoint string `json:"endpoint"`
	Checked  int64  `json:"checked"`
	Refused  int64  `json:"refused"`
}

var tallySeq atomic.Int64

// WriteTally writes the counts to $KEYROTOR_AWS_MODELS_TALLY (once; nothing when unset or
// nothing was checked).
func (c *Checker) WriteTally() error {
	dir := os.Getenv(TallyEnv)
	if c == nil || dir == "" {
		return nil
	}
	var err error
	c.tallyOnce.Do(func() {
		checked, refused := c.Counts()
		if checked == 0 {
			return
		}
		data, _ := json.Marshal(Tally{Endpoint: c.name, Checked: checked, Refused: refused})
		name := fmt.Sprintf("%s-%d-%d.json", c.name, os.Getpid(), tallySeq.Add(1))
		if err = os.MkdirAll(dir, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(dir, name), data, 0o644)
		}
	})
	return err
}

// Handler checks each request of service signingName before next serves it, and refuses one
// that breaks the model as that service does.
func (c *Checker) Handler(signingName string, next http.Handler) http.Handler {
	s := c.Models.Service(signingName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if _, vs, _ := c.Check(signingName, FromHTTP(r, body)); len(vs) > 0 {
			s.Refuse(vs, newRequestID()).Write(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
