import { parseArgs } from "node:util";
import {
  collectResults,
  submit as submitTask,
  TesImportError,
  type TesSubmission,
  tesTaskToSubmission,
} from "../aggregator/index.js";
import {
  type AnalysisSpec,
  analysisSpec,
  FieldError,
  isTreName,
  MAX_TITLE_CHARS,
  PROJECT_NAME,
  TITLE,
} from "../protocol/index.js";
import { type Command, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { refusalHint, withHub } from "./hub-session.js";
import { readInputFile } from "./input-file.js";
import { checkOutputPaths } from "./output-file.js";
import { printable } from "./printable.js";
import { loadProfile, signingKey } from "./profile.js";
import {
  aggregateOptions,
  checkAggregateFlags,
  endedCode,
  followTask,
  printAggregate,
  timeoutArg,
} from "./results-command.js";
import { notReleasedLines } from "./task-progress.js";

export const submit: Command = {
  usage: [
    "tremesh submit --project P --tres a,b ANALYSIS.json [--title T] [--wait [--timeout-ms N]] [--profile FILE] [--json]",
    "       tremesh submit --tes TASK.json [--project P] [--tres a,b] [--title T] [--wait [--timeout-ms N]] [--profile FILE] [--json]",
    "       tremesh submit --crate REQUEST.zip --tres a,b [--project P] [--title T] [--wait [--timeout-ms N]] [--profile FILE] [--json]",
    "       tremesh submit … --aggregate [--csv] [--plot FILE.svg] [--save-files DIR] [--timeout-ms N]",
    "",
    "ANALYSIS.json is one analysis: count, summary, histogram, crosstab, regression or container, each with its",
    "fields and filters as docs/analyses.md shows them.",
    "--timeout-ms N: how long --wait or --aggregate follows the task, in ms; 0, the default, for as long as it runs.",
    "A TRE whose reviewers have not decided after a minute of the wait is named on stderr, once.",
    "--aggregate waits for the task to end and prints its combined outputs as `tremesh aggregate` does, in one",
    "command: the task id and progress go to stderr, the result to stdout.",
    "--json prints one JSON document on stdout: the hub's answer ({status, taskId, …}); with --wait, the task's",
    "final view instead (as `tremesh status TASK_ID --json`, taskId included); with --aggregate, the combined result",
    "(as `tremesh aggregate --json`). Following a task, the id goes to stderr at once, and a timeout prints no JSON.",
    "--tes reads a GA4GH TES task: one executor, its image pinned by digest (name@sha256:…), inputs only",
    "as tremesh:dataset/NAME, outputs as files in /outputs/. Its tags.Project and tags.tres (north|south) name",
    "the project and TREs; --project, --tres and --title override tags.Project, tags.tres and its name.",
    "TES fields tremesh ignores (resources, stdout, output urls, …) are listed on stderr as warnings.",
    "--crate reads a Five Safes RO-Crate 0.4 request (see docs/crates.md), as a BagIt zip (the bag at its top or in",
    "its one folder), a plain crate zip (the crate at its top), a crate folder, or its ro-crate-metadata.json: its mainEntity one of tremesh's",
    "analyses (urn:tremesh:analysis:KIND:1), its CreateAction's agent you, its inputs the analysis parameters.",
    "The crate names its project; --project, if given, must be the same one (a check, not an override: the",
    "project is part of what the crate asks for).",
  ].join("\n"),
  examples: [
    'echo \'{"kind":"count","dataset":"patients","groupBy":["sex"]}\' > count.json',
    "tremesh submit --project diabetes --tres a,b count.json --profile alice.profile.yaml",
    "ID=$(tremesh submit --project diabetes --tres a,b count.json --wait) && tremesh aggregate $ID",
    "tremesh submit --project diabetes --tres a,b count.json --aggregate --csv > result.csv",
    "tremesh submit --tes docs/examples/tes-task.json --wait      # project and TREs from its tags",
    "tremesh submit --tes task.json --project diabetes --tres north   # flags override the tags",
  ],
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        tes: { type: "string" },
        crate: { type: "string" },
        project: { type: "string" },
        tres: { type: "string" },
        title: { type: "string" },
        profile: { type: "string" },
        json: { type: "boolean" },
        wait: { type: "boolean" },
        "timeout-ms": { type: "string" },
        aggregate: { type: "boolean" },
        ...aggregateOptions,
      },
    });
    if (values.aggregate) {
      checkAggregateFlags("submit", values);
      await checkOutputPaths("submit", { saveFiles: values["save-files"], plot: values.plot });
    } else {
      const stray = (Object.keys(aggregateOptions) as (keyof typeof aggregateOptions)[]).find(
        (f) => values[f] !== undefined,
      );
      if (stray !== undefined) throw usageError(`submit: --${stray} goes with --aggregate`);
      if (values["timeout-ms"] !== undefined && !values.wait)
        throw usageError("submit: --timeout-ms goes with --wait or --aggregate");
    }
    const tesFile = values.tes;
    if (tesFile !== undefined && positionals.length > 0) {
      throw usageError("submit: give either ANALYSIS.json or --tes TASK.json, not both");
    }
    if (values.project !== undefined && !PROJECT_NAME.test(values.project)) {
      throw usageError(`submit: --project: ${JSON.stringify(values.project)} is not a project name`);
    }
    const flagTres = values.tres?.split(",").filter((t) => t !== "");
    const badTre = flagTres?.find((t) => !isTreName(t));
    if (badTre !== undefined) throw usageError(`submit: --tres: ${JSON.stringify(badTre)} is not a TRE name`);
    if (flagTres?.length === 0) throw usageError("submit: --tres needs at least one TRE name");
    const repeated = flagTres?.find((t, i) => flagTres.indexOf(t) !== i);
    if (repeated !== undefined)
      throw usageError(`submit: --tres names ${JSON.stringify(repeated)} twice; name each TRE once`);

    let project: string;
    let tres: string[];
    let analysis: AnalysisSpec;
    let title = values.title;
    if (title !== undefined && !TITLE.test(title))
      throw usageError(
        `submit: --title ${JSON.stringify(title)}: give one line of text, without control or formatting characters`,
      );
    let externalId: string | undefined;
    if (values.crate !== undefined) {
      if (tesFile !== undefined || positionals.length > 0)
        throw usageError("submit: give one of ANALYSIS.json, --tes TASK.json or --crate REQUEST.zip");
      if (!flagTres)
        throw usageError("submit: --crate needs --tres a,b (a request crate does not name TREs)");
      const user = (await loadProfile(values.profile)).user;
      // Loaded only for a crate: the crate reader (and its zip and JSON-LD code) is most of a plain submit's start.
      const { crateSubmission } = await import("./submit-crate.js");
      const fromCrate = await crateSubmission(values.crate, user, flagTres, values.project);
      for (const id of fromCrate.stripped)
        io.err(
          `tremesh submit: warning: ${values.crate}: review action ${id} dropped (only a TRE records its review)`,
        );
      ({ project, analysis } = fromCrate);
      tres = flagTres;
      title ??= fromCrate.title;
      externalId = fromCrate.externalId;
    } else if (tesFile !== undefined) {
      const task = await readJson(tesFile);
      let converted: TesSubmission;
      try {
        converted = tesTaskToSubmission(task, {
          ...(values.project !== undefined ? { project: values.project } : {}),
          ...(flagTres !== undefined ? { tres: flagTres } : {}),
          ...(values.title !== undefined ? { title: values.title } : {}),
        });
      } catch (cause) {
        if (!(cause instanceof TesImportError)) throw cause;
        throw new CliError(`${tesFile}: ${cause.message}`, ExitCode.badInput, { cause });
      }
      for (const warning of converted.warnings) io.err(`tremesh submit: warning: ${tesFile}: ${warning}`);
      ({ project, tres, analysis } = converted);
      title = converted.title;
    } else {
      if (!values.project) throw usageError("submit: --project NAME is required");
      if (!flagTres) throw usageError("submit: --tres a,b is required");
      const [file] = positionals;
      if (!file || positionals.length !== 1) {
        throw usageError("submit: exactly one ANALYSIS.json (or --tes TASK.json) is required");
      }
      const json = await readJson(file);
      try {
        analysis = analysisSpec(json, "analysis");
      } catch (cause) {
        if (!(cause instanceof FieldError)) throw cause;
        throw new CliError(`${file}: ${cause.message}`, ExitCode.badInput, { cause });
      }
      project = values.project;
      tres = flagTres;
    }
    // Checked here, before the hub is reached: the Submission's own check would otherwise fail after connecting,
    // as an unexpected error.
    if (title !== undefined && title.length > MAX_TITLE_CHARS) {
      if (values.title !== undefined)
        throw usageError(
          `submit: --title has ${title.length} characters; a task's title has at most ${MAX_TITLE_CHARS}`,
        );
      // A TES task's name is checked as it is read (aggregator/tes.ts); what is left is a request crate's.
      throw new CliError(
        `${values.crate}: the crate's name has ${title.length} characters; a task's title has at most ${MAX_TITLE_CHARS} (give a shorter --title)`,
        ExitCode.badInput,
      );
    }
    if (title !== undefined && !TITLE.test(title))
      throw new CliError(
        `${tesFile ?? values.crate}: its name ${JSON.stringify(title)} holds control or formatting characters; a task's title is one line of text (give --title)`,
        ExitCode.badInput,
      );
    const timeoutMs = timeoutArg("submit", values["timeout-ms"]);
    return withHub(values.profile, async (nc, profile) => {
      const reply = await submitTask(nc, signingKey(profile), {
        project,
        tres,
        analysis,
        ...(title ? { title } : {}),
        ...(externalId ? { externalId } : {}),
      });
      const follows = values.wait || values.aggregate;
      if (reply.status === "rejected") {
        if (values.json) io.out(JSON.stringify(reply));
        else
          io.err(
            `tremesh submit: rejected (${reply.code}): ${reply.message}${refusalHint(reply.code, profile)}`,
          );
        return ExitCode.refused;
      }
      // stdout holds one answer: the task id, or with --json one document. A command that follows the task keeps
      // stdout for its last document (the final task view, or with --aggregate the result) and names the task on
      // stderr at once, so the id is known while it waits.
      if (values.json && !follows) io.out(JSON.stringify(reply));
      else if (values.json || values.aggregate) io.err(`task ${reply.taskId}`);
      else io.out(reply.taskId);
      // The task runs at the other TREs; these never got it. Said at once, and the exit code is not 0.
      for (const n of reply.notQueued ?? [])
        io.err(`tremesh submit: TRE ${n.tre} did not queue the task: ${printable(n.message)}`);
      const notQueued = (reply.notQueued?.length ?? 0) > 0;
      if (!follows) return notQueued ? ExitCode.failed : ExitCode.ok;
      // Progress goes to stderr, so stdout stays the task id (or, with --json, the final task view alone).
      const task = await followTask(
        nc,
        signingKey(profile),
        reply.taskId,
        (t) => io.err(`${t.state}: ${t.children.map((c) => `${c.tre} ${c.state}`).join(", ")}`),
        { timeoutMs, onHint: (line) => io.err(line) },
      );
      if (!values.aggregate) {
        if (values.json) io.out(JSON.stringify(task));
        for (const line of notReleasedLines(task)) io.err(line);
        return endedCode(task);
      }
      // On the same connection: the Releases fetched, verified and combined as `tremesh aggregate` does, which
      // also says on stderr which TREs released nothing and why.
      const results = await collectResults(nc, signingKey(profile), reply.taskId, profile.treKeys);
      const printed = await printAggregate(results, values, io);
      const ended = endedCode(task);
      return ended === ExitCode.ok ? printed : ended;
    });
  },
};

/** Reads and parses a JSON file; a missing or malformed file is the user's input error. */
async function readJson(file: string): Promise<unknown> {
  const text = (await readInputFile(file)).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (cause) {
    // JSON.parse quotes the offending text: made printable, so a binary file cannot write control bytes here.
    throw new CliError(
      `${file}: not valid JSON (${printable((cause as Error).message)}); give a JSON analysis file`,
      ExitCode.badInput,
      { cause },
    );
  }
}
