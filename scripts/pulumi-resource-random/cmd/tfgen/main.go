// Generates the Pulumi schema of the bridged provider: `VERSION=<v> tfgen schema --out DIR`.
package main

import (
	"os"

	"clawfleet.local/tools/pulumi-resource-random/info"
	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
)

func main() { pftfgen.Main("random", info.Provider(os.Getenv("VERSION"))) }
