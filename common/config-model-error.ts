/**
 * A server config model that cannot be turned into a safe nats-server config: a bad name, a duplicate
 * user, a missing credential. Names the field and the problem, as a user-facing message should.
 */
export class ConfigModelError extends Error {
  override readonly name = "ConfigModelError";
  /** Path of the offending field in the model, e.g. `tres[1].name`. */
  readonly field: string;
  constructor(field: string, problem: string, options?: ErrorOptions) {
    super(`\`${field}\`: ${problem}`, options);
    this.field = field;
  }
}
