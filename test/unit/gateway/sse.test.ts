// The event-stream reader takes text cut anywhere, in any line-ending style, and yields the same events.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SseReader } from "../../../src/gateway/sse.ts";

function readAll(pieces: string[]): string[] {
  const reader = new SseReader();
  return pieces.flatMap((piece) => reader.push(piece));
}

/** Cuts text at the given offsets. */
function cut(text: string, offsets: number[]): string[] {
  const points = [...new Set(offsets.map((o) => o % (text.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let start = 0;
  for (const point of points) {
    pieces.push(text.slice(start, point));
    start = point;
  }
  pieces.push(text.slice(start));
  return pieces;
}

describe("SseReader", () => {
  it("yields the data of each complete event, joining multi-line data and skipping other fields", () => {
    const text =
      ': keep-alive\n\ndata: {"a":1}\n\nevent: x\nid: 7\ndata:{"b":2}\ndata: more\n\ndata\n\ndata: [DONE]\n\ndata: unfinished';
    expect(readAll([text])).toEqual(['{"a":1}', '{"b":2}\nmore', "", "[DONE]"]);
  });

  it("skips a leading byte-order mark", () => {
    expect(readAll(["\uFEFF", "data: x\n\n"])).toEqual(["x"]);
  });

  it("gives the same events however the text is cut and whatever the line endings", () => {
    const payload = fc.stringMatching(/^[^\r\n]*$/);
    fc.assert(
      fc.property(
        fc.array(payload, { minLength: 1, maxLength: 8 }),
        fc.constantFrom("\n", "\r\n", "\r"),
        fc.array(fc.nat(), { maxLength: 12 }),
        (datas, eol, offsets) => {
          const text = datas.map((d) => `data: ${d}${eol}${eol}`).join("");
          expect(readAll(cut(text, offsets))).toEqual(datas);
        },
      ),
    );
  });
});
