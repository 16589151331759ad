// Package info maps the upstream Terraform provider for Docker (kreuzwerker's) onto the
// resource and property names of the @pulumi/docker SDK package, so the program's
// `docker.Container` and `docker.Network` reach the upstream provider's own create,
// read, update and delete through the Terraform bridge.
package info

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-docker/clawfleetshim"
)

// Provider is the bridge's description of the provider at the given version.
func Provider(version string) tfbridge.ProviderInfo {
	prov := tfbridge.ProviderInfo{
		P:         shimv2.NewProvider(clawfleetshim.NewProvider(version)),
		Name:      "docker",
		Version:   version,
		GitHubOrg: "kreuzwerker",
		Resources: map[string]*tfbridge.ResourceInfo{
			// docker:index/image:Image is the SDK's own image build; the Terraform image is RemoteImage.
			"docker_image": {Tok: "docker:index/remoteImage:RemoteImage"},
			// Two list properties keep their Terraform names instead of the bridge's plurals.
			"docker_container": {Fields: map[string]*tfbridge.SchemaInfo{
				"command":           {Name: "command"},
				"networks_advanced": {Name: "networksAdvanced"},
			}},
		},
	}
	prov.MustComputeTokens(tokens.SingleModule("docker_", "index", tokens.MakeStandard("docker")))
	return prov
}
