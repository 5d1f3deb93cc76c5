// Command check-tf-schema checks every Terraform module under infra/ against the hashicorp/aws
// provider schema (internal/harness/tfschema) and prints one summary line; it exits 1 and lists
// the problems when there are any. scripts/check-terraform.sh runs it.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/keyrotor/keyrotor/internal/deployed"
	"github.com/keyrotor/keyrotor/internal/harness/tfschema"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "check-tf-schema:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	root, err := deployed.FindRoot(".")
	if err != nil {
		return err
	}
	dirs, err := tfschema.ModuleDirs(root)
	if err != nil {
		return err
	}
	report, schema, err := tfschema.CheckDirs(ctx, root, dirs)
	if err != nil {
		return err
	}
	for _, p := range report.Problems {
		fmt.Println("  " + p.String())
	}
	fmt.Println(tfschema.Summary(report, schema))
	if len(report.Problems) > 0 {
		return fmt.Errorf("%d problems against the provider schema", len(report.Problems))
	}
	return nil
}
