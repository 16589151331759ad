// Package info maps the upstream Terraform provider for random values (hashicorp's, on the
// Terraform plugin framework) onto the resource and property names of the @pulumi/random SDK
// package, so the program's `random.RandomPassword` reaches the upstream provider's own create,
// read and update through the Terraform bridge's framework support (pkg/pf).
package info

import (
	_ "embed"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/terraform-providers/terraform-provider-random/clawfleetshim"
)

// The bridge's metadata for this provider: cmd/tfgen writes it beside the schema, and the
// build copies it here before the plugin is built.
//
//go:embed bridge-metadata.json
var metadata []byte

// Provider is the bridge's description of the provider at the given version.
func Provider(version string) tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(clawfleetshim.NewProvider()),
		Name:         "random",
		Version:      version,
		GitHubOrg:    "hashicorp",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
	}
	// @pulumi/random keeps the "random" of each Terraform type name: random_password is
	// random:index/randomPassword:RandomPassword.
	standard := tokens.MakeStandard("random")
	prov.MustComputeTokens(tokens.SingleModule("random_", "index", func(module, name string) (string, error) {
		return standard(module, "Random"+name)
	}))
	return prov
}
