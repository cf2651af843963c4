// Pure reader for server-sent events as OpenAI-compatible servers stream them: text goes in as it arrives, in pieces
// cut anywhere; out come the `data` payloads of the events completed so far (several data lines joined with "\n", as
// the SSE spec says). Other fields (event, id, retry) and comments carry nothing the gateway needs.

export class SseReader {
  private pending = "";
  private data: string[] = [];

  /** Feeds decoded text; returns the data of every event this completed. */
  push(text: string): string[] {
    this.pending += text;
    const events: string[] = [];
    let start = 0;
    for (let end = this.pending.indexOf("\n"); end !== -1; end = this.pending.indexOf("\n", start)) {
      const line = this.pending.slice(start, this.pending[end - 1] === "\r" ? end - 1 : end);
      start = end + 1;
      if (line === "") {
        if (this.data.length > 0) events.push(this.data.join("\n"));
        this.data = [];
      } else if (line.startsWith("data:")) {
        this.data.push(line.slice(line[5] === " " ? 6 : 5));
      }
    }
    this.pending = this.pending.slice(start);
    return events;
  }
}
