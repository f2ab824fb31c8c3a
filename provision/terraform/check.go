package terraform

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/crmplan/crmplan"
)

// Write puts the module into dir (created 0755), atomically: a crash
// leaves the previous main.tf or the new one.
func Write(dir string, m Module) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", crmplan.Errorf(crmplan.EINVALID, "cannot create the output directory: %w", err).In("--out")
	}
	path := filepath.Join(dir, FileName)
	tmp, err := os.CreateTemp(dir, "."+FileName+".*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(m.Source); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

// FindTerraform returns the terraform binary: given, else $PATH.
func FindTerraform(given string) (string, error) {
	name := given
	if name == "" {
		name = "terraform"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", crmplan.Errorf(crmplan.ENOTFOUND, "no terraform binary: %w", err).In("--terraform").
			Try("install Terraform >= 1.5, or crmplan export --check=false")
	}
	return path, nil
}

// CheckResult is what terraform said about the module.
type CheckResult struct {
	Terraform string `json:"terraform"` // version of the binary that checked
	Formatted bool   `json:"formatted"` // terraform fmt -check: parsed, and already canonical
	// Validated is true when terraform validate passed. It needs the AWS
	// provider installed (terraform init), so it is attempted only on
	// request; ValidateSkipped says why it did not run.
	Validated       bool   `json:"validated"`
	ValidateSkipped string `json:"validate_skipped,omitempty"`
}

// Check runs terraform over the module in dir: fmt -check always (which
// parses every file, so a syntax error fails here), and with validate also
// init (no backend) and validate, which must download the AWS provider.
func Check(ctx context.Context, dir, bin string, validate bool) (CheckResult, error) {
	tf, err := tfexec.NewTerraform(dir, bin)
	if err != nil {
		return CheckResult{}, fmt.Errorf("terraform: %w", err)
	}
	var res CheckResult
	if v, _, err := tf.Version(ctx, true); err == nil {
		res.Terraform = v.String()
	}
	ok, files, err := tf.FormatCheck(ctx)
	if err != nil {
		return res, crmplan.Errorf(crmplan.EINTERNAL, "terraform fmt refused the module: %w", err).In(dir).
			Try("report this with the module attached: crmplan writes it with hclwrite, so this is our bug")
	}
	if !ok {
		return res, crmplan.Errorf(crmplan.EINTERNAL, "terraform fmt would rewrite %s", strings.Join(files, ", ")).In(dir).
			Try("report this: the export should already be in Terraform's canonical format")
	}
	res.Formatted = true
	if !validate {
		res.ValidateSkipped = "not requested (--validate installs the AWS provider)"
		return res, nil
	}
	if err := tf.Init(ctx, tfexec.Backend(false)); err != nil {
		return res, crmplan.Errorf(crmplan.EUNAVAILABLE, "terraform init (to install the AWS provider): %w", err).In(dir).
			Try("run where registry.terraform.io is reachable, or crmplan export without --validate")
	}
	out, err := tf.Validate(ctx)
	if err != nil {
		return res, fmt.Errorf("terraform validate: %w", err)
	}
	if !out.Valid {
		var msgs []string
		for _, d := range out.Diagnostics {
			msgs = append(msgs, fmt.Sprintf("%s: %s %s", d.Severity, d.Summary, d.Detail))
		}
		return res, crmplan.Errorf(crmplan.EINTERNAL, "terraform validate: %s", strings.Join(msgs, "; ")).In(dir)
	}
	res.Validated = true
	return res, nil
}
