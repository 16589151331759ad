// The pulumi-resource-docker plugin: the bridged upstream provider, with the schema
// that cmd/tfgen generated from it embedded.
package main

import (
	_ "embed"

	"clawfleet.local/tools/pulumi-resource-docker/info"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
)

//go:embed schema.json
var schema []byte

// version is set at link time to the @pulumi/docker version the program's SDK asks for.
var version = "0.0.0"

func main() { tfbridge.Main("docker", version, info.Provider(version), schema) }
