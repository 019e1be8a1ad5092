import { describe, expect, it } from "vitest";
import type { TaskResults } from "../aggregator/index.js";
import type { TaskView } from "../protocol/index.js";
import { type ResearcherBackend, researcherPage } from "./ui-page.js";

const HOST = "127.0.0.1:8766";
const TASK = "01M997B89V09M59P43YK7GG532";

const task = (state: string): TaskView =>
  ({
    taskId: TASK,
    project: "demo",
    kind: "count",
    researcher: "alice",
    submittedAt: "2026-12-07T21:42:50.429Z",
    tres: ["north"],
    state,
    children: [{ tre: "north", state: state === "failed" ? "rejected" : "released", history: [] }],
  }) as unknown as TaskView;

const file = {
  tre: "north",
  outputId: "01M997B89V09M59P43YK7GG533",
  name: "columns.txt",
  digest: "ab".repeat(32),
  approvedBy: [],
  autoReleased: false,
  mediaType: "text/plain",
  data: new TextEncoder().encode("age,sex\n"),
};

/** The page over a backend that answers as the hub would for one ended task, logged in. */
async function loggedIn(state: string, files: TaskResults["files"]) {
  const backend: ResearcherBackend = {
    researcher: "alice",
    tasks: async () => [task(state)],
    task: async () => task(state),
    results: async () =>
      ({
        task: task(state),
        accepted: [],
        excluded: [],
        keysFromHub: [],
        combined: [],
        files,
      }) as TaskResults,
    submit: async () => {
      throw new Error("not asked");
    },
  };
  const app = researcherPage(backend, { loginToken: "t0ken", allowedHosts: [HOST] });
  const login = await app.request("/login?token=t0ken", { headers: { host: HOST } });
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  return (path: string) => app.request(path, { headers: { host: HOST, cookie } });
}

describe("the researcher's page", () => {
  it("downloads a released file from a link of a page it did not render (opened before a restart)", async () => {
    const get = await loggedIn("completed", [file]);
    const res = await get(`/task/${TASK}/file/0`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="north-columns.txt"');
    expect(await res.text()).toBe("age,sex\n");
    expect((await get(`/task/${TASK}/file/1`)).status).toBe(404);
  });

  it("says there is nothing to combine when no TRE released anything, not an empty heading", async () => {
    const get = await loggedIn("failed", []);
    const text = await (await get(`/task/${TASK}`)).text();
    expect(text).toContain("Nothing to combine: no TRE released a result.");
  });

  it("leads back to the researcher's tasks from a problem, not to a reviewer's queue", async () => {
    const get = await loggedIn("completed", [file]);
    const res = await get(`/task/${TASK}/file/9`);
    expect(res.status).toBe(404);
    const links = [...(await res.text()).matchAll(/<a href="([^"]*)">([^<]*)<\/a>/g)].map((m) => [
      m[1],
      m[2],
    ]);
    expect(links).toEqual([["/", "back to your tasks"]]);
  });

  it("opens a task by its id typed in lower case, as the CLI takes it", async () => {
    const get = await loggedIn("completed", [file]);
    const res = await get(`/open?task=${TASK.toLowerCase()}`);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/task/${TASK}`);
    // The form's own check lets it through too.
    const home = await (await get("/")).text();
    const pattern = /name="task"[^>]*pattern="([^"]+)"/.exec(home)?.[1] ?? "";
    expect(new RegExp(`^(?:${pattern})$`).test(TASK.toLowerCase())).toBe(true);
    expect(new RegExp(`^(?:${pattern})$`).test("not-a-task-id-at-all-00000")).toBe(false);
  });
});
