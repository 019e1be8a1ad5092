import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { submit as submitTask } from "../aggregator/index.js";
import { analysisSpec, FieldError, isTreName, PROJECT_NAME } from "../protocol/index.js";
import { type Command, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";
import { signingKey } from "./profile.js";
import { endedCode, followTask, timeoutArg } from "./results-command.js";

export const submit: Command = {
  name: "submit",
  summary: "sign an analysis and submit it to the hub for the named TREs",
  usage:
    "tremesh submit --project P --tres a,b ANALYSIS.json [--title T] [--wait [--timeout-ms N]] [--profile FILE] [--json]",
  examples: [
    'echo \'{"kind":"count","dataset":"patients","groupBy":["sex"]}\' > count.json',
    "tremesh submit --project diabetes --tres a,b count.json --profile alice.profile.yaml",
    "ID=$(tremesh submit --project diabetes --tres a,b count.json --wait) && tremesh aggregate $ID",
  ],
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        project: { type: "string" },
        tres: { type: "string" },
        title: { type: "string" },
        profile: { type: "string" },
        json: { type: "boolean" },
        wait: { type: "boolean" },
        "timeout-ms": { type: "string" },
      },
    });
    if (!values.project || !PROJECT_NAME.test(values.project))
      throw usageError("submit: --project NAME is required");
    const tres = (values.tres ?? "").split(",").filter((t) => t !== "");
    if (tres.length === 0) throw usageError("submit: --tres a,b is required");
    const badTre = tres.find((t) => !isTreName(t));
    if (badTre !== undefined) throw usageError(`submit: --tres: ${JSON.stringify(badTre)} is not a TRE name`);
    const [file] = positionals;
    if (!file || positionals.length !== 1) throw usageError("submit: exactly one ANALYSIS.json is required");
    let analysis: ReturnType<typeof analysisSpec>;
    try {
      analysis = analysisSpec(JSON.parse(await readFile(file, "utf8")), "analysis");
    } catch (cause) {
      const problem =
        cause instanceof FieldError || cause instanceof SyntaxError ? cause.message : String(cause);
      throw new CliError(`${file}: ${problem}`, ExitCode.badInput, { cause });
    }
    const project = values.project;
    const timeoutMs = timeoutArg("submit", values["timeout-ms"]);
    return withHub(values.profile, async (nc, profile) => {
      const reply = await submitTask(nc, signingKey(profile), {
        project,
        tres,
        analysis,
        ...(values.title ? { title: values.title } : {}),
      });
      if (values.json) io.out(JSON.stringify(reply));
      if (reply.status === "rejected") {
        if (!values.json) io.err(`tremesh submit: rejected (${reply.code}): ${reply.message}`);
        return ExitCode.refused;
      }
      if (!values.json) io.out(reply.taskId);
      if (!values.wait) return ExitCode.ok;
      // Progress goes to stderr, so stdout stays the task id (and, with --json, the final task view).
      const task = await followTask(
        nc,
        signingKey(profile),
        reply.taskId,
        (t) => io.err(`${t.state}: ${t.children.map((c) => `${c.tre} ${c.state}`).join(", ")}`),
        { timeoutMs },
      );
      if (values.json) io.out(JSON.stringify(task));
      return endedCode(task);
    });
  },
};
