package bench

import (
	"archive/zip"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/lambdahost"
)

// Functions are the Lambda packages `make build` produces (functions/<name>): the engine's.
var Functions = deployed.Functions

// Function is one Lambda package: the arm64 bootstrap Terraform deploys and the cold-start
// init duration of the same function built for this machine, under internal/lambdahost.
type Function struct {
	Name string `json:"name"`
	// Packages is the build sized: "arm64" (what Terraform deploys) or "host" (Options.Packages).
	Packages  string `json:"packages"`
	SizeBytes int64  `json:"size_bytes"`
	// ZipBytes is build/<fn>.zip, the deployment package (host: the bootstrap zipped in memory).
	ZipBytes int64 `json:"zip_bytes"`
	// Stripped says the ELF has no symbol table (built with -ldflags "-s -w").
	Stripped bool    `json:"stripped"`
	InitMS   float64 `json:"init_ms"` // median over InitSamples cold starts
	InitMin  float64 `json:"init_min_ms"`
	InitMax  float64 `json:"init_max_ms"`
	Samples  int     `json:"init_samples"`
}

// initEnv is enough configuration for every function's init (configuration from the
// environment, the SDK's static credentials) without any AWS endpoint being reachable:
// init makes no AWS call, and the measuring invocation fails fast on its bad input.
func initEnv() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIABENCHMARKINIT000",
		"AWS_SECRET_ACCESS_KEY":       "bench-init-not-a-secret",
		"AWS_ENDPOINT_URL":            "http://127.0.0.1:9",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
		rotation.EnvKMSKeyID:          "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
		rotation.EnvStateMachineARN:   "arn:aws:states:us-east-1:123456789012:stateMachine:keyrotor-rotate",
	}
}

// measureFunctions reads each package's size (packages: "arm64", what Terraform deploys; "host",
// the host build) and measures samples cold starts of the host build through the
// Runtime API (a fresh deployment each time, so each start is cold).
func measureFunctions(ctx context.Context, root, packages string, samples int) ([]Function, error) {
	host := lambdahost.New(lambdahost.Options{InitTimeout: 10 * time.Second})
	defer host.Close()
	var out []Function
	for _, name := range Functions {
		f := Function{Name: name, Packages: packages, Samples: samples}
		hostBin := filepath.Join(root, "build", "host", name, "bootstrap")
		if _, err := os.Stat(hostBin); err != nil {
			return nil, fmt.Errorf("function %s: %w (run `make host`)", name, err)
		}
		bin, hint := hostBin, "make host"
		if packages == "arm64" {
			bin, hint = filepath.Join(root, "build", "arm64", name, "bootstrap"), "make build"
		}
		st, err := os.Stat(bin)
		if err != nil {
			return nil, fmt.Errorf("function %s: %w (run `%s`)", name, err, hint)
		}
		f.SizeBytes = st.Size()
		if packages == "arm64" {
			zip, err := os.Stat(filepath.Join(root, "build", name+".zip"))
			if err != nil {
				return nil, fmt.Errorf("function %s: %w (run `make build`)", name, err)
			}
			f.ZipBytes = zip.Size()
		} else if f.ZipBytes, err = zippedSize(bin); err != nil {
			return nil, fmt.Errorf("function %s: %w", name, err)
		}
		if f.Stripped, err = stripped(bin); err != nil {
			return nil, fmt.Errorf("function %s: %w", name, err)
		}
		var inits []float64
		for i := range samples {
			if _, err := host.Deploy(lambdahost.Function{
				Name: "bench-" + name, Path: hostBin, Env: initEnv(), Timeout: 10 * time.Second, MemoryMB: 256, MaxConcurrency: 1,
			}); err != nil {
				return nil, fmt.Errorf("function %s: %w", name, err)
			}
			// The event is refused by the handler; init has run by then, and that is what is timed.
			res, err := host.Invoke(ctx, "bench-"+name, []byte(`{"action":"bench-init"}`))
			if err != nil {
				return nil, fmt.Errorf("function %s: cold start %d: %w", name, i+1, err)
			}
			if res.InitDuration <= 0 {
				return nil, fmt.Errorf("function %s: cold start %d reported no init duration (%s: %s)", name, i+1, res.ErrorType, res.ErrorMessage)
			}
			inits = append(inits, float64(res.InitDuration.Microseconds())/1000)
		}
		f.InitMS = median(inits)
		f.InitMin, f.InitMax = slices.Min(inits), slices.Max(inits)
		out = append(out, f)
	}
	return out, nil
}

// stripped reports whether an ELF binary carries no symbol table.
// zippedSize is the size of a zip holding path as `bootstrap`, deflated as build-functions.sh's
// `python3 -m zipfile -c` does.
func zippedSize(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(data); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(buf.Len()), nil
}

func stripped(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, fmt.Errorf("read ELF %s: %w", path, err)
	}
	defer f.Close()
	_, err = f.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		return true, nil
	}
	return false, err
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// SizeFloor is a minimal Lambda (testdata/sizefloor/<Name>) built exactly as `make build`
// builds the functions: what any bootstrap of that kind weighs at least.
type SizeFloor struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Packages is the build sized, as Function.Packages: "arm64" or "host".
	Packages  string `json:"packages"`
	SizeBytes int64  `json:"size_bytes"`
}

var sizeFloors = []SizeFloor{
	{Name: "defaultconfig", Description: "aws-lambda-go + config.LoadDefaultConfig + the STS client"},
	{Name: "envcredentials", Description: "aws-lambda-go + the STS client with credentials from the environment (no config package)"},
}

// buildFlags are scripts/build-functions.sh's.
var buildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w"}

// measureSizeFloors builds the minimal Lambdas with the bootstraps' flags and reads their sizes:
// for linux/arm64 when packages is "arm64", the published floor; for this machine when it is
// "host", the check `make test` runs (bench_test.go), whose build reuses the host bootstraps'
// compiled standard library and SDK. An arm64 build there compiled about 300 packages, 90 CPU-s
// of a fresh clone's first `make test` (bench/BENCHMARKS.md §6), for a size no check reads.
func measureSizeFloors(ctx context.Context, root, packages string) ([]SizeFloor, error) {
	dir, err := os.MkdirTemp("", "keyrotor-bench-floor-")
	if err != nil {
		return nil, fmt.Errorf("size floor: %w", err)
	}
	defer os.RemoveAll(dir)
	env := append(os.Environ(), "CGO_ENABLED=0")
	if packages == "arm64" {
		env = append(env, "GOOS=linux", "GOARCH=arm64")
	}
	var out []SizeFloor
	for _, f := range sizeFloors {
		bin := filepath.Join(dir, f.Name)
		args := append(append([]string{"build"}, buildFlags...), "-o", bin, "./internal/harness/bench/testdata/sizefloor/"+f.Name)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = root
		cmd.Env = env
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("size floor %s: go build: %w\n%s", f.Name, err, b)
		}
		st, err := os.Stat(bin)
		if err != nil {
			return nil, fmt.Errorf("size floor %s: %w", f.Name, err)
		}
		f.Packages, f.SizeBytes = packages, st.Size()
		out = append(out, f)
	}
	return out, nil
}
