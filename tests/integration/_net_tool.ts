/**
 * A small network tool for the networking tests, run with Deno inside a
 * sandbox, on the host, or in the test host's network namespace.
 *
 *   _net_tool.ts echo-server HOST PORT        TCP and UDP echo on HOST:PORT (until killed)
 *   _net_tool.ts serve-once PORT TEXT         accept one TCP connection on 0.0.0.0:PORT, send TEXT
 *   _net_tool.ts upper-server HOST PORT       TCP on HOST:PORT (until killed): after a client's end of file,
 *                                             send back what it sent in upper case, then close
 *   _net_tool.ts tcp HOST PORT TEXT           send TEXT, print the reply (exit 1: error name on stderr)
 *   _net_tool.ts udp HOST PORT TEXT           the same over UDP (2 s timeout)
 *   _net_tool.ts gateway                      print the IPv4 default gateway
 *   _net_tool.ts dns-server HOST PORT IP      answer every DNS query for an A record with IP
 *   _net_tool.ts http-server HOST PORT        answer every HTTP request with "test host: METHOD PATH HOST-HEADER"
 *
 * Needs --unstable-net for UDP.
 *
 * @module
 */

const [cmd, ...args] = Deno.args;
const enc = new TextEncoder(), dec = new TextDecoder();

function fail(e: unknown): never {
  console.error(e instanceof Error ? e.name : String(e));
  Deno.exit(1);
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => timer = setTimeout(() => reject(new Error("TimedOut")), ms));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

async function tcpEcho(hostname: string, port: number) {
  for await (const conn of Deno.listen({ hostname, port })) {
    (async () => {
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (!n) break;
        await conn.write(buf.subarray(0, n)).catch(() => {});
      }
      conn.close();
    })();
  }
}

async function udpEcho(hostname: string, port: number) {
  const sock = Deno.listenDatagram({ hostname, port, transport: "udp" });
  for await (const [data, addr] of sock) await sock.send(data, addr);
}

switch (cmd) {
  case "echo-server": {
    const [host, port] = [args[0]!, Number(args[1])];
    await Promise.all([tcpEcho(host, port), udpEcho(host, port)]);
    break;
  }
  case "serve-once": {
    const listener = Deno.listen({ hostname: "0.0.0.0", port: Number(args[0]) });
    console.log("listening");
    const conn = await listener.accept();
    await conn.write(enc.encode(args[1]!));
    conn.close();
    listener.close();
    break;
  }
  case "upper-server": {
    const listener = Deno.listen({ hostname: args[0]!, port: Number(args[1]) });
    console.log("listening");
    for await (const conn of listener) {
      (async () => {
        let got = "";
        const text = new TextDecoder();
        const buf = new Uint8Array(4096);
        for (;;) { // until the client's end of file
          const n = await conn.read(buf).catch(() => null);
          if (!n) break;
          got += text.decode(buf.subarray(0, n), { stream: true });
        }
        await conn.write(enc.encode(got.toUpperCase())).catch(() => {});
        conn.close();
      })();
    }
    break;
  }
  case "tcp": {
    try {
      const conn = await withTimeout(Deno.connect({ hostname: args[0]!, port: Number(args[1]) }), 3000);
      await conn.write(enc.encode(args[2]!));
      const buf = new Uint8Array(4096);
      const n = await withTimeout(conn.read(buf), 3000);
      console.log(dec.decode(buf.subarray(0, n ?? 0)));
      conn.close();
    } catch (e) {
      fail(e);
    }
    break;
  }
  case "udp": {
    try {
      const sock = Deno.listenDatagram({ hostname: "0.0.0.0", port: 0, transport: "udp" });
      await sock.send(enc.encode(args[2]!), { transport: "udp", hostname: args[0]!, port: Number(args[1]) });
      const [data] = await withTimeout(sock.receive(), 2000);
      console.log(dec.decode(data));
      sock.close();
    } catch (e) {
      fail(e);
    }
    break;
  }
  case "dns-server": {
    const sock = Deno.listenDatagram({ hostname: args[0]!, port: Number(args[1]), transport: "udp" });
    const ip = args[2]!.split(".").map(Number);
    for await (const [q, addr] of sock) {
      if (q.length < 12) continue;
      let end = 12; // the question's name: labels up to a zero byte
      while (end < q.length && q[end] !== 0) end += q[end]! + 1;
      const question = q.subarray(12, end + 5); // name, 0, type, class
      const qtype = (q[end + 1]! << 8) | q[end + 2]!;
      const answer = qtype === 1 ? [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ip] : [];
      const header = [q[0]!, q[1]!, 0x81, 0x80, 0, 1, 0, answer.length ? 1 : 0, 0, 0, 0, 0];
      await sock.send(new Uint8Array([...header, ...question, ...answer]), addr);
    }
    break;
  }
  case "http-server": {
    Deno.serve({ hostname: args[0]!, port: Number(args[1]), onListen() {} }, (req) => {
      const url = new URL(req.url);
      return new Response(`test host: ${req.method} ${url.pathname} ${req.headers.get("host")}\n`);
    });
    break;
  }
  case "gateway": {
    for (const line of Deno.readTextFileSync("/proc/net/route").split("\n").slice(1)) {
      const f = line.split("\t");
      if (f[1] === "00000000" && f[2]) {
        const g = parseInt(f[2], 16);
        console.log([g & 255, (g >> 8) & 255, (g >> 16) & 255, (g >>> 24) & 255].join("."));
        Deno.exit(0);
      }
    }
    fail("NoDefaultRoute");
    break;
  }
  default:
    console.error(`unknown command ${cmd}`);
    Deno.exit(2);
}
