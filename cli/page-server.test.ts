import { Agent, get } from "node:http";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { listenOnLoopback } from "./page-server.js";

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
