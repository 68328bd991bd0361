/**
 * A write made inside a uWS cork without a closure per call: uWS runs a cork callback at
 * once, so one callback made up front reads its target from the slot. The slot is put back
 * after each call, so a write that starts another from inside (a close from a failed
 * write) cannot make the outer one write for the wrong connection.
 */
export class CorkSlot<T> {
  private target: T | undefined;
  private readonly callback = (): void => this.write(this.target!);

  constructor(private readonly write: (target: T) => void) {}

  /** Runs the write for `target` inside `corkable`'s cork. */
  run(corkable: { cork(callback: () => void): unknown }, target: T): void {
    const outer = this.target;
    this.target = target;
    try {
      corkable.cork(this.callback);
    } finally {
      this.target = outer;
    }
  }
}
