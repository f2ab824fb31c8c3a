// Package xk6 lets xk6 build a k6 with the k6/x/crmplan extension: importing
// it registers the extension (see the go.mod beside this file for the command).
package xk6

import (
	// Registers k6/x/crmplan.
	_ "github.com/crmplan/crmplan/loadgen/k6ext"
)
