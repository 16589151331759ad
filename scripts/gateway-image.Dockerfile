# OpenClaw gateway image, assembled by scripts/build-gateway-image.sh.
# The base is a Debian bookworm minbase root filesystem imported with
# `docker import`; node and the npm-installed openclaw come from the build
# context, so the build needs no image registry.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}

ENV NODE_ENV=production \
    HOME=/home/node \
    PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin \
    OPENCLAW_DISABLE_BONJOUR=1

# Gateways run as uid/gid 1000 so files they create in a bind-mounted state
# directory have a predictable owner on the host.
RUN groupadd --gid 1000 node \
 && useradd --uid 1000 --gid 1000 --home-dir /home/node --create-home --shell /usr/sbin/nologin node

COPY node-bin/node /usr/local/bin/node
COPY app /app
# Plugins openclaw does not bundle (gateway-image.json), in its bundled-plugin
# directory so the gateway finds them at start, their dependencies linked from
# outside its dist/ (see build-gateway-image.sh).
COPY plugins/extensions/ /app/node_modules/openclaw/dist/extensions/
COPY plugins/deps/ /app/plugin-deps/

WORKDIR /home/node
USER 1000:1000
EXPOSE 18789

# Probe with node itself (no curl in the image). Unknown paths answer 200 with
# the Control UI page, so the JSON body is checked, not only the status:
# /healthz answers {"ok":true,"status":"live"}.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.OPENCLAW_GATEWAY_PORT||18789)+'/healthz').then(r=>r.json()).then(j=>process.exit(j&&j.ok===true?0:1),()=>process.exit(1))"]

ENTRYPOINT ["node", "/app/node_modules/openclaw/openclaw.mjs"]
CMD ["gateway", "run"]
