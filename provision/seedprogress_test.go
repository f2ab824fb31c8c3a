package provision

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"

	"github.com/crmplan/crmplan/sizing"
)

func TestLineLogger(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"whole lines", []string{"seed: a\nseed: b\n"}, []string{"seed: a", "seed: b"}},
		{"a line in pieces", []string{"seed: ro", "ws 10\nse", "ed: done\n"}, []string{"seed: rows 10", "seed: done"}},
		{"blank lines skipped", []string{"\n  \nseed: x\n"}, []string{"seed: x"}},
		{"unfinished last line flushed", []string{"seed: a\nseed: tail"}, []string{"seed: a", "seed: tail"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			w := &lineLogger{log: func(s string) { got = append(got, s) }}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			w.Flush()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
		})
	}
}

// TestProgressShowsResourceInfo: a resource's info diagnostics (the seed's
// progress) are printed under it; the engine's own, with no resource, are
// not.
func TestProgressShowsResourceInfo(t *testing.T) {
	var out bytes.Buffer
	pr := newProgress(&out, false)
	pr.handle(apitype.EngineEvent{DiagnosticEvent: &apitype.DiagnosticEvent{
		URN: "urn:pulumi:s::crmplan::crmplan:index:CrmDatabase::crm-database", Message: "seed: rows 10 of 20 (50.0 %)\n", Severity: "info"}})
	pr.handle(apitype.EngineEvent{DiagnosticEvent: &apitype.DiagnosticEvent{Message: "engine chatter", Severity: "info"}})
	if got, want := out.String(), "    crm-database: seed: rows 10 of 20 (50.0 %)\n"; got != want {
		t.Errorf("printed %q, want %q", got, want)
	}
}

func TestLocalBulkLoad(t *testing.T) {
	tests := []struct {
		name string
		in   sizing.BulkLoadSettings
		want map[string]string
	}{
		{"within the caps", sizing.BulkLoadSettings{MaxWalSize: "4GB", CheckpointTimeout: "30min", MaintenanceWorkMem: "256MB"},
			map[string]string{"max_wal_size": "4GB", "checkpoint_timeout": "30min", "maintenance_work_mem": "256MB"}},
		{"capped for one shared machine", sizing.BulkLoadSettings{MaxWalSize: "64GB", CheckpointTimeout: "30min", MaintenanceWorkMem: "4GB"},
			map[string]string{"max_wal_size": "8GB", "checkpoint_timeout": "30min", "maintenance_work_mem": "512MB"}},
		{"none", sizing.BulkLoadSettings{}, map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := localBulkLoad(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("localBulkLoad = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCrmDatabaseDiffIgnoresBulkLoad: the bulk-load settings matter only
// while a seed runs; a stack seeded before they existed, or with other
// ones, is not updated for them.
func TestCrmDatabaseDiffIgnoresBulkLoad(t *testing.T) {
	old := CrmDatabaseArgs{Host: "db-1", CrmBin: "/bin/crm", CrmVersion: "v1", Records: 1000, Users: 10, PasswordKey: "k"}
	in := old
	in.BulkLoad = map[string]string{"max_wal_size": "8GB"}
	d, err := (&CrmDatabase{}).Diff(context.Background(), infer.DiffRequest[CrmDatabaseArgs, CrmDatabaseState]{Inputs: in, State: CrmDatabaseState{old}})
	if err != nil || d.HasChanges {
		t.Errorf("diff %+v, %v; want no changes", d, err)
	}
	in.Records = 25_000_000
	d, _ = (&CrmDatabase{}).Diff(context.Background(), infer.DiffRequest[CrmDatabaseArgs, CrmDatabaseState]{Inputs: in, State: CrmDatabaseState{old}})
	if !d.HasChanges || strings.Contains(strings.Join(keys(d.DetailedDiff), ","), "bulkLoad") {
		t.Errorf("diff %+v; want records only", d.DetailedDiff)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
