import { Agent, get } from "node:http";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { run } from "./main.js";
import { listenOnLoopback, PAGE_OPTIONS } from "./page-server.js";

/** GETs `url` on `agent`'s kept-alive connection; resolves with the status, or with the error's code. */
function poll(url: string, agent: Agent): Promise<number | string> {
  return new Promise((resolve) => {
    get(url, { agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe("a page server", () => {
  it("stops while an open page keeps refreshing on a kept-alive connection, a refresh in flight", async () => {
    let answered = 0;
    let inFlight: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      inFlight = resolve;
    });
    const app = new Hono().get("/live", async (c) => {
      if (++answered === 3) inFlight();
      await new Promise((r) => setTimeout(r, 50));
      return c.text("ok");
    });
    const page = await listenOnLoopback(app, { host: "127.0.0.1", port: 0 }, []);
    // As the browser does: one kept-alive connection, a refresh soon after each answer.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let polling = true;
    const statuses: (number | string)[] = [];
    const refreshing = (async () => {
      while (polling) {
        statuses.push(await poll(new URL("/live", page.url).href, agent));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await started;
    // Before the fix, close() waited for that connection, which the refreshes never let go idle.
    await page.close();
    polling = false;
    await refreshing;
    agent.destroy();
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    // Once stopped, the page answers nothing more.
    expect(statuses.at(-1)).not.toBe(200);
  });
});

describe("the page commands' help", () => {
  /** What `tremesh ARGS --help` prints. */
  async function help(...args: string[]): Promise<string> {
    const out: string[] = [];
    expect(await run([...args, "--help"], { out: (l) => out.push(l), err: () => {} })).toBe(0);
    return out.join("\n");
  }

  it("documents every option the parser of `airlock serve` and `ui` reads, and none it does not", async () => {
    const serve = await help("airlock", "serve");
    // The airlock's help documents every verb: the page's part runs from its usage line to its last words.
    const servePart = serve.slice(
      serve.indexOf("tremesh airlock serve ["),
      serve.indexOf("Stop with Ctrl-C."),
    );
    for (const text of [servePart, await help("ui")]) {
      for (const name of Object.keys(PAGE_OPTIONS))
        expect(text).toMatch(new RegExp(`^\\s+--${name} [A-Z]+ +\\S`, "m"));
      const documented = new Set([...text.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]));
      expect([...documented].sort()).toEqual(Object.keys(PAGE_OPTIONS).sort());
    }
  });
});

describe("a page asked to listen off loopback", () => {
  /** `tremesh ARGS`: its exit code and what it wrote to stderr. */
  async function runCli(...args: string[]): Promise<{ code: number; err: string }> {
    const err: string[] = [];
    const code = await run(args, { out: () => {}, err: (l) => err.push(l) });
    return { code, err: err.join("\n") };
  }

  it("is refused with the page's own reason, before its profile is read or anything is reached", async () => {
    // A profile that does not exist: the address is refused first, so the message is about the address.
    const missing = "/nonexistent/alice.profile.yaml";
    const ui = await runCli("ui", "--host", "0.0.0.0", "--profile", missing);
    expect(ui.code).toBe(2);
    expect(ui.err).toContain("--host 0.0.0.0: the page listens on loopback only: it signs with your key");
    expect(ui.err).not.toContain("reviewer");
    expect(ui.err).not.toContain("profile");
    const serve = await runCli("airlock", "serve", "--host", "10.0.0.5", "--profile", missing);
    expect(serve.code).toBe(2);
    expect(serve.err).toContain("--host 10.0.0.5: the page listens on loopback only");
    expect(serve.err).toContain("one per reviewer on its loopback behind your own sign-on and TLS proxy");
  });

  it("is served on another loopback address", async () => {
    const missing = "/nonexistent/alice.profile.yaml";
    // 127.0.0.2 passes the address check; the missing profile is what stops it then.
    const ui = await runCli("ui", "--host", "127.0.0.2", "--profile", missing);
    expect(ui.code).not.toBe(0);
    expect(ui.err).toContain(missing);
  });
});
