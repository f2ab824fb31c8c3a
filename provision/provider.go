package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"

	"github.com/crmplan/crmplan"
)

// PluginName is the Pulumi package name of crmplan's local provider; the
// engine runs the plugin binary "pulumi-resource-" + PluginName, which is a
// symlink to the crmplan binary in the state dir.
const PluginName = "crmplan"

// PluginBinary is the file name the engine looks for.
const PluginBinary = "pulumi-resource-" + PluginName

// pluginVersion is reported to the engine; the plugin is always the binary
// that runs crmplan, so no version is ever resolved or downloaded.
const pluginVersion = "0.1.0"

// Resource type tokens the program registers.
const (
	tokenHost       = PluginName + ":index:Host"
	tokenSecret     = PluginName + ":index:Secret"
	tokenPrimary    = PluginName + ":index:PostgresPrimary"
	tokenReplica    = PluginName + ":index:PostgresReplica"
	tokenCRMService = PluginName + ":index:CrmService"
	tokenDatabase   = PluginName + ":index:CrmDatabase"
	tokenMeshNodes  = PluginName + ":index:MeshNodes"
	tokenPackages   = PluginName + ":index:Packages"
)

// ServePlugin runs the local resource provider over the plugin protocol the
// Pulumi engine speaks. It is what the crmplan binary does when started as
// PluginBinary.
func ServePlugin(ctx context.Context) error {
	targets, rel := targets(), &releases{}
	prov, err := infer.NewProviderBuilder().
		WithResources(
			infer.Resource(&Host{targets: targets, ssh: &sshTargets{}}),
			infer.Resource(&Secret{}),
			infer.Resource(&PostgresPrimary{}),
			infer.Resource(&PostgresReplica{}),
			infer.Resource(&Watchdog{}),
			infer.Resource(&CrmService{releases: rel}),
			infer.Resource(&CrmDatabase{releases: rel}),
			infer.Resource(&MeshNodes{targets: targets}),
			infer.Resource(&Packages{}),
		).
		WithNamespace(PluginName).
		Build()
	if err != nil {
		return fmt.Errorf("build provider: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go exitWithParent(ctx, cancel)
	return p.RunProvider(ctx, PluginName, pluginVersion, prov)
}

// exitWithParent ends the plugin when the engine that started it is gone
// (crmplan and pulumi killed with -9): nothing else would ever stop it.
func exitWithParent(ctx context.Context, cancel func()) {
	parent := os.Getppid()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		if os.Getppid() != parent {
			cancel()
			time.Sleep(2 * time.Second)
			os.Exit(1) // the gRPC server may not notice a cancelled context
		}
	}
}

// selfPath is the crmplan binary, which also serves as the provider plugin.
func selfPath() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locate crmplan binary: %w", err)
	}
	return self, nil
}

// diffInputs compares the pulumi-tagged fields of two input structs of the
// same type. A changed field listed in replace forces a replacement; any
// other change is an in-place update. Empty and nil slices and maps are
// equal: they do not survive the round trip through state distinctly.
func diffInputs(old, new any, replace ...string) p.DiffResponse {
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(new)
	resp := p.DiffResponse{DetailedDiff: map[string]p.PropertyDiff{}}
	for i := 0; i < ov.NumField(); i++ {
		name, _, _ := strings.Cut(ov.Type().Field(i).Tag.Get("pulumi"), ",")
		if name == "" {
			continue
		}
		a, b := ov.Field(i), nv.Field(i)
		if isEmpty(a) && isEmpty(b) || reflect.DeepEqual(a.Interface(), b.Interface()) {
			continue
		}
		kind := p.Update
		for _, r := range replace {
			if r == name {
				kind = p.UpdateReplace
			}
		}
		resp.DetailedDiff[name] = p.PropertyDiff{Kind: kind, InputDiff: true}
		resp.HasChanges = true
	}
	return resp
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return false
}

// markNotRunning adds the diff that restarts a process Read found dead.
func markNotRunning(d *p.DiffResponse, running bool) {
	if running {
		return
	}
	d.HasChanges = true
	d.DetailedDiff["running"] = p.PropertyDiff{Kind: p.Update}
}

// checkPortFree fails with ECONFLICT, naming the host and the port, when
// something already listens on addr:port.
func checkPortFree(host, addr string, port int) error {
	hostport := net.JoinHostPort(addr, fmt.Sprint(port))
	l, err := net.Listen("tcp", hostport)
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		// The address is not this namespace's: the host has a network of
		// its own (an isolated stack's namespace), where the role's start
		// finds a taken port itself.
		return nil
	}
	if err != nil {
		return crmplan.Errorf(crmplan.ECONFLICT, "port %s is already taken: %w", hostport, err).
			In("host "+host).
			Try("ss -ltnp 'sport = :%d'   # find the process holding it, stop it, then crmplan apply", port)
	}
	return l.Close()
}

// providerError renders err for the engine, which only carries text: the
// code, the place and the hint travel in a form Apply can read back.
func providerError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if hint := crmplan.ErrorHint(err); hint != "" {
		msg += " [try: " + hint + "]"
	}
	return fmt.Errorf("[%s] %s", crmplan.ErrorCode(err), msg)
}
