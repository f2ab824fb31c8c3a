// The k6/x/crmplan extension as a module of its own, for xk6, which takes
// extensions by module path. The extension's code lives in the crmplan module
// (package loadgen/k6ext, which the crmplan binary embeds); this module only
// imports it. Build a k6 with it from the repository root:
//
//	xk6 build v1.8.1 \
//	    --with github.com/crmplan/crmplan/loadgen/k6ext/xk6=$PWD/loadgen/k6ext/xk6 \
//	    --replace github.com/crmplan/crmplan=$PWD
module github.com/crmplan/crmplan/loadgen/k6ext/xk6

go 1.26.0

require github.com/crmplan/crmplan v0.0.0-00010101000000-000000000000

replace github.com/crmplan/crmplan => ../../..
