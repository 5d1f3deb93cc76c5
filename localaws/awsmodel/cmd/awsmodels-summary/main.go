// Command awsmodels-summary sums the tallies the checkers of the local AWS wrote into a
// directory ($KEYROTOR_AWS_MODELS_TALLY during `make test`) and prints
// `aws models: N operations, M requests checked, K refused`: N the operations of the loaded
// models, M and K the requests the tests' endpoints checked and refused.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyrotor/keyrotor/localaws/awsmodel"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: awsmodels-summary <tally directory>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "awsmodels-summary:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	models, err := awsmodel.Default()
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	var checked, refused int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var t awsmodel.Tally
		if err := json.Unmarshal(data, &t); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		checked += t.Checked
		refused += t.Refused
	}
	if checked == 0 {
		return fmt.Errorf("no request was checked: no tally in %s (was %s set for the tests?)", dir, awsmodel.TallyEnv)
	}
	fmt.Printf("aws models: %d operations, %d requests checked, %d refused\n", models.Operations(), checked, refused)
	return nil
}
