/** Polls `probe` until it gives a value (errors count as "not yet"), failing after `seconds` with what was awaited. */
export async function poll<T>(what: string, seconds: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * GETs `url` and reads its body, failing after `ms`. The deadline is a ref'd timer: AbortSignal.timeout's is unref'd,
 * so a request a port proxy leaves hanging (a gateway restarting behind it) let the event loop run empty and node
 * cancelled the test ("Promise resolution is still pending but the event loop has already resolved").
 */
export async function fetchText(url: string, ms: number): Promise<string> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer from ${url} within ${ms} ms`)), ms);
  try {
    return await (await fetch(url, { signal: controller.signal })).text();
  } finally {
    clearTimeout(timer);
  }
}
