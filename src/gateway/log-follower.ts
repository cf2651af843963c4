// Follows a growing log file by polling (fs.watch is unreliable across volume types), handing out complete lines.
// The file may not exist yet; its last line may be half written; it may be truncated or replaced when the trainer
// restarts (size below our offset, a new inode, or different first bytes: a truncated file may have grown past our
// offset again between two polls), in which case it is read again from the start.
import { open, stat } from "node:fs/promises";

const CHUNK_BYTES = 1 << 20;
// Enough of the file's start to tell two runs apart (Ray's first lines carry timestamps and pids).
const HEAD_BYTES = 256;

export class LogFollower {
  private readonly path: string;
  private readonly onLine: (line: string) => void;
  private offset = 0;
  private inode: number | undefined;
  private partial: Buffer = Buffer.alloc(0);
  private head: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(path: string, onLine: (line: string) => void) {
    this.path = path;
    this.onLine = onLine;
  }

  start(intervalMs: number): void {
    const tick = () => {
      this.polling = this.poll()
        .catch(() => {}) // a vanished or unreadable file is tried again on the next tick
        .finally(() => {
          this.timer = setTimeout(tick, intervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    await this.polling;
    clearTimeout(this.timer);
  }

  /** Reads whatever was appended since the last poll. */
  async poll(): Promise<void> {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(this.path);
    } catch {
      this.inode = undefined; // not there (yet, or any more): whatever appears next is a new file
      return;
    }
    const file = await open(this.path, "r");
    try {
      if (info.ino !== this.inode || info.size < this.offset || !(await this.sameHead(file))) {
        this.inode = info.ino;
        this.offset = 0;
        this.partial = Buffer.alloc(0);
        this.head = Buffer.alloc(0);
      }
      if (info.size === this.offset) return;
      const buffer = Buffer.alloc(CHUNK_BYTES);
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, CHUNK_BYTES, this.offset);
        if (bytesRead === 0) break;
        if (this.head.length < HEAD_BYTES && this.offset < HEAD_BYTES) {
          this.head = Buffer.concat([this.head, buffer.subarray(0, Math.min(bytesRead, HEAD_BYTES - this.offset))]);
        }
        this.offset += bytesRead;
        this.split(buffer.subarray(0, bytesRead));
      }
    } finally {
      await file.close();
    }
  }

  private async sameHead(file: Awaited<ReturnType<typeof open>>): Promise<boolean> {
    if (this.head.length === 0) return true;
    const now = Buffer.alloc(this.head.length);
    const { bytesRead } = await file.read(now, 0, now.length, 0);
    return bytesRead === now.length && now.equals(this.head);
  }

  // Works on bytes, so a UTF-8 character cut between two reads is joined before decoding.
  private split(chunk: Buffer): void {
    let data = this.partial.length > 0 ? Buffer.concat([this.partial, chunk]) : chunk;
    for (let newline = data.indexOf(10); newline >= 0; newline = data.indexOf(10)) {
      this.onLine(data.subarray(0, newline).toString("utf8").replace(/\r$/, ""));
      data = data.subarray(newline + 1);
    }
    this.partial = Buffer.from(data);
  }
}
