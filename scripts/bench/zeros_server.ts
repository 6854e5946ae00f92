/**
 * A tiny HTTP server for the download test of `deno task bench`: listens on
 * 127.0.0.1 (port `Deno.args[0]`, 0 for any free one), prints
 * `listening PORT`, and answers `GET /N` with N zero bytes (with a
 * `Content-Length`), streamed from one 1 MiB buffer so that nothing is read
 * from disk. Anything else is a 404.
 *
 *     deno run --allow-net=127.0.0.1 scripts/bench/zeros_server.ts 0
 *
 * @module
 */

/** The body size `GET path` asks for, or null when the path is not `/N`. */
export function requestedBytes(path: string): number | null {
  const m = /^\/(\d{1,12})$/.exec(path);
  return m ? Number(m[1]) : null;
}

/** A stream of `size` zero bytes, in chunks of `chunk`'s length (the buffer is reused). */
export function zeros(size: number, chunk: Uint8Array = new Uint8Array(1 << 20)): ReadableStream<Uint8Array> {
  let left = size;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (left <= 0) return c.close();
      const n = Math.min(left, chunk.length);
      c.enqueue(n === chunk.length ? chunk : chunk.subarray(0, n));
      left -= n;
    },
  }, { highWaterMark: 0 });
}

if (import.meta.main) {
  const chunk = new Uint8Array(1 << 20);
  Deno.serve({
    hostname: "127.0.0.1",
    port: Number(Deno.args[0] ?? "0"),
    onListen: ({ port }) => console.log(`listening ${port}`),
  }, (req) => {
    const size = requestedBytes(new URL(req.url).pathname);
    if (size === null) return new Response("GET /N for N zero bytes\n", { status: 404 });
    return new Response(zeros(size, chunk), { headers: { "content-length": String(size) } });
  });
}
