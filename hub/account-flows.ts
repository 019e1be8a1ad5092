/**
 * The hub's whole cross-account surface: every export/import between FED and one TRE account, and FED's three
 * researcher services exported to RESEARCH. Both server-config models render these, so config and operator mode
 * cannot drift apart, and TRE accounts never import from each other.
 */
import { streams, subjects } from "../protocol/index.js";
import { FED_ACCOUNT, RESEARCH_ACCOUNT, treAccountName } from "./account-names.js";

/**
 * One explicit cross-account flow. nats-server has no other way across accounts, so the list from
 * `hubAccountFlows` is the whole cross-account surface of the hub.
 *
 * - `service`: what `importer` publishes on `localSubject` (default `subject`) is delivered in `exporter` on
 *   `subject`, and replies find their way back (a JetStream publish gets its PubAck).
 * - `stream`: what is published in `exporter` on `subject` is also delivered to subscribers in `importer`.
 */
export interface AccountFlow {
  kind: "service" | "stream";
  exporter: string;
  /** The only account the export is granted to. */
  importer: string;
  subject: string;
  /** The importer's own name for a service subject, when it differs. */
  localSubject?: string;
  /** What crosses, in a few words (rendered nowhere; for reviews and failing tests). */
  purpose: string;
}

/**
 * Every cross-account flow of the hub, for the given TREs: per TRE, FED ↔ that TRE's account only.
 *
 * The results flows let FED's `TRE_RESULTS` stream source `RESULTS_<tre>` in the TRE's account: a stream
 * sourcing across accounts creates its consumer through `external.api` (a service import of the consumer-create
 * API), answers flow control on `$JS.FC.<stream>.…` (a service import), and receives the deliveries under
 * `external.deliver` (a stream import).
 */
export function hubAccountFlows(tres: readonly string[]): AccountFlow[] {
  return tres.flatMap((tre): AccountFlow[] => {
    const account = treAccountName(tre);
    const results = streams.results(tre);
    const flow = (kind: AccountFlow["kind"], subject: string, purpose: string, localSubject?: string) => ({
      kind,
      exporter: account,
      importer: FED_ACCOUNT,
      subject,
      purpose,
      ...(localSubject === undefined ? {} : { localSubject }),
    });
    return [
      flow(
        "service",
        subjects.treInbound(tre),
        "tasks: FED publishes into the TASKS stream and gets its PubAck",
      ),
      flow("stream", subjects.heartbeat(tre), "the TRE's heartbeats (core NATS, for liveness)"),
      flow(
        "service",
        `${subjects.jsConsumerCreate(results)}.>`,
        "results view: FED's source consumer on the TRE's results stream (filtered create form only)",
        `${subjects.jsConsumerCreate(results, subjects.fedSourceApi(tre))}.>`,
      ),
      flow("service", subjects.jsFlowControl(results), "results view: flow-control replies to that consumer"),
      flow(
        "stream",
        subjects.fedSourceDeliveries(tre),
        "results view: that consumer's deliveries and heartbeats",
      ),
    ];
  });
}

/** The researchers' flows: FED exports its three researcher services to RESEARCH, and nothing else crosses. */
export function researcherAccountFlows(): AccountFlow[] {
  const flow = (subject: string, purpose: string): AccountFlow => ({
    kind: "service",
    exporter: FED_ACCOUNT,
    importer: RESEARCH_ACCOUNT,
    subject,
    purpose,
  });
  return [
    flow(subjects.submit, "a researcher's signed Submission to the submission service"),
    flow(subjects.cancelRequest, "a researcher's signed CancelRequest"),
    flow(subjects.query, "a researcher's signed Query (task state, releases, TREs online)"),
  ];
}
