// The pulumi-resource-random plugin: the bridged upstream provider, with the schema that
// cmd/tfgen generated from it embedded.
package main

import (
	"context"
	_ "embed"

	"clawfleet.local/tools/pulumi-resource-random/info"
	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
)

//go:embed schema.json
var schema []byte

// version is set at link time to the @pulumi/random version the program's SDK asks for.
var version = "0.0.0"

func main() {
	pftfbridge.Main(context.Background(), "random", info.Provider(version), pftfbridge.ProviderMetadata{PackageSchema: schema})
}
