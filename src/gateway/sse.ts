// Pure reader for server-sent events (the WHATWG event-stream format) as OpenAI-compatible servers stream them: text
// goes in as it arrives, in pieces cut anywhere; out come the `data` payloads of the events completed so far (several
// data lines joined with "\n"). Lines end with "\r\n", "\n" or "\r"; a leading byte-order mark is skipped. Other
// fields (event, id, retry) and comments carry nothing the gateway needs.

export class SseReader {
  private pending = "";
  private data: string[] = [];
  private started = false;
  private afterCr = false;

  /** Feeds decoded text; returns the data of every event this completed. */
  push(text: string): string[] {
    if (text.length === 0) return [];
    if (!this.started) {
      this.started = true;
      if (text.startsWith("\uFEFF")) text = text.slice(1);
    }
    // The "\r" that ended the last piece was the first half of a "\r\n".
    if (this.afterCr && text.startsWith("\n")) text = text.slice(1);
    this.afterCr = false;
    this.pending += text;
    const events: string[] = [];
    let start = 0;
    for (;;) {
      const cr = this.pending.indexOf("\r", start);
      const lf = this.pending.indexOf("\n", start);
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf);
      if (end === -1) break;
      this.line(this.pending.slice(start, end), events);
      start = end + 1;
      if (end === cr) {
        if (start === this.pending.length) this.afterCr = true;
        else if (this.pending[start] === "\n") start++;
      }
    }
    this.pending = this.pending.slice(start);
    return events;
  }

  private line(line: string, events: string[]): void {
    if (line === "") {
      if (this.data.length > 0) events.push(this.data.join("\n"));
      this.data = [];
      return;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    if (field !== "data") return;
    const value = colon === -1 ? "" : line.slice(colon + 1);
    this.data.push(value.startsWith(" ") ? value.slice(1) : value);
  }
}
