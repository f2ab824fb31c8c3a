package aws

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"

	"github.com/crmplan/crmplan"
)

// PluginVersion is the aws provider plugin the program is written against:
// the version of the pulumi-aws Go SDK in go.mod.
const PluginVersion = "7.12.0"

// PluginInstall is the user's step that installs it.
const PluginInstall = "pulumi plugin install resource aws " + PluginVersion

var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)

// Check refuses options apply cannot run with, before anything is made.
func (o Options) Check() error {
	if o.Region == "" {
		return crmplan.Errorf(crmplan.EINVALID, "no AWS region: neither --region nor AWS_REGION nor AWS_DEFAULT_REGION is set").
			In("--region").Try("crmplan apply --target aws --region eu-west-1 ...")
	}
	if !regionPattern.MatchString(o.Region) {
		return crmplan.Errorf(crmplan.EINVALID, "%q is not an AWS region name", o.Region).
			In("--region").Try("crmplan apply --target aws --region eu-west-1 ...")
	}
	if o.AMI == "" {
		return crmplan.Errorf(crmplan.EINVALID, "no AMI for the hosts: a Linux image with systemd, cloud-init, receptor and crmplan in /usr/local/bin (and PostgreSQL 15 for the db tiers)").
			In("--ami").Try("crmplan apply --target aws --ami ami-0123456789abcdef0 ...")
	}
	if p, err := netip.ParsePrefix(o.ControllerCIDR); err != nil || !p.Addr().Is4() || p.Bits() == 0 {
		return crmplan.Errorf(crmplan.EINVALID, "controller range %q is not an IPv4 range narrower than the internet: the mesh relay admits crmplan's controller from it", o.ControllerCIDR).
			In("--controller-cidr").Try("crmplan apply --target aws --controller-cidr 198.51.100.7/32 ...   # this machine's address as AWS sees it")
	}
	return nil
}

// PulumiHome is where `pulumi plugin install` puts plugins: $PULUMI_HOME,
// else ~/.pulumi.
func PulumiHome() string {
	if h := os.Getenv("PULUMI_HOME"); h != "" {
		return h
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".pulumi"
	}
	return filepath.Join(home, ".pulumi")
}

// FindPlugin returns the directory of the installed aws provider plugin
// under pulumiHome, or an error that names the command installing it.
// crmplan never downloads it: plugin acquisition is the user's step.
func FindPlugin(pulumiHome string) (string, error) {
	dir := filepath.Join(pulumiHome, "plugins", "resource-aws-v"+PluginVersion)
	if _, err := os.Stat(filepath.Join(dir, "pulumi-resource-aws")); err != nil {
		return "", crmplan.Errorf(crmplan.EUNAVAILABLE, "the Pulumi aws provider plugin v%s is not installed (no %s)", PluginVersion,
			filepath.Join(dir, "pulumi-resource-aws")).In("PULUMI_HOME").Try(PluginInstall)
	}
	return dir, nil
}
