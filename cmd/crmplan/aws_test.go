package main

import (
	"os"
	"strings"
	"testing"
)

// TestAWSTargetRefuses runs apply and preview --target aws in-process with
// what must be refused before anything is made: nothing here may reach
// AWS, and nothing does, since every case stops before the program runs.
func TestAWSTargetRefuses(t *testing.T) {
	t.Setenv("PULUMI_HOME", t.TempDir()) // no aws plugin in it
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	plan := "../../examples/simplecrm.yaml"
	full := []string{"--region", "eu-west-1", "--ami", "ami-0123456789abcdef0", "--controller-cidr", "203.0.113.7/32"}
	without := func(flag string) []string {
		var out []string
		for i := 0; i < len(full); i += 2 {
			if full[i] != flag {
				out = append(out, full[i], full[i+1])
			}
		}
		return out
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
		wantHint string
	}{
		{"unknown target", []string{"apply", "--target", "gcp"}, exitUsage, `--target: unknown target "gcp"`, "--target aws"},
		{"no region", append([]string{"apply", "--target", "aws"}, without("--region")...), exitUsage, "--region: no AWS region", "--region eu-west-1"},
		{"not a region", append([]string{"apply", "--target", "aws", "--region", "Ireland"}, without("--region")...), exitUsage, `"Ireland" is not an AWS region`, "--region eu-west-1"},
		{"no AMI", append([]string{"preview", "--target", "aws"}, without("--ami")...), exitUsage, "--ami: no AMI", "--ami ami-"},
		{"the controller open to the world", append([]string{"apply", "--target", "aws", "--controller-cidr", "0.0.0.0/0"}, without("--controller-cidr")...),
			exitUsage, "narrower than the internet", "--controller-cidr"},
		{"no aws plugin", append([]string{"apply", "--target", "aws", "--yes"}, full...), exitFailure,
			"the Pulumi aws provider plugin v7.12.0 is not installed", "pulumi plugin install resource aws 7.12.0"},
		{"no aws plugin for a preview", append([]string{"preview", "--target", "aws"}, full...), exitFailure,
			"aws provider plugin", "pulumi plugin install resource aws 7.12.0"},
		{"no aws plugin to destroy with", []string{"destroy", "--target", "aws", "--yes"}, exitFailure,
			"aws provider plugin", "pulumi plugin install resource aws 7.12.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := t.TempDir()
			args := append(append([]string{}, tt.args...), "--plan", plan, "--state-dir", state)
			code, _, stderr := crmplanRun(t, args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) || !strings.Contains(stderr, "Try: ") || !strings.Contains(stderr, tt.wantHint) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d with %q and a Try: with %q", code, stderr, tt.wantCode, tt.wantErr, tt.wantHint)
			}
			if entries, _ := os.ReadDir(state); len(entries) != 0 {
				t.Errorf("refused, yet the state dir has %v", entries)
			}
		})
	}
}
