/**
 * The frames written to one socket in one turn of the event loop leave it in one system call.
 *
 * Writing to a socket is what a node spends most of its time on under load: a kernel write per
 * frame and recipient. A group commit publishes its messages together, so a member of a busy
 * conversation is handed several frames at once; and the busier the node, the larger the batches.
 * So a socket written to is corked at its first frame of the turn (Node buffers what follows), and
 * every socket corked in the turn is uncorked together once the turn's I/O has been handled
 * (setImmediate): its frames then go out as one `writev`. An idle node delays nothing it could
 * have sent sooner: the uncork comes before the event loop waits for I/O again.
 */
import type { Duplex } from 'node:stream';

/** The part of a socket this needs. */
export type Corkable = Pick<Duplex, 'writableCorked' | 'cork' | 'uncork'>;

export class WriteBatches {
  #corked: Corkable[] = [];
  #scheduled = false;

  /**
   * Call before writing to `socket`: from here to the end of the turn its writes are gathered.
   * True at the turn's first write, when what the socket still buffers is what the kernel did not
   * take (later in the turn, it includes the turn's own frames, whatever the reader does).
   */
  gather(socket: Corkable): boolean {
    // Corked already: by this turn's first write, or by someone else, who uncorks it.
    if (socket.writableCorked > 0) return false;
    socket.cork();
    this.#corked.push(socket);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
    return true;
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const corked = this.#corked;
    this.#corked = [];
    // A socket destroyed meanwhile ignores this.
    for (const socket of corked) socket.uncork();
  };
}
