import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * Makes sure a Docker daemon answers (scripts/docker-up.sh, with the test tools when asked) and builds or reuses the
 * gateway image (scripts/build-gateway-image.sh with `args`, such as `--openclaw <version>`); returns its reference.
 */
export function gatewayImage(repo: string, log: (line: string) => void, options: { testTools?: boolean; args?: readonly string[] } = {}): string {
  log("making sure a Docker daemon answers (scripts/docker-up.sh)");
  execFileSync("bash", [join(repo, "scripts", "docker-up.sh"), ...(options.testTools === true ? ["--with-test-tools"] : [])], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const args = options.args ?? [];
  log(`building or reusing the gateway image (scripts/build-gateway-image.sh${args.map((a) => ` ${a}`).join("")})`);
  const built = execFileSync("bash", [join(repo, "scripts", "build-gateway-image.sh"), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  return built.trim().split("\n").pop() ?? "";
}
