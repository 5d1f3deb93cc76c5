package infracheck

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// AWS publishes a model of every API (members, min/max, patterns): botocore's
// data/<service>/<version>/service-2.json(.gz), installed with moto. The naming checks read the
// rules from it rather than retyping them.

var botocoreDir = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("python3", "-c", "import botocore,os;print(os.path.dirname(botocore.__file__))").Output()
	if err != nil {
		return "", fmt.Errorf("find botocore (installed with moto; pip install botocore): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
})

// readModelFile reads data/<service>/<latest version>/<name>(.gz) of botocore.
func readModelFile(service, name string) ([]byte, error) {
	dir, err := botocoreDir()
	if err != nil {
		return nil, err
	}
	if service == "" {
		return os.ReadFile(filepath.Join(dir, "data", name))
	}
	versions, err := filepath.Glob(filepath.Join(dir, "data", service, "*"))
	if err != nil || len(versions) == 0 {
		return nil, fmt.Errorf("botocore has no model of %s", service)
	}
	sort.Strings(versions)
	base := filepath.Join(versions[len(versions)-1], name)
	if b, err := os.ReadFile(base); err == nil {
		return b, nil
	}
	f, err := os.Open(base + ".gz")
	if err != nil {
		return nil, fmt.Errorf("read the %s model: %w", service, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("read the %s model: %w", service, err)
	}
	return io.ReadAll(zr)
}

// StringRule is a string shape's constraints in an API model.
type StringRule struct {
	Shape    string
	Min, Max int    // 0: none
	Pattern  string // as the model writes it; "" none
}

// ModelRule returns the constraints of member of operation's input in service's model.
func ModelRule(service, operation, member string) (StringRule, error) {
	b, err := readModelFile(service, "service-2.json")
	if err != nil {
		return StringRule{}, err
	}
	var m struct {
		Operations map[string]struct {
			Input struct{ Shape string }
		}
		Shapes map[string]struct {
			Members map[string]struct{ Shape string }
			Min     float64
			Max     float64
			Pattern string
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return StringRule{}, fmt.Errorf("parse the %s model: %w", service, err)
	}
	op, ok := m.Operations[operation]
	if !ok {
		return StringRule{}, fmt.Errorf("%s model: no operation %s", service, operation)
	}
	mem, ok := m.Shapes[op.Input.Shape].Members[member]
	if !ok {
		return StringRule{}, fmt.Errorf("%s model: %s has no member %s", service, operation, member)
	}
	s := m.Shapes[mem.Shape]
	return StringRule{Shape: mem.Shape, Min: int(s.Min), Max: int(s.Max), Pattern: s.Pattern}, nil
}

// Regions lists every region of every partition in botocore's endpoints.json, with its partition.
func Regions() (map[string]string, error) {
	b, err := readModelFile("", "endpoints.json")
	if err != nil {
		return nil, err
	}
	var d struct {
		Partitions []struct {
			Partition string
			Regions   map[string]any
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("parse endpoints.json: %w", err)
	}
	out := map[string]string{}
	for _, p := range d.Partitions {
		for r := range p.Regions {
			out[r] = p.Partition
		}
	}
	return out, nil
}
