// Package awsmodel holds the local AWS to AWS's own rules for requests: it loads the API models
// AWS publishes for every service (botocore's data/<service>/<version>/service-2.json, the
// files the AWS CLI and boto3 are generated from) and checks a request's members against them —
// required members, string and list lengths, numeric ranges, patterns and enums — as the
// service does before it acts. A violation is answered as the service answers it (refusal.go).
package awsmodel

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dlclark/regexp2"
)

// Services are the botocore model directories the local AWS loads: the services keyrotor
// calls through the fault proxy, and the two APIs the local engine serves itself.
var Services = []string{"iam", "sts", "ssm", "kms", "s3", "organizations", "stepfunctions", "lambda"}

// Shape is one shape of a model.
type Shape struct {
	Type      string // structure, list, map, string, integer, long, boolean, blob, timestamp, ...
	Required  []string
	Members   map[string]*Ref
	Member    *Ref // list element
	Key       *Ref // map key
	Value     *Ref // map value
	Min, Max  *float64
	Pattern   string
	Enum      []string
	Flattened bool
	Sensitive bool

	match func(string) bool // Pattern, applied to the whole value; nil if it cannot be compiled
	reErr error
}

// Ref is a reference to a shape from a member, list or map.
type Ref struct {
	Shape        string
	Location     string // "", uri, querystring, header, headers, statusCode
	LocationName string
	Flattened    bool
	shape        *Shape
}

// Operation is one API operation.
type Operation struct {
	Name string
	HTTP struct {
		Method     string
		RequestURI string
	}
	Input *Ref

	route *route // REST protocols: the request URI as a matcher
}

// Service is one service's model.
type Service struct {
	Dir          string // botocore directory name: iam, stepfunctions, ...
	Version      string
	Protocol     string // query, json, rest-json, rest-xml
	SigningName  string // the SigV4 service name: iam, states, lambda, ...
	TargetPrefix string // json protocol: X-Amz-Target prefix
	Operations   map[string]*Operation
	shapes       map[string]*Shape
}

// Models are the loaded services, by SigV4 signing name.
type Models struct {
	Dir      string // botocore's data directory
	services map[string]*Service
}

type rawModel struct {
	Metadata struct {
		APIVersion   string `json:"apiVersion"`
		Protocol     string `json:"protocol"`
		SigningName  string `json:"signingName"`
		Endpoint     string `json:"endpointPrefix"`
		TargetPrefix string `json:"targetPrefix"`
	} `json:"metadata"`
	Operations map[string]*Operation `json:"operations"`
	Shapes     map[string]*Shape     `json:"shapes"`
}

// ErrNoModels is returned (wrapped) when botocore's models cannot be found.
var ErrNoModels = errors.New("AWS's API models (botocore) were not found")

// DataDir finds botocore's data directory: $KEYROTOR_BOTOCORE_DATA, else the botocore package
// python3 imports (moto's dependency; Debian's python3-botocore has the same files).
func DataDir() (string, error) {
	if dir := os.Getenv("KEYROTOR_BOTOCORE_DATA"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "iam")); err != nil {
			return "", fmt.Errorf("%w: KEYROTOR_BOTOCORE_DATA=%s holds no iam model: %v", ErrNoModels, dir, err)
		}
		return dir, nil
	}
	// Asking python3 costs seconds on a busy machine (pyenv's shims): every test process would
	// pay it, so the answer is kept in the user's cache directory while it stays valid.
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(dir, "keyrotor", "botocore-data")
		if b, err := os.ReadFile(cache); err == nil {
			if dir := strings.TrimSpace(string(b)); dir != "" {
				if _, err := os.Stat(filepath.Join(dir, "iam")); err == nil {
					return dir, nil
				}
			}
		}
	}
	out, err := exec.Command("python3", "-c", "import botocore, os; print(os.path.dirname(botocore.__file__))").Output()
	if err != nil {
		return "", fmt.Errorf("%w: python3 cannot import botocore (%v); install moto[server] (pip install 'moto[server]') or python3-botocore, or set KEYROTOR_BOTOCORE_DATA to botocore's data directory", ErrNoModels, err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "data")
	if cache != "" && os.MkdirAll(filepath.Dir(cache), 0o755) == nil {
		_ = os.WriteFile(cache, []byte(dir+"\n"), 0o644)
	}
	return dir, nil
}

var (
	defaultOnce   sync.Once
	defaultModels *Models
	defaultErr    error
)

// Default loads Services from DataDir once per process.
func Default() (*Models, error) {
	defaultOnce.Do(func() {
		dir, err := DataDir()
		if err != nil {
			defaultErr = err
			return
		}
		defaultModels, defaultErr = Load(dir, Services...)
	})
	return defaultModels, defaultErr
}

// Load reads the newest version of each named service's model from botocore's data directory.
func Load(dataDir string, services ...string) (*Models, error) {
	m := &Models{Dir: dataDir, services: map[string]*Service{}}
	for _, name := range services {
		s, err := loadService(dataDir, name)
		if err != nil {
			return nil, err
		}
		m.services[s.SigningName] = s
	}
	return m, nil
}

func loadService(dataDir, name string) (*Service, error) {
	entries, err := os.ReadDir(filepath.Join(dataDir, name))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoModels, name, err)
	}
	var versions []string
	for _, e := range entries {
		if e.IsDir() {
			versions = append(versions, e.Name())
		}
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: no version of %s under %s", ErrNoModels, name, dataDir)
	}
	slices.Sort(versions) // dates: the last is the newest
	version := versions[len(versions)-1]
	data, err := readModel(filepath.Join(dataDir, name, version))
	if err != nil {
		return nil, err
	}
	var raw rawModel
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("AWS model of %s %s: %w", name, version, err)
	}
	s := &Service{
		Dir: name, Version: version, Protocol: raw.Metadata.Protocol, TargetPrefix: raw.Metadata.TargetPrefix,
		SigningName: raw.Metadata.SigningName, Operations: raw.Operations, shapes: raw.Shapes,
	}
	if s.SigningName == "" {
		s.SigningName = raw.Metadata.Endpoint
	}
	for _, sh := range s.shapes {
		for _, r := range sh.Members {
			r.shape = s.shapes[r.Shape]
		}
		for _, r := range []*Ref{sh.Member, sh.Key, sh.Value} {
			if r != nil {
				r.shape = s.shapes[r.Shape]
			}
		}
		if sh.Pattern != "" {
			sh.match, sh.reErr = compilePattern(sh.Pattern)
		}
	}
	for name, op := range s.Operations {
		op.Name = name
		if op.Input != nil {
			op.Input.shape = s.shapes[op.Input.Shape]
		}
		if strings.HasPrefix(s.Protocol, "rest-") {
			op.route = newRoute(op.HTTP.Method, op.HTTP.RequestURI)
		}
	}
	return s, nil
}

func readModel(dir string) ([]byte, error) {
	if data, err := os.ReadFile(filepath.Join(dir, "service-2.json")); err == nil {
		return data, nil
	}
	f, err := os.Open(filepath.Join(dir, "service-2.json.gz"))
	if err != nil {
		return nil, fmt.Errorf("%w: %s has no service-2.json(.gz): %v", ErrNoModels, dir, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("AWS model %s: %w", dir, err)
	}
	return io.ReadAll(zr)
}

// javaEscape is \uXXXX, which AWS's (Java) patterns use and Go's regexp spells \x{XXXX}.
var javaEscape = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

// compilePattern compiles a model pattern as AWS applies it: to the whole value (IAM refuses
// "a b" as a user name against [\w+=,.@-]+). Patterns with lookarounds, which Go's RE2 lacks
// (IAM's account alias, Step Functions' CharacterRestrictedName), go to regexp2, a
// backtracking engine of the .NET/Java family, bounded in time.
func compilePattern(p string) (func(string) bool, error) {
	if re, err := regexp.Compile(`^(?:` + javaEscape.ReplaceAllString(p, `\x{$1}`) + `)$`); err == nil {
		return re.MatchString, nil
	}
	re, err := regexp2.Compile(`^(?:`+p+`)$`, regexp2.None)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = 100 * time.Millisecond
	return func(s string) bool {
		ok, err := re.MatchString(s)
		return ok || err != nil // a value the engine cannot decide on in time is let through
	}, nil
}

// Service returns the model of the service with SigV4 name signingName (iam, states, ...).
func (m *Models) Service(signingName string) *Service { return m.services[signingName] }

// Operations counts the operations of every loaded service.
func (m *Models) Operations() int {
	n := 0
	for _, s := range m.services {
		n += len(s.Operations)
	}
	return n
}

// Patterns reports how many patterns the models hold and which Go cannot compile (those are
// not checked).
func (m *Models) Patterns() (total int, uncompiled []string) {
	for _, s := range m.services {
		for name, sh := range s.shapes {
			if sh.Pattern == "" {
				continue
			}
			total++
			if sh.reErr != nil {
				uncompiled = append(uncompiled, s.Dir+"."+name)
			}
		}
	}
	slices.Sort(uncompiled)
	return total, uncompiled
}
