package ui_test

import (
	"os"
	"testing"

	"github.com/crmplan/crmplan/internal/cpulease"
)

// TestMain holds a share of the machine's cores for the package's run
// (cpulease.Package), so that none of it runs beside another package's
// measurement. Its tests start headless Chromium against a crm stack: heavy, and measured by
// nothing here.
func TestMain(m *testing.M) {
	os.Exit(cpulease.Package(m))
}
