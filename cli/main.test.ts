import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { zipSync } from "fflate";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { createFederationCa } from "../admin/index.js";
import { isPublicKey, newId } from "../protocol/index.js";
import { ExitCode } from "./exit-codes.js";
import { run } from "./main.js";

const execFileAsync = promisify(execFile);
/** Node modules a researcher's command has no use for, ~10 ms of its start: the monitoring port's client, a crate's zip. */
const UNNEEDED_BUILTINS = ["https", "zlib", "worker_threads"];

/** Folders the tests made, removed when the file's tests end. */
const made: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe("tremesh command line", () => {
  it("lists its commands and exit codes with --help", async () => {
    const c = capture();
    expect(await run(["--help"], c.io)).toBe(ExitCode.ok);
    expect(c.out.join("\n")).toMatch(/demo\s+run a hub, three TREs/);
    expect(c.out.join("\n")).toContain("2  usage");
  });

  it("gives each command listed in --help its own usage", async () => {
    const c = capture();
    await run(["--help"], c.io);
    const listed = c.out
      .join("\n")
      .split("\n")
      .flatMap((l) => /^ {2}([a-z]+) {2,}\S/.exec(l)?.[1] ?? []);
    expect(listed).toHaveLength(16);
    for (const name of listed) {
      const help = capture();
      expect(await run([name, "--help"], help.io)).toBe(ExitCode.ok);
      expect(help.out.join("\n")).toMatch(new RegExp(`usage: tremesh ${name}\\b`));
    }
  });

  it("loads only the command it runs, from its bundle: a researcher's start without DuckDB, PostgreSQL or Docker's client", async () => {
    // A real process on the bundle bin/tremesh.mjs runs, as a user starts it: which packages did Node load one by one?
    const loaded = async (...argvs: string[][]) => {
      const script = `import { createRequire } from "node:module";
const { run } = await import("./dist/cli-bundle/main.js");
for (const argv of ${JSON.stringify(argvs)}) await run(argv, { out() {}, err() {} });
const files = Object.keys(createRequire(import.meta.url).cache);
const heavy = files.flatMap((k) => /node_modules\\/(pg|dockerode|@duckdb\\/node-api)\\//.exec(k)?.[1] ?? []);
const nats = files.filter((k) => k.includes("node_modules/@nats-io/") || k.includes("node_modules/yaml/")).length;
const builtins = ${JSON.stringify(UNNEEDED_BUILTINS)}.filter((m) => process.moduleLoadList.includes("NativeModule " + m));
console.log(JSON.stringify({ heavy: [...new Set(heavy)].sort(), nats, builtins }));`;
      const { stdout } = await execFileAsync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: join(import.meta.dirname, ".."),
      });
      return JSON.parse(stdout) as { heavy: string[]; nats: number; builtins: string[] };
    };
    // The NATS client and yaml come in the bundle, not as the ~120 files of their packages.
    expect(
      await loaded(["--help"], ["submit", "--help"], ["status", "--help"], ["aggregate", "--help"]),
    ).toEqual({ heavy: [], nats: 0, builtins: [] });
    // A TRE's command builds crates (their zip library loads node:worker_threads), but no heavy package either.
    expect(await loaded(["leaf", "--help"])).toMatchObject({ heavy: [], nats: 0 });
    // The demo's own code does bring them: what this test looks for is there to be found.
    const demo = await loaded(["demo", "--help"]);
    expect(demo.heavy).toEqual(["@duckdb/node-api", "dockerode"]);
    expect(demo.builtins).toEqual(UNNEEDED_BUILTINS);
  });

  it("names an unknown command or flag and exits with the usage code", async () => {
    const c = capture();
    expect(await run(["sumbit"], c.io)).toBe(ExitCode.usage);
    expect(c.err[0]).toBe('tremesh: unknown command "sumbit" (see tremesh --help)');
    expect(await run(["keygen", "--colour", "red"], c.io)).toBe(ExitCode.usage);
    expect(c.err[1]).toMatch(/^tremesh keygen: .*--colour/);
  });

  it("keygen writes the seed to an owner-only file and prints only the public key", async () => {
    const dir = await tempDir("tremesh-keygen-");
    const c = capture();
    const out = join(dir, "tre.seed");
    expect(await run(["keygen", "--out", out], c.io)).toBe(ExitCode.ok);
    expect(isPublicKey(c.out[0]!)).toBe(true);
    expect(readFileSync(out, "utf8")).toMatch(/^SU[A-Z2-7]{56}\n$/);
    expect(c.out.join("")).not.toContain(readFileSync(out, "utf8").trim());
    // Refuses to overwrite an existing key.
    expect(await run(["keygen", "--out", out], c.io)).toBe(ExitCode.badInput);
    expect(c.err.at(-1)).toBe(`tremesh keygen: ${out} exists; refusing to overwrite a key`);
  });
});

describe("tremesh submit --tes", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  async function tesFile(executor: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const file = join(await tempDir("tremesh-tes-"), "task.json");
    const task = { executors: [executor], tags: { Project: "diabetes", tres: "north|south" }, ...extra };
    await writeFile(file, JSON.stringify(task));
    return file;
  }
  const pinned = { image: `tremesh/stats@sha256:${"0".repeat(64)}`, command: ["mean", "age"] };

  it("stops quietly when its reader goes away (tremesh … | head), not with an EPIPE stack", async () => {
    // The pipe's reading end is closed before the command writes: its output is no longer wanted.
    const child = spawn(process.execPath, ["bin/tremesh.mjs", "admin", "--help"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(stderr).toBe("");
    expect(code).toBe(0);
  });

  it("names its command once in a usage error, and prints a usage that follows it as lines", async () => {
    const c = capture();
    expect(await run(["admin", "--dir", await tempDir("tremesh-admin-")], c.io)).toBe(ExitCode.usage);
    expect(c.err[0]).toBe("tremesh admin: name a command");
    expect(c.err[1]).toMatch(/^usage: tremesh admin init --dir DIR/);
    expect(c.err.length).toBeGreaterThan(10);
    expect(c.err.join("\n")).not.toContain("\\u{a}");
    const typo = capture();
    expect(await run(["admin", "lst", "--dir", await tempDir("tremesh-admin-")], typo.io)).toBe(
      ExitCode.usage,
    );
    expect(typo.err[0]).toBe('tremesh admin: unknown command "lst"');
  });

  it("names a mistyped flag with the command's nearest one, and a flag missing its value", async () => {
    const said = async (...argv: string[]) => {
      const c = capture();
      expect(await run(argv, c.io)).toBe(ExitCode.usage);
      return c.err;
    };
    expect(await said("submit", "--projetc", "demo", "count.json")).toEqual([
      "tremesh submit: unknown flag --projetc; did you mean --project? (see tremesh submit --help)",
    ]);
    expect(await said("status", "--verbose")).toEqual([
      "tremesh status: unknown flag --verbose (see tremesh status --help)",
    ]);
    expect(await said("crate", "--out")).toEqual([
      "tremesh crate: --out needs a value (see tremesh crate --help)",
    ]);
    expect(await said("submit", "--project", "p", "--tres", "a", "x.json", "--timeout-ms", "5000")).toEqual([
      "tremesh submit: --timeout-ms goes with --wait or --aggregate",
    ]);
    const help = capture();
    expect(await run(["help", "submit"], help.io)).toBe(ExitCode.ok);
    expect(help.out.join("\n")).toMatch(/usage: tremesh submit\b/);
  });

  it("refuses a bad --host, URL or project name by what it is, making nothing", async () => {
    const dir = await tempDir("tremesh-admin-");
    const said = async (...argv: string[]) => {
      const c = capture();
      expect(await run(argv, c.io)).toBe(ExitCode.usage);
      return c.err;
    };
    const admin = join(dir, "admin");
    expect(await said("admin", "init", "--dir", admin, "--host", "bad host!")).toEqual([
      'tremesh admin init: --host "bad host!" is not a host name or IP address',
    ]);
    expect(await said("admin", "init", "--dir", admin, "--host", "::1")).toEqual([
      "tremesh admin init: --host ::1: an IPv6 address goes in brackets, as in a URL: --host [::1]",
    ]);
    expect(await said("admin", "init", "--dir", admin, "--client-url", "not a url")).toEqual([
      'tremesh admin init: --client-url "not a url" is not a URL',
    ]);
    await expect(readFile(join(admin, "federation.json"))).rejects.toThrow();
    expect(await run(["admin", "init", "--dir", admin, "--host", "127.0.0.1"], capture().io)).toBe(
      ExitCode.ok,
    );
    expect(await said("admin", "project", "create", "P8", "--until", "2099-01-01", "--dir", admin)).toEqual([
      'tremesh admin project create: "P8" is not a project name (lower case letters, digits, _ and -, starting with a letter)',
    ]);
  });

  it("says what is wrong with a task id, or with the verb before it", async () => {
    const said = async (...argv: string[]) => {
      const c = capture();
      expect(await run(argv, c.io)).toBe(ExitCode.usage);
      return c.err;
    };
    const id = newId(Date.now());
    expect(await said("status", id.slice(0, 10))).toEqual([
      `tremesh status: "${id.slice(0, 10)}" is not a task id (26 letters and digits, as submit printed it)`,
    ]);
    expect(await said("cancel", id, "extra")).toEqual([
      'tremesh cancel: one task id at a time; "extra" is one too many',
    ]);
    expect(await said("airlock", "show")).toEqual([
      "tremesh airlock show: a task id is required (as submit printed it)",
    ]);
    expect(await said("airlock", "lst", id)).toEqual([
      'tremesh airlock: unknown verb "lst": list, show, approve, reject, crate or serve',
    ]);
    expect(await said("crate", "verify", "x.zip", "--trust", "garbage")).toEqual([
      'tremesh crate verify: --trust "garbage" is not a public key (the U… of a TRE or a reviewer)',
    ]);
    expect(await said("crate", "verfy", "x.zip")).toEqual([
      'tremesh crate: "verfy" is not a task id (26 letters and digits, as submit printed it); to check a crate file: tremesh crate verify FILE.zip',
    ]);
    // A lower-case copy of an id is the id: past the id, the command asks for its profile.
    const lower = capture();
    expect(await run(["status", id.toLowerCase(), "--profile", "/nonexistent/p.yaml"], lower.io)).not.toBe(
      ExitCode.usage,
    );
  });

  it("refuses a TES task and an ANALYSIS.json together with the usage code", async () => {
    const c = capture();
    const file = await tesFile(pinned);
    expect(await run(["submit", "--tes", file, "count.json"], c.io)).toBe(ExitCode.usage);
    expect(c.err).toEqual(["tremesh submit: give either ANALYSIS.json or --tes TASK.json, not both"]);
  });

  it("names the file and the TES field of an image pinned by tag only", async () => {
    const c = capture();
    const file = await tesFile({ image: "tremesh/stats:latest", command: ["mean"] });
    expect(await run(["submit", "--tes", file], c.io)).toBe(ExitCode.badInput);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toContain(
      `tremesh submit: ${file}: executors[0].image: "tremesh/stats:latest" is named by tag only; pin it by digest as name@sha256:`,
    );
  });

  it("reports an unreadable or malformed task file as bad input", async () => {
    const c = capture();
    const missing = join(await tempDir("tremesh-tes-"), "none.json");
    expect(await run(["submit", "--tes", missing], c.io)).toBe(ExitCode.badInput);
    expect(c.err.at(-1)).toBe(
      `tremesh submit: ${missing}: cannot read: no such file or folder (ENOENT); check the path`,
    );
    await writeFile(missing, "{ not json");
    expect(await run(["submit", "--tes", missing], c.io)).toBe(ExitCode.badInput);
    expect(c.err.at(-1)).toContain(`tremesh submit: ${missing}: not valid JSON (`);
  });

  it("prints what it ignores as warnings on stderr before contacting the hub", async () => {
    vi.stubEnv("TREMESH_PROFILE", "");
    const c = capture();
    const file = await tesFile({ ...pinned, stdout: "/outputs/log.txt" }, { resources: { cpu_cores: 2 } });
    // No profile, so the command stops before any connection: everything seen here came first.
    expect(await run(["submit", "--tes", file, "--project", "cardio"], c.io)).toBe(ExitCode.usage);
    expect(c.err).toEqual([
      `tremesh submit: warning: ${file}: tags.Project: "diabetes" replaced by the project given separately, "cardio"`,
      `tremesh submit: warning: ${file}: executors[0].stdout: ignored: tremesh keeps a container's stdout and stderr inside the TRE`,
      `tremesh submit: warning: ${file}: resources: ignored: the TRE's own CPU, memory, disk and time limits apply (its leaf.yaml)`,
      "tremesh submit: no profile: give --profile FILE or set TREMESH_PROFILE",
    ]);
    expect(c.out).toEqual([]);
  });
});

describe("every answer names what happened and what to do", () => {
  it("reports a repeated TRE in --tres as a usage error naming it, not an unexpected one", async () => {
    const dir = await tempDir("tremesh-tres-");
    const file = join(dir, "count.json");
    await writeFile(file, JSON.stringify({ kind: "count", dataset: "patients" }));
    const c = capture();
    expect(await run(["submit", "--project", "p", "--tres", "north,north", file], c.io)).toBe(ExitCode.usage);
    expect(c.err).toEqual(['tremesh submit: --tres names "north" twice; name each TRE once']);
  });

  it("refuses a title over the limit before reaching the hub, naming --title, not as an unexpected error", async () => {
    const dir = await tempDir("tremesh-title-");
    const file = join(dir, "count.json");
    await writeFile(file, JSON.stringify({ kind: "count", dataset: "patients" }));
    const profile = join(dir, "none.profile.yaml");
    const c = capture();
    const argv = ["submit", "--project", "p", "--tres", "north", file, "--title", "x".repeat(201)];
    expect(await run([...argv, "--profile", profile], c.io)).toBe(ExitCode.usage);
    expect(c.err).toEqual(["tremesh submit: --title has 201 characters; a task's title has at most 200"]);
    // An escape sequence in a title acted on the TRE reviewer's terminal; here it was an "unexpected error".
    const escaped = capture();
    const esc = ["submit", "--project", "p", "--tres", "north", file, "--title", "\u001b[2Jx"];
    expect(await run([...esc, "--profile", profile], escaped.io)).toBe(ExitCode.usage);
    expect(escaped.err).toEqual([
      'tremesh submit: --title "\\u001b[2Jx": give one line of text, without control or formatting characters',
    ]);
  });

  it("names where a profile's relative path points when the file is not there, not only the path as written", async () => {
    const dir = await tempDir("tremesh-relpath-");
    const profile = join(dir, "bundle", "profile.yaml");
    await mkdir(join(dir, "bundle"));
    await writeFile(profile, "hub: nats://127.0.0.1:4222\nuser: alice\npasswordFile: ./alice.password\n");
    const c = capture();
    expect(await run(["status", "--profile", profile], c.io)).toBe(ExitCode.badInput);
    expect(c.err).toEqual([
      `tremesh status: ${profile}: passwordFile: cannot read ./alice.password (ENOENT): paths are relative to ${join(dir, "bundle")}, so this is ${join(dir, "bundle", "alice.password")}`,
    ]);
  });

  it("says a folder holds no demo to stop, never a raw ENOENT", async () => {
    const dir = await tempDir("tremesh-nodemo-");
    const c = capture();
    expect(await run(["demo", "stop", dir], c.io)).toBe(ExitCode.badInput);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toContain(`${dir} holds no running demo (no pids.json)`);
    expect(c.err[0]).toContain("tremesh demo --keep --dir DIR");
    expect(c.err[0]).not.toMatch(/ENOENT/);
  });

  it("refuses a project window already over, or in the wrong order, naming the flags", async () => {
    const profile = join(await tempDir("tremesh-noprofile-"), "admin.profile.yaml");
    const past = capture();
    const create = ["admin", "project", "create", "p1", "--tres", "north", "--profile", profile];
    expect(await run([...create, "--from", "2020-01-01", "--until", "2020-06-30"], past.io)).toBe(
      ExitCode.usage,
    );
    expect(past.err).toEqual([
      "tremesh admin project create: --until 2020-06-30 is in the past, so every submission would be refused; give a later date",
    ]);
    const order = capture();
    expect(await run([...create, "--from", "2999-06-30", "--until", "2999-01-01"], order.io)).toBe(
      ExitCode.usage,
    );
    expect(order.err[0]).toContain("--until 2999-01-01 is not after --from 2999-06-30");
    expect(order.err[0]).not.toMatch(/endsAt|startsAt/);
  });

  it("never echoes a binary analysis file's control bytes to the terminal", async () => {
    const dir = await tempDir("tremesh-binary-");
    const file = join(dir, "analysis.json");
    await writeFile(file, Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x00, 0x07, 0x9b, 0x41, 0x0d]));
    const c = capture();
    expect(await run(["submit", "--project", "p", "--tres", "north", file], c.io)).toBe(ExitCode.badInput);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toContain(`${file}: not valid JSON`);
    expect(c.err[0]).toContain("give a JSON analysis file");
    expect(c.err[0]).not.toMatch(/\p{Cc}/u);
  });

  it("says of a profile's hub URL that is no URL, that nobody answers, or that answers without TLS, what to check and where", async () => {
    const dir = await tempDir("tremesh-hub-url-");
    await writeFile(join(dir, "ca.crt"), (await createFederationCa({ name: "test federation" })).certPem);
    await writeFile(join(dir, "alice.password"), "a password long enough\n", { mode: 0o600 });
    expect(await run(["keygen", "--out", join(dir, "alice.seed")], capture().io)).toBe(ExitCode.ok);
    // A port that answers in plaintext, as a monitoring or web port does, and one nobody listens on.
    const plain = createServer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const portOf = (s: typeof plain) => (s.address() as { port: number }).port;
    const closedPort = portOf(closed);
    await new Promise((resolve) => closed.close(resolve));
    const profileFor = async (name: string, url: string) => {
      const file = join(dir, `alice-${name}.profile.yaml`);
      await writeFile(
        file,
        `hub: ${url}\ncaFile: ./ca.crt\nuser: alice\npasswordFile: ./alice.password\nsigningKeyFile: ./alice.seed\n`,
      );
      return file;
    };
    try {
      const plainUrl = `tls://127.0.0.1:${portOf(plain)}`;
      const plainProfile = await profileFor("plain", plainUrl);
      const wrongPort = capture();
      expect(await run(["status", "--profile", plainProfile], wrongPort.io)).toBe(ExitCode.badInput);
      expect(wrongPort.err).toEqual([
        `tremesh status: ${plainUrl} did not answer in TLS: it is not the hub's client port; check \`hub\` in ${plainProfile} (the onboarding bundle's profile has the URL)`,
      ]);
      const badUrl = await profileFor("bad", "tls://127.0.0.1:99999");
      const bad = capture();
      expect(await run(["status", "--profile", badUrl], bad.io)).toBe(ExitCode.badInput);
      expect(bad.err).toEqual([
        `tremesh status: ${badUrl}: hub: tls://127.0.0.1:99999 is not a URL (tls://host:port)`,
      ]);
      const closedUrl = `tls://127.0.0.1:${closedPort}`;
      const closedProfile = await profileFor("closed", closedUrl);
      const down = capture();
      expect(await run(["status", "--profile", closedProfile], down.io)).toBe(ExitCode.unavailable);
      expect(down.err).toEqual([
        `tremesh status: cannot reach the hub at ${closedUrl}: connection refused; is the hub up (try again later), and is \`hub\` in ${closedProfile} its client URL?`,
      ]);
    } finally {
      plain.close();
    }
  });

  // They were found only once the task had ended, after a wait that can last as long as a review takes.
  it("refuses a --save-files folder or --plot file it could not write before submitting or waiting", async () => {
    const dir = await tempDir("tremesh-outputs-");
    const analysis = join(dir, "count.json");
    await writeFile(analysis, '{"kind":"count","dataset":"patients"}');
    const plot = join(dir, "plot.svg");
    await writeFile(plot, "<svg/>");
    const submit = [
      "submit",
      "--project",
      "p",
      "--tres",
      "a",
      analysis,
      "--aggregate",
      "--profile",
      join(dir, "none.yaml"),
    ];
    for (const [flags, said] of [
      [
        ["--save-files", join(dir, "no", "files")],
        `--save-files ${join(dir, "no", "files")}: its parent folder ${join(dir, "no")} does not exist; make it first`,
      ],
      [
        ["--save-files", "/proc/tremesh-files"],
        "--save-files /proc/tremesh-files: is in /proc, a file system the kernel provides: give a folder on a disk",
      ],
      [["--save-files", analysis], `--save-files ${analysis}: exists and is not a folder`],
      [
        ["--plot", plot],
        `--plot ${plot}: exists; tremesh does not write over a file: give another path, or move it away first`,
      ],
    ] as const) {
      const c = capture();
      expect(await run([...submit, ...flags], c.io)).toBe(ExitCode.badInput);
      expect(c.err).toEqual([`tremesh submit: ${said}`]);
    }
    const c = capture();
    expect(
      await run(["aggregate", newId(), "--save-files", "/proc/x", "--profile", join(dir, "none.yaml")], c.io),
    ).toBe(ExitCode.badInput);
    expect(c.err).toEqual([
      "tremesh aggregate: --save-files /proc/x: is in /proc, a file system the kernel provides: give a folder on a disk",
    ]);
  });

  it("names a missing or unreadable file in words, never Node's raw errno line", async () => {
    const dir = await tempDir("tremesh-files-");
    const c = capture();
    expect(await run(["status", newId(), "--profile", join(dir, "none.yaml")], c.io)).toBe(ExitCode.badInput);
    expect(await run(["submit", "--tes", dir], c.io)).toBe(ExitCode.badInput);
    expect(await run(["crate", "verify", join(dir, "none.zip")], c.io)).toBe(ExitCode.badInput);
    expect(await run(["crate", "verify", dir], c.io)).toBe(ExitCode.badInput);
    expect(c.err).toEqual([
      `tremesh status: ${join(dir, "none.yaml")}: cannot read: no such file or folder (ENOENT); check the path`,
      `tremesh submit: ${dir}: cannot read: is a folder, not a file (EISDIR); give a file`,
      `tremesh crate verify: ${join(dir, "none.zip")}: cannot read: no such file or folder (ENOENT); check the path`,
      `tremesh crate verify: ${dir}: cannot read: is a folder, not a file (EISDIR); give a file`,
    ]);
    const key = capture();
    expect(await run(["keygen", "--out", join(dir, "none", "alice.seed")], key.io)).toBe(ExitCode.badInput);
    expect(key.err).toEqual([
      `tremesh keygen: ${join(dir, "none", "alice.seed")}: cannot write: no such file or folder (ENOENT); check the path`,
    ]);
    // A file that is no zip is that one problem, not also each file a crate must hold.
    const notZip = join(dir, "notes.txt");
    await writeFile(notZip, "not a crate\n");
    const verify = capture();
    expect(await run(["crate", "verify", notZip], verify.io)).toBe(ExitCode.failed);
    expect(verify.out.filter((l) => l.startsWith("bag: "))).toEqual([
      expect.stringMatching(new RegExp(`^bag: ${notZip}: not a zip file \\(`)),
    ]);
    // A crate zipped without a bag (a request crate, say) is named as such, besides the bag's missing files.
    const plain = join(dir, "request.zip");
    await writeFile(plain, zipSync({ "ro-crate-metadata.json": new TextEncoder().encode("{}") }));
    const plainly = capture();
    expect(await run(["crate", "verify", plain], plainly.io)).toBe(ExitCode.failed);
    expect(plainly.err).toEqual([
      `note: ${plain} is an RO-Crate zipped without a BagIt bag; crate verify checks published crates, bags as \`tremesh crate\` writes them (a request crate is checked when it is submitted: tremesh submit --crate)`,
    ]);
  });
});
