/**
 * WebSocket text frames for a fan-out, built once (style §7: serialise once, send to many).
 *
 * `ws.send` frames its payload at every call: a header allocated and two writes per recipient,
 * which a group commit's fan-out repeats for every member of every conversation. The hub hands
 * every recipient of one fan-out the same Buffer (hub.ts), so the whole frame, header and payload
 * in one Buffer, is built at the first recipient and the others are handed that same frame.
 * The frame is ws's own (`Sender.frame`): final, unmasked as a server's frames are, no extension
 * bits (the gateway negotiates none).
 */
import * as ws from 'ws';

type FrameOptions = { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean };
/**
 * ws's frame builder (ws/lib/sender.js, a named export of ws's ES module entry point), which
 * @types/ws does not declare.
 */
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };

/** RFC 6455 §5.2: a final text frame (opcode 1), unmasked; the payload is copied into the frame. */
const TEXT: FrameOptions = { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true };

export class TextFrames {
  /** The last payload framed and its frame: a fan-out asks for the same payload for every recipient. */
  #payload: Buffer | null = null;
  #frame = Buffer.alloc(0);

  /** The complete frame of `payload`, the same Buffer for the same payload asked again. */
  of(payload: Buffer): Buffer {
    if (payload !== this.#payload) {
      this.#frame = Buffer.concat(Sender.frame(payload, TEXT));
      this.#payload = payload;
    }
    return this.#frame;
  }
}
