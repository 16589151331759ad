// Generates the Pulumi schema of the bridged provider: `VERSION=<v> tfgen schema --out DIR`.
package main

import (
	"os"

	"clawfleet.local/tools/pulumi-resource-docker/info"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"
)

func main() { tfgen.Main("docker", os.Getenv("VERSION"), info.Provider(os.Getenv("VERSION"))) }
