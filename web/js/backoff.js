// Reconnect delays: exponential backoff with jitter, as a plain object so its schedule is testable.
//
// Equal jitter (half fixed, half random) keeps a floor under each delay, so a restarting gateway is not hit by
// every viewer at once, yet no viewer retries in a tight loop.

export const BACKOFF_BASE_MS = 500;
export const BACKOFF_MAX_MS = 15000;

export class Backoff {
  /** `random` returns [0, 1); injectable for tests. */
  constructor({ base = BACKOFF_BASE_MS, max = BACKOFF_MAX_MS, random = Math.random } = {}) {
    this.base = base;
    this.max = max;
    this.random = random;
    this.attempt = 0;
  }

  /** The delay before the next attempt, in ms; each call counts one more attempt. */
  next() {
    const ceiling = Math.min(this.max, this.base * 2 ** Math.min(this.attempt, 30));
    this.attempt += 1;
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  /** After a successful connection: start again from the base delay. */
  reset() {
    this.attempt = 0;
  }
}
